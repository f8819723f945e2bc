"""The sandbox lifecycle in the database: start (claim from the warm pool or request a new
one), extend, touch, ask for a reset or a removal. The warm pool's refill is in pool.py, the
periodic housekeeping in sweep.py. Cluster work is enqueued after commit for the workers
(jobs.py), with two small exceptions that a request waits for: labelling a claimed namespace
with its owner, and its expiry annotation."""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from sandbox import jobs, k8s, manifests, status
from sandbox.models import ENDED_STATES, LIVE_STATES, OWNED_STATES, Sandbox, State, transition

log = logging.getLogger(__name__)


def node_port_range() -> range:
    low, _, high = settings.SANDBOX_NODEPORT_RANGE.partition("-")
    return range(int(low), int(high) + 1)


def new_namespace_name() -> str:
    return manifests.validate_name(f"{settings.SANDBOX_NAMESPACE_PREFIX}{secrets.token_hex(4)}")


def create_sandbox(
    owner: User | None, *, size: str | None = None, extra_namespaces: list[str] | None = None, enqueue: bool = True
) -> Sandbox:
    """A new row in `requested`, with a free NodePort, provisioned by a worker after commit
    (or by the caller, with enqueue=False)."""
    size = size or settings.SANDBOX_DEFAULT_SIZE
    if size not in manifests.PRESETS:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(manifests.PRESETS)}")
    for suffix in extra_namespaces or []:
        manifests.validate_name(f"x-{suffix}")
    now = timezone.now()
    ports = node_port_range()
    for _ in range(20):
        used = set(Sandbox.objects.filter(node_port__isnull=False).values_list("node_port", flat=True))
        free = [port for port in ports if port not in used]
        if not free:
            raise RuntimeError("no free NodePort left in SANDBOX_NODEPORT_RANGE")
        try:
            with transaction.atomic():
                sandbox = Sandbox.objects.create(
                    owner=owner,
                    namespace=new_namespace_name(),
                    size=size,
                    extra_namespaces=list(extra_namespaces or []),
                    # Random, not lowest: a port just released may still be held by a Service in a
                    # namespace that is terminating.
                    node_port=random.choice(free),  # noqa: S311  (not a secret)
                    claimed_at=now if owner else None,
                    last_activity_at=now if owner else None,
                    expires_at=now + timedelta(hours=settings.SANDBOX_LIFETIME_HOURS) if owner else None,
                )
        except IntegrityError:
            # Another request took the same port (or the owner already has a sandbox).
            existing = live_sandbox(owner) if owner else None
            if existing:
                return existing
            continue
        if enqueue:
            jobs.after_commit(jobs.PROVISION, sandbox.pk)
        return sandbox
    raise RuntimeError("could not reserve a NodePort after 20 tries")


def live_sandbox(owner: User) -> Sandbox | None:
    return Sandbox.objects.filter(owner=owner, state__in=OWNED_STATES).first()


def start(owner: User, *, enqueue: bool = True) -> Sandbox:
    """The student's live sandbox: the existing one, a ready one from the warm pool, or a new one."""
    existing = live_sandbox(owner)
    if existing and existing.state == State.FAILED:
        # "Start" again after a failure: provision the same row once more (it resumes).
        if transition(existing.pk, (State.FAILED,), State.REQUESTED, last_error="") and enqueue:
            jobs.after_commit(jobs.PROVISION, existing.pk)
        existing.refresh_from_db()
        return existing
    if existing:
        return existing
    claimed = claim_from_pool(owner)
    if claimed:
        if enqueue:
            jobs.after_commit(jobs.REFILL_POOL)
        return claimed
    return create_sandbox(owner, enqueue=enqueue)


def claim_from_pool(owner: User) -> Sandbox | None:
    """Give the student a ready, unowned sandbox. The conditional UPDATE on owner IS NULL makes
    two concurrent claims of one row impossible; the loser tries the next row."""
    now = timezone.now()
    expires = now + timedelta(hours=settings.SANDBOX_LIFETIME_HOURS)
    candidates = (
        Sandbox.objects.filter(owner__isnull=True, state=State.READY, size=settings.SANDBOX_DEFAULT_SIZE)
        .order_by("ready_at")
        .values_list("pk", flat=True)[:5]
    )
    for pk in candidates:
        try:
            with transaction.atomic():
                won = Sandbox.objects.filter(pk=pk, owner__isnull=True, state=State.READY).update(
                    owner=owner, claimed_at=now, last_activity_at=now, expires_at=expires
                )
        except IntegrityError:
            return live_sandbox(owner)  # a concurrent request of the same student won
        if won:
            sandbox = Sandbox.objects.get(pk=pk)
            # Mark the namespace as the student's; the sweep uses the row, so this is informational,
            # and done after the commit: a start runs under the admission lock (admission.py),
            # which a call to the cluster would hold for every other student starting meanwhile.
            transaction.on_commit(partial(_mark_owner, sandbox.namespace, owner.pk, expires))
            return sandbox
    return None


def _mark_owner(namespace: str, owner_id: int, expires: datetime) -> None:
    try:
        k8s.patch_namespace(
            namespace,
            labels={manifests.LABEL_OWNER: str(owner_id)},
            annotations={manifests.ANNOTATION_EXPIRES: expires.isoformat()},
        )
    except Exception:  # the row says whose it is; the label only helps a person reading the cluster
        log.warning("could not label namespace %s with its owner", namespace, exc_info=True)


def extend(sandbox: Sandbox, hours: int) -> None:
    base = max(sandbox.expires_at or timezone.now(), timezone.now())
    expires = base + timedelta(hours=hours)
    if Sandbox.objects.filter(pk=sandbox.pk, state__in=LIVE_STATES).update(expires_at=expires):
        # Informational on the cluster (the sweep goes by the row); a failure here changes nothing.
        with contextlib.suppress(Exception):
            k8s.patch_namespace(
                sandbox.namespace, labels={}, annotations={manifests.ANNOTATION_EXPIRES: expires.isoformat()}
            )


def touch(sandbox: Sandbox) -> None:
    Sandbox.objects.filter(pk=sandbox.pk).update(last_activity_at=timezone.now())


def request_reset(sandbox: Sandbox) -> bool:
    """Empty a ready sandbox (by a worker). The state changes here, so a burst of requests
    enqueues one reset, not one per click; False when it was not ready."""
    if not status.changed(sandbox.pk, transition(sandbox.pk, (State.READY,), State.RESETTING)):
        return False
    jobs.after_commit(jobs.RESET, sandbox.pk)
    return True


def retire(sandbox: Sandbox, final_state: str = State.DELETED) -> bool:
    """Hand the sandbox to a worker to remove, at once no longer the owner's current one (its
    namespaces go in the background; the owner may start the next). It ends as `final_state`
    (deleted, or expired when an admin ends it early). False if it had ended or is going."""
    if final_state not in ENDED_STATES:
        raise ValueError(f"a sandbox ends as one of {', '.join(ENDED_STATES)}, not {final_state!r}")
    live = tuple(state for state in LIVE_STATES if state != State.DELETING)
    if not status.changed(sandbox.pk, transition(sandbox.pk, live, State.DELETING)):
        return False
    jobs.after_commit(jobs.DESTROY, sandbox.pk, final_state)
    return True


def request_destroy(sandbox: Sandbox, final_state: str = State.DELETED) -> None:
    jobs.after_commit(jobs.DESTROY, sandbox.pk, final_state)
