"""One-time setup of a cluster for the platform, run with a cluster admin's kubeconfig:
the objects every sandbox shares and the operator identity the platform runs as afterwards.
Idempotent: running it again changes nothing (and rewrites the operator kubeconfig)."""

from __future__ import annotations

import time
from pathlib import Path

import yaml
from django.conf import settings

from sandbox import k8s, manifests, provisioning


def install(timeout: float = 30.0) -> Path:
    """Create the shared objects, the operator and the checker; write their kubeconfigs to
    settings.CLUSTER_KUBECONFIG and CLUSTER_CHECKER_KUBECONFIG. Returns the operator's path."""
    with k8s.as_admin():
        for manifest in [*provisioning.shared_objects(), *manifests.operator_objects(), *manifests.checker_objects()]:
            k8s.apply(manifest)
        conn = k8s.connection()
        for secret, path in (
            (manifests.OPERATOR_TOKEN, settings.CLUSTER_KUBECONFIG),
            (manifests.CHECKER_TOKEN, settings.CLUSTER_CHECKER_KUBECONFIG),
        ):
            token = _wait_for_token(secret, timeout)
            config = manifests.kubeconfig(
                server=conn["server"],
                ca_data=conn["ca_data"],
                insecure=conn["insecure"],
                token=token,
                namespace=manifests.OPERATOR_NAMESPACE,
            )
            _write(path, yaml.safe_dump(config, sort_keys=False))
    k8s.reset_clients()
    return Path(settings.CLUSTER_KUBECONFIG)


def _wait_for_token(secret: str, timeout: float) -> str:
    # The token controller fills a service-account-token Secret in asynchronously.
    deadline = time.monotonic() + timeout
    while not (token := k8s.read_secret(secret, manifests.OPERATOR_NAMESPACE)["data"].get("token")):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the token in {secret} was not issued; is kube-controller-manager running?")
        time.sleep(0.1)
    return str(token.decode())


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)
