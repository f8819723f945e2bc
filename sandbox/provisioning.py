"""Provision, reset and destroy a sandbox's objects on the cluster.

Plain functions over a sandbox id, called by thin Celery tasks (sandbox/tasks.py) and directly
by tests and `manage.py sandbox`. Each one is idempotent: every object creation treats
"already exists" as done and every deletion treats "not found" as done, and state changes are
conditional UPDATEs, so a retried, resumed or duplicated call converges instead of failing.
"""

from __future__ import annotations

import logging
import time

from django.conf import settings
from django.db.models import F
from django.utils import timezone

from sandbox import k8s, manifests, status
from sandbox.manifests import Manifest
from sandbox.models import LIVE_STATES, Sandbox, State, transition

log = logging.getLogger(__name__)


def shared_objects() -> list[Manifest]:
    """Cluster-wide objects that every sandbox refers to, installed once with admin rights by
    `manage.py sandbox install` (the operator may bind these roles but not create them)."""
    return [
        manifests.student_role(),
        manifests.cluster_read_role(),
        manifests.system_read_role(),
        *manifests.guardrail_policy(),
        *manifests.anchor_policy(),
        *manifests.operator_scope_policy(),
    ]


def sandbox_objects(sandbox: Sandbox) -> list[Manifest]:
    """Everything one sandbox consists of, in the order it must be created: namespaces first,
    the token anchor last among namespaced objects so that a sandbox with an anchor is whole."""
    preset = manifests.PRESETS[sandbox.size]
    primary = sandbox.namespace
    names = sandbox.all_namespaces()
    expires = sandbox.expires_at.isoformat() if sandbox.expires_at else ""
    objects: list[Manifest] = []
    for name in names:
        objects.append(
            manifests.namespace(
                name,
                sandbox_id=sandbox.pk,
                owner_id=sandbox.owner_id,
                expires_at=expires,
                node_port=sandbox.node_port if name == primary else None,
            )
        )
    objects += manifests.service_accounts(primary, sandbox.pk)
    for name in names:
        objects += [
            manifests.student_role_binding(name, primary, sandbox.pk),
            manifests.prober_exec_binding(name, sandbox.pk),
            manifests.resource_quota(name, sandbox.pk, preset),
            manifests.limit_range(name, sandbox.pk, preset),
            manifests.network_policy(name, sandbox.pk, names),
        ]
    objects += [
        manifests.cluster_read_binding(primary, sandbox.pk),
        manifests.system_read_binding(primary, sandbox.pk),
        manifests.token_anchor(primary, sandbox.pk),
    ]
    return objects


def provision(sandbox_id: int) -> bool:
    """Create whatever of the sandbox is missing and mark it ready. False if there was nothing
    to do (already ready, or ended meanwhile)."""
    if not status.changed(
        sandbox_id,
        transition(
            sandbox_id,
            (State.REQUESTED, State.PROVISIONING, State.FAILED),
            State.PROVISIONING,
            attempts=F("attempts") + 1,
        ),
    ):
        return False
    sandbox = Sandbox.objects.get(pk=sandbox_id)
    objects = sandbox_objects(sandbox)
    for step, manifest in enumerate(objects, start=1):
        # Progress is for the student's page; a row update per object is cheap next to the API call.
        status.changed(
            sandbox_id, bool(Sandbox.objects.filter(pk=sandbox_id).update(progress=f"{step}/{len(objects)}"))
        )
        k8s.create(manifest)
    wait_until_effective(sandbox.namespace)
    done = status.changed(
        sandbox_id,
        transition(sandbox_id, (State.PROVISIONING,), State.READY, ready_at=timezone.now(), progress="", last_error=""),
    )
    log.info("sandbox %s provisioned (%s objects)", sandbox.namespace, len(objects))
    return done


def wait_until_effective(namespace: str, timeout: float = 10.0) -> None:
    """The authorizer learns of a new RoleBinding through a cache, a few milliseconds late.
    Wait for it, so the student's very first command after "ready" is not refused."""
    user = f"system:serviceaccount:{namespace}:{manifests.STUDENT_SA}"
    deadline = time.monotonic() + timeout
    while not k8s.allowed(user, "list", "pods", namespace):
        if time.monotonic() > deadline:
            raise TimeoutError(f"the student's Role in {namespace} did not take effect within {timeout:.0f}s")
        time.sleep(0.02)


def record_failure(sandbox_id: int, message: str, *, final: bool) -> None:
    """Show the student what went wrong. While retries remain, the sandbox stays in
    provisioning with the reason; after the last one it is failed (and swept later)."""
    if final:
        moved = transition(sandbox_id, (State.REQUESTED, State.PROVISIONING), State.FAILED, last_error=message)
    else:
        moved = bool(Sandbox.objects.filter(pk=sandbox_id, state__in=LIVE_STATES).update(last_error=message))
    status.changed(sandbox_id, moved)


def reset(sandbox_id: int) -> bool:
    """Back to an empty namespace: the student's objects go, the sandbox's own stay."""
    if not status.changed(sandbox_id, transition(sandbox_id, (State.READY, State.RESETTING), State.RESETTING)):
        return False
    sandbox = Sandbox.objects.get(pk=sandbox_id)
    for name in sandbox.all_namespaces():
        k8s.delete_all_in_namespace(name, keep_secret=manifests.TOKEN_ANCHOR)
    return status.changed(
        sandbox_id, transition(sandbox_id, (State.RESETTING,), State.READY, last_activity_at=timezone.now())
    )


def destroy(sandbox_id: int, final_state: str = State.DELETED) -> bool:
    """Delete the sandbox's namespaces and cluster-scoped bindings, release its NodePort.
    Deleting the namespace deletes the token anchor, which revokes every student token.
    With final_state=EXPIRED the sandbox must still be expired when the worker gets to it, so
    a student who came back in the meantime keeps it."""
    if final_state == State.EXPIRED:
        started = (
            Sandbox.objects.expired()
            .filter(pk=sandbox_id, state__in=(State.READY, State.RESETTING))
            .update(state=State.DELETING, updated_at=timezone.now())
        )
        if not started and not Sandbox.objects.filter(pk=sandbox_id, state=State.DELETING).exists():
            return False
    elif not transition(sandbox_id, LIVE_STATES, State.DELETING):
        return False
    status.changed(sandbox_id)
    sandbox = Sandbox.objects.get(pk=sandbox_id)
    # Revoke first: the namespace controller removes a namespace's contents asynchronously,
    # and the student's tokens stay valid until their anchor Secret is gone.
    k8s.delete("Secret", manifests.TOKEN_ANCHOR, sandbox.namespace)
    for name in sandbox.all_namespaces():
        k8s.delete("RoleBinding", manifests.STUDENT_ROLE, name)
    remove_cluster_objects(sandbox.pk, sandbox.all_namespaces())
    return status.changed(
        sandbox_id,
        transition(sandbox_id, (State.DELETING,), final_state, ended_at=timezone.now(), node_port=None, progress=""),
    )


def remove_cluster_objects(sandbox_id: int, namespaces: list[str]) -> None:
    prefix = settings.SANDBOX_NAMESPACE_PREFIX
    selector = f"{manifests.LABEL_SANDBOX}={sandbox_id}"
    for binding in k8s.list_objects("ClusterRoleBinding", label_selector=selector):
        if binding["name"].startswith(prefix):
            k8s.delete("ClusterRoleBinding", binding["name"])
    for binding in k8s.list_objects("RoleBinding", label_selector=selector, namespace="kube-system"):
        if binding["name"].startswith(prefix):
            k8s.delete("RoleBinding", binding["name"], "kube-system")
    # The labelled list also finds extra namespaces of a row that no longer knows them.
    found = {
        item["name"]
        for item in k8s.list_objects("Namespace", label_selector=selector)
        if item["name"].startswith(prefix)
    }
    for name in sorted(found | set(namespaces)):
        k8s.delete("Namespace", name)


def sweep_orphans() -> list[str]:
    """Remove sandbox namespaces and bindings on the cluster whose row is gone or ended.
    Returns the namespaces removed."""
    selector = f"{manifests.LABEL_MANAGED}=true,{manifests.LABEL_SANDBOX}"
    found = {kind: k8s.list_objects(kind, label_selector=selector) for kind in ("Namespace", "ClusterRoleBinding")}
    # Read the rows only after listing: a sandbox's row is written before its objects, so any
    # object listed above whose sandbox is live has its row in this set.
    live = {str(pk) for pk in Sandbox.objects.filter(state__in=LIVE_STATES).values_list("pk", flat=True)}
    orphans: set[str] = set()
    removed: list[str] = []
    # Only this installation's objects: another platform (or the test suite) may share the
    # cluster under another SANDBOX_NAMESPACE_PREFIX.
    prefix = settings.SANDBOX_NAMESPACE_PREFIX
    for kind, items in found.items():
        for item in items:
            if not item["name"].startswith(prefix):
                continue
            sandbox_id = item["labels"][manifests.LABEL_SANDBOX]
            if sandbox_id not in live:
                orphans.add(sandbox_id)
                if kind == "Namespace":
                    removed.append(item["name"])
    for sandbox_id in orphans:
        if sandbox_id.isdigit():
            remove_cluster_objects(int(sandbox_id), [])
    return sorted(removed)
