"""Security tests: the cluster fixtures (they run against the real local API server too)."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import _fresh_client, admin_kubeconfig, kubectl, make_sandbox, namespace

__all__ = ["_fresh_client", "admin_kubeconfig", "kubectl", "make_sandbox", "namespace"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/security/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)
