"""Students' credentials: short-lived ServiceAccount tokens from the TokenRequest API, bound
to the sandbox's token anchor Secret, rendered into a kubeconfig whose default namespace is
the sandbox. Deleting the sandbox deletes the anchor, and with it every token. Tokens are
never logged; callers must not show them to anyone but the sandbox's owner."""

from __future__ import annotations

import yaml
from django.conf import settings

from sandbox import k8s, manifests
from sandbox.models import Sandbox, State


class NotReady(Exception):
    pass


def student_kubeconfig(sandbox: Sandbox) -> str:
    if sandbox.state not in (State.READY, State.RESETTING):
        raise NotReady(f"sandbox {sandbox.namespace} is {sandbox.state}, not ready")
    anchor_uid = k8s.read_secret(manifests.TOKEN_ANCHOR, sandbox.namespace)["uid"]
    token = k8s.request_token(
        manifests.STUDENT_SA,
        sandbox.namespace,
        manifests.token_request(anchor_uid, seconds=settings.SANDBOX_TOKEN_MINUTES * 60),
    )
    return render_kubeconfig(token, sandbox.namespace)


def render_kubeconfig(token: str, namespace: str) -> str:
    """A kubeconfig for `token` on the cluster the platform talks to (its server and CA)."""
    conn = k8s.connection()
    config = manifests.kubeconfig(
        server=conn["server"], ca_data=conn["ca_data"], insecure=conn["insecure"], token=token, namespace=namespace
    )
    return str(yaml.safe_dump(config, sort_keys=False))
