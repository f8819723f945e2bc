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
    """Create the shared objects and the operator; write the operator's kubeconfig to
    settings.CLUSTER_KUBECONFIG and return its path."""
    with k8s.as_admin():
        for manifest in [*provisioning.shared_objects(), *manifests.operator_objects()]:
            k8s.apply(manifest)
        # The token controller fills the Secret in asynchronously.
        deadline = time.monotonic() + timeout
        while not (
            token := k8s.read_secret(manifests.OPERATOR_TOKEN, manifests.OPERATOR_NAMESPACE)["data"].get("token")
        ):
            if time.monotonic() > deadline:
                raise TimeoutError("the operator's token was not issued; is kube-controller-manager running?")
            time.sleep(0.1)
        conn = k8s.connection()
    config = manifests.kubeconfig(
        server=conn["server"],
        ca_data=conn["ca_data"],
        insecure=conn["insecure"],
        token=token.decode(),
        namespace=manifests.OPERATOR_NAMESPACE,
    )
    path: Path = settings.CLUSTER_KUBECONFIG
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(yaml.safe_dump(config, sort_keys=False))
    tmp.chmod(0o600)
    tmp.replace(path)
    k8s.reset_clients()
    return path
