"""Security tests reuse the cluster fixtures (many run against the real local API server; a
missing cluster fails them, as in tests/cluster/)."""

from __future__ import annotations

from tests.cluster.conftest import _fresh_client, admin_kubeconfig, eager_celery, kubectl, make_sandbox, namespace

__all__ = ["_fresh_client", "admin_kubeconfig", "eager_celery", "kubectl", "make_sandbox", "namespace"]
