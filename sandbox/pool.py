"""The warm pool: ready sandboxes with no owner yet, which a student's Start claims at once
(lifecycle.claim_from_pool). Kept at SANDBOX_POOL_SIZE by the refill below, which a claim and
the sweep enqueue."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from sandbox import jobs, lifecycle
from sandbox.models import Sandbox, State


def refill_pool() -> int:
    """Keep exactly SANDBOX_POOL_SIZE unowned sandboxes (ready or on their way): add the missing
    ones, and remove extras (two refills racing, or a smaller pool size) so none linger."""
    waiting = Sandbox.objects.filter(owner__isnull=True, state__in=(State.REQUESTED, State.PROVISIONING, State.READY))
    missing = settings.SANDBOX_POOL_SIZE - waiting.count()
    for _ in range(max(0, missing)):
        lifecycle.create_sandbox(None)
    if missing < 0:
        for pk in waiting.filter(state=State.READY).order_by("-created_at").values_list("pk", flat=True)[:-missing]:
            # Only while nobody has claimed it: a student may take this very sandbox between the
            # count above and here, and destroy() would then delete the student's namespace
            # (make bench-class caught a class losing half its sandboxes this way). A claim needs
            # READY, so once marked DELETING it can no longer be claimed either.
            if Sandbox.objects.filter(pk=pk, owner__isnull=True, state=State.READY).update(
                state=State.DELETING, updated_at=timezone.now()
            ):
                jobs.after_commit(jobs.DESTROY, pk, State.DELETED)
    return max(0, missing)
