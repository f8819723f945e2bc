"""Security tests reuse the cluster fixtures; those that need the cluster carry the `cluster`
marker themselves (a missing cluster fails them, as in tests/cluster/)."""

from __future__ import annotations

from tests.cluster.conftest import _fresh_client, admin_kubeconfig, eager_celery, kubectl, make_sandbox

__all__ = ["_fresh_client", "admin_kubeconfig", "eager_celery", "kubectl", "make_sandbox"]
