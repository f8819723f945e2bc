"""The cluster fixtures, for the security tests that exercise the real provisioning path."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import _fresh_client, admin_kubeconfig, eager_celery, kubectl, make_sandbox

__all__ = ["_fresh_client", "admin_kubeconfig", "eager_celery", "kubectl", "make_sandbox"]

CLUSTER_FIXTURES = {"admin_kubeconfig", "eager_celery", "kubectl", "make_sandbox"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A test here that uses the real cluster is marked like those in tests/cluster/.
    for item in items:
        if "tests/security/" in str(item.fspath) and CLUSTER_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.cluster)
