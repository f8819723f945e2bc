"""The one module that imports the kubernetes client. Everything else asks it for API objects.

The platform reaches the cluster only through the kubeconfig in settings.CLUSTER_KUBECONFIG,
so the same code serves the local control plane, kind and a remote cluster.
"""

from __future__ import annotations

import threading
from typing import Any

from django.conf import settings
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

__all__ = ["ApiException", "api_client", "apps", "core", "discovery", "discovery_version", "rbac", "reset_clients"]

_lock = threading.Lock()
_client: client.ApiClient | None = None


def api_client() -> client.ApiClient:
    """A process-wide client (it pools connections); built on first use, not at import."""
    global _client
    with _lock:
        if _client is None:
            path = settings.CLUSTER_KUBECONFIG
            if not path.is_file():
                raise FileNotFoundError(f"no kubeconfig at {path}: run `make cluster` or set CLUSTER_KUBECONFIG")
            _client = config.new_client_from_config(config_file=str(path))
        return _client


def reset_clients() -> None:
    """Forget the cached client, e.g. after the kubeconfig was rewritten."""
    global _client
    with _lock:
        if _client is not None:
            _client.close()
        _client = None


def core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def apps() -> client.AppsV1Api:
    return client.AppsV1Api(api_client())


def rbac() -> client.RbacAuthorizationV1Api:
    return client.RbacAuthorizationV1Api(api_client())


def discovery() -> client.DiscoveryV1Api:
    return client.DiscoveryV1Api(api_client())


def discovery_version() -> dict[str, Any]:
    """The server's /version, as a dict."""
    info = client.VersionApi(api_client()).get_code(_request_timeout=settings.CLUSTER_REQUEST_TIMEOUT)
    return {"gitVersion": info.git_version, "major": info.major, "minor": info.minor}
