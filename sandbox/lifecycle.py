"""The sandbox lifecycle in the database: start (claim from the warm pool or request a new
one), extend, touch, and the periodic sweep that expires, retries, refills and cleans up.
Cluster work is enqueued after commit for the workers, with two small exceptions that a
request waits for: labelling a claimed namespace with its owner, and its expiry annotation."""

from __future__ import annotations

import contextlib
import logging
import random
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from sandbox import k8s, manifests, provisioning, tasks
from sandbox.models import LIVE_STATES, Sandbox, State, transition

log = logging.getLogger(__name__)

# A provisioning row untouched for this long lost its worker; the sweep enqueues it again.
STUCK_AFTER = timedelta(minutes=2)
# Failed sandboxes are kept this long so the student can read why, then removed.
FAILED_KEPT_FOR = timedelta(minutes=15)


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
            transaction.on_commit(partial(tasks.provision.delay, sandbox.pk))
        return sandbox
    raise RuntimeError("could not reserve a NodePort after 20 tries")


def live_sandbox(owner: User) -> Sandbox | None:
    return Sandbox.objects.filter(owner=owner, state__in=LIVE_STATES).first()


def start(owner: User, *, enqueue: bool = True) -> Sandbox:
    """The student's live sandbox: the existing one, a ready one from the warm pool, or a new one."""
    existing = live_sandbox(owner)
    if existing and existing.state == State.FAILED:
        # "Start" again after a failure: provision the same row once more (it resumes).
        if transition(existing.pk, (State.FAILED,), State.REQUESTED, last_error="") and enqueue:
            transaction.on_commit(partial(tasks.provision.delay, existing.pk))
        existing.refresh_from_db()
        return existing
    if existing:
        return existing
    claimed = claim_from_pool(owner)
    if claimed:
        if enqueue:
            transaction.on_commit(tasks.refill_pool.delay)
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
            # Mark the namespace as the student's; the sweep uses the row, so this is informational.
            k8s.patch_namespace(
                sandbox.namespace,
                labels={manifests.LABEL_OWNER: str(owner.pk)},
                annotations={manifests.ANNOTATION_EXPIRES: expires.isoformat()},
            )
            return sandbox
    return None


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
    if not transition(sandbox.pk, (State.READY,), State.RESETTING):
        return False
    transaction.on_commit(lambda: tasks.reset.delay(sandbox.pk))
    return True


def request_destroy(sandbox: Sandbox, final_state: str = State.DELETED) -> None:
    transaction.on_commit(lambda: tasks.destroy.delay(sandbox.pk, final_state))


@dataclass
class SweepReport:
    expired: list[str] = field(default_factory=list)
    retried: list[str] = field(default_factory=list)
    removed_failed: list[str] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    pool_added: int = 0
    admitted: list[str] = field(default_factory=list)


def sweep() -> SweepReport:
    """One pass of the periodic housekeeping (Celery beat runs it every SANDBOX_SWEEP_SECONDS)."""
    now = timezone.now()
    report = SweepReport()
    owned = Sandbox.objects.filter(owner__isnull=False, state__in=(State.READY, State.RESETTING))
    for sandbox in owned.filter(expired_q(now)):
        report.expired.append(sandbox.namespace)
        tasks.destroy.delay(sandbox.pk, State.EXPIRED)
    # Work whose worker died or whose retries ran out while the API server was away: again.
    stale = Sandbox.objects.filter(updated_at__lte=now - STUCK_AFTER)
    for sandbox in stale.filter(state__in=(State.REQUESTED, State.PROVISIONING)):
        report.retried.append(sandbox.namespace)
        tasks.provision.delay(sandbox.pk)
    for sandbox in stale.filter(state=State.RESETTING):
        report.retried.append(sandbox.namespace)
        tasks.reset.delay(sandbox.pk)
    for sandbox in stale.filter(state=State.DELETING):
        report.retried.append(sandbox.namespace)
        tasks.destroy.delay(sandbox.pk, State.DELETED)
    for sandbox in Sandbox.objects.filter(state=State.FAILED, updated_at__lte=now - FAILED_KEPT_FOR):
        report.removed_failed.append(sandbox.namespace)
        tasks.destroy.delay(sandbox.pk, State.DELETED)
    report.orphans = provisioning.sweep_orphans()
    report.pool_added = refill_pool()
    # Students waiting for room: a sandbox may have ended since the last chance (a destroy
    # lets them in as soon as it finishes; this catches whatever that missed).
    from sandbox import admission  # admission builds on this module

    report.admitted = admission.admit_waiting()
    return report


def expired_q(now: datetime) -> Q:
    """Past the hard expiry, or idle for longer than SANDBOX_IDLE_MINUTES."""
    idle_cutoff = now - timedelta(minutes=settings.SANDBOX_IDLE_MINUTES)
    return Q(expires_at__lte=now) | Q(last_activity_at__lte=idle_cutoff)


def refill_pool() -> int:
    """Keep exactly SANDBOX_POOL_SIZE unowned sandboxes (ready or on their way): add the missing
    ones, and remove extras (two refills racing, or a smaller pool size) so none linger."""
    waiting = Sandbox.objects.filter(owner__isnull=True, state__in=(State.REQUESTED, State.PROVISIONING, State.READY))
    missing = settings.SANDBOX_POOL_SIZE - waiting.count()
    for _ in range(max(0, missing)):
        create_sandbox(None)
    if missing < 0:
        for pk in waiting.filter(state=State.READY).order_by("-created_at").values_list("pk", flat=True)[:-missing]:
            # Only while nobody has claimed it: a student may take this very sandbox between the
            # count above and here, and destroy() would then delete the student's namespace
            # (make bench-class caught a class losing half its sandboxes this way). A claim needs
            # READY, so once marked DELETING it can no longer be claimed either.
            if Sandbox.objects.filter(pk=pk, owner__isnull=True, state=State.READY).update(
                state=State.DELETING, updated_at=timezone.now()
            ):
                tasks.destroy.delay(pk, State.DELETED)
    return max(0, missing)
