"""The periodic housekeeping (Celery beat runs it every SANDBOX_SWEEP_SECONDS, `manage.py
sandbox sweep` once): expire sandboxes, enqueue again what lost its worker, remove failed ones
after a while and orphaned namespaces, refill the warm pool, admit students who wait."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.utils import timezone

from sandbox import admission, jobs, pool, provisioning
from sandbox.models import Sandbox, State

# A provisioning row untouched for this long lost its worker; the sweep enqueues it again.
STUCK_AFTER = timedelta(minutes=2)
# Failed sandboxes are kept this long so the student can read why, then removed.
FAILED_KEPT_FOR = timedelta(minutes=15)


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
    for sandbox in owned.expired(now):
        report.expired.append(sandbox.namespace)
        jobs.after_commit(jobs.DESTROY, sandbox.pk, State.EXPIRED)
    # Work whose worker died or whose retries ran out while the API server was away: again.
    stale = Sandbox.objects.filter(updated_at__lte=now - STUCK_AFTER)
    for sandbox in stale.filter(state__in=(State.REQUESTED, State.PROVISIONING)):
        report.retried.append(sandbox.namespace)
        jobs.after_commit(jobs.PROVISION, sandbox.pk)
    for sandbox in stale.filter(state=State.RESETTING):
        report.retried.append(sandbox.namespace)
        jobs.after_commit(jobs.RESET, sandbox.pk)
    for sandbox in stale.filter(state=State.DELETING):
        report.retried.append(sandbox.namespace)
        jobs.after_commit(jobs.DESTROY, sandbox.pk, State.DELETED)
    for sandbox in Sandbox.objects.filter(state=State.FAILED, updated_at__lte=now - FAILED_KEPT_FOR):
        report.removed_failed.append(sandbox.namespace)
        jobs.after_commit(jobs.DESTROY, sandbox.pk, State.DELETED)
    report.orphans = provisioning.sweep_orphans()
    report.pool_added = pool.refill_pool()
    # Students waiting for room: a sandbox may have ended since the last chance (a destroy
    # lets them in as soon as it finishes; this catches whatever that missed).
    report.admitted = admission.admit_waiting()
    return report
