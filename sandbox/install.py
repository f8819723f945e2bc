"""One-time setup of a cluster for the platform, run with a cluster admin's kubeconfig: the
objects every sandbox shares, the operator identity the platform provisions with, and the
read-only checker identity the live view reads with, and the prober lesson checks fetch pages
with. Idempotent: running it again brings the shared objects up to date and rewrites the
kubeconfigs."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings

from sandbox import k8s, manifests, provisioning
from sandbox.cluster.tools import write_private
from sandbox.credentials import render_kubeconfig


def install(timeout: float = 90.0) -> Path:
    """Create the shared objects, the operator, the checker and the prober; write their
    kubeconfigs to settings.CLUSTER_KUBECONFIG, CLUSTER_CHECKER_KUBECONFIG and
    CLUSTER_PROBER_KUBECONFIG. Returns the operator's path."""
    with k8s.as_admin():
        for manifest in [
            *provisioning.shared_objects(),
            *manifests.operator_objects(),
            *manifests.checker_objects(),
            *manifests.prober_objects(),
        ]:
            k8s.apply(manifest)
        for secret, path in (
            (manifests.OPERATOR_TOKEN, settings.CLUSTER_KUBECONFIG),
            (manifests.CHECKER_TOKEN, settings.CLUSTER_CHECKER_KUBECONFIG),
            (manifests.PROBER_TOKEN, settings.CLUSTER_PROBER_KUBECONFIG),
        ):
            write_private(path, render_kubeconfig(_wait_for_token(secret, timeout), manifests.OPERATOR_NAMESPACE))
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
