"""Who may start a sandbox now: the per-student start limit and the platform's capacity, with a
line to wait in when the class is full.

- SANDBOX_START_LIMIT starts per SANDBOX_START_WINDOW_MINUTES per student, a sliding window
  over the student's own Sandbox rows (claimed_at; rows are never deleted). Getting back the
  live sandbox, or provisioning a failed one again, is not a start.
- SANDBOX_MAX_LIVE students' live sandboxes at once (any live state: a failed or deleting one
  still holds its namespace and NodePort). Warm-pool sandboxes have no owner and do not count:
  they are bounded by SANDBOX_POOL_SIZE, and when room frees up the first in line gets one of
  them at once. A student who replaces their sandbox for a lesson keeps their place.
- Beyond the cap, the student is put in line (QueuedStart). Their place is stable: asking
  again keeps the row. When room frees up (a destroy finished, the sweep, or any waiting
  student's page asking for news), the first in line are started in order. A student whose
  page stopped asking for SANDBOX_QUEUE_TIMEOUT_SECONDS has left and loses their place.

Every decision about room happens under one lock (sandbox/locks.py), so two requests cannot
both take the last place. Operators (`manage.py sandbox up`) and lesson CI go around all this.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from sandbox import k8s, lifecycle, locks
from sandbox.models import LIVE_STATES, OWNED_STATES, QueuedStart, Sandbox
from sandbox.too_many import seconds_until_free, try_again_text

log = logging.getLogger(__name__)

LOCK = "sandbox-admission"
# How often a waiting page asks for news (Retry-After while in line): positions move when a
# sandbox is freed, which the page should show within a few seconds.
QUEUE_POLL_SECONDS = 5


class StartRefused(Exception):
    """A start that may not happen now: `reason` is "rate" (this student started too many) or
    "full" (the platform is; `position` is their place in line)."""

    def __init__(self, reason: str, retry_after: int, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after = retry_after
        self.message = message
        self.position = position

    def as_status(self) -> dict[str, Any]:
        if self.reason == "full":
            return queued_status(self.position or 1, self.message)
        return {"state": "limited", "error": self.message, "retry_after": self.retry_after}


def queued_status(position: int, message: str | None = None) -> dict[str, Any]:
    return {
        "state": "queued",
        "position": position,
        "message": message or full_message(position),
        "retry_after": QUEUE_POLL_SECONDS,
    }


def full_message(position: int) -> str:
    return _("The class is full — you are number %(position)d in line.") % {"position": position}


def start_window() -> timedelta:
    return timedelta(minutes=settings.SANDBOX_START_WINDOW_MINUTES)


def check_start_rate(user: User) -> None:
    """Raise StartRefused("rate") when the student has used up their starts for now."""
    limit = settings.SANDBOX_START_LIMIT
    if limit <= 0:
        return
    now = timezone.now()
    starts = [
        at
        for at in Sandbox.objects.filter(owner=user, claimed_at__gte=now - start_window())
        .order_by("claimed_at")
        .values_list("claimed_at", flat=True)
        if at is not None  # the filter excludes NULL; this tells the type checker
    ]
    if len(starts) < limit:
        return
    wait = seconds_until_free(starts[len(starts) - limit], start_window(), now)
    message = (
        ngettext(
            "You started %(count)d sandbox in the last %(minutes)d minutes.",
            "You started %(count)d sandboxes in the last %(minutes)d minutes.",
            len(starts),
        )
        % {"count": len(starts), "minutes": settings.SANDBOX_START_WINDOW_MINUTES}
        + " "
        + try_again_text(wait)
    )
    raise StartRefused("rate", wait, message)


def request_start(
    user: User, *, size: str | None = None, extra_namespaces: list[str] | None = None, replacing: bool = False
) -> Sandbox:
    """The student's live sandbox, or one started for them now. Raises StartRefused when
    their starts are used up, or when the platform is full (they are then in line).
    `replacing`: the caller has just retired their sandbox, so one more takes no more room.
    Runs its own transaction; call it outside one (a refusal must not undo the place in line)."""
    existing = lifecycle.live_sandbox(user)
    if existing is not None:
        QueuedStart.objects.filter(user=user).delete()
        with transaction.atomic():
            return lifecycle.start(user)  # the live one, or a failed one provisioned again
    check_start_rate(user)
    with transaction.atomic():
        locks.exclusive(LOCK)
        # Those ahead go first (this may be the student's own turn); a replacement takes the
        # room its predecessor just left, which is not free for the line.
        if not replacing:
            _admit_waiting_locked()
        sandbox = lifecycle.live_sandbox(user)
        if sandbox is not None:
            return sandbox
        others_waiting = QueuedStart.objects.exclude(user=user).exists()
        if replacing or (has_room() and not others_waiting):
            sandbox = _start(user, size, extra_namespaces)
            QueuedStart.objects.filter(user=user).delete()
            return sandbox
        entry, created = QueuedStart.objects.get_or_create(
            user=user,
            defaults={"size": size or settings.SANDBOX_DEFAULT_SIZE, "extra_namespaces": extra_namespaces or []},
        )
        if not created:
            QueuedStart.objects.filter(pk=entry.pk).update(last_seen_at=timezone.now())
        position = _position(entry)
    raise StartRefused("full", QUEUE_POLL_SECONDS, full_message(position), position)


def waiting_status(user: User) -> dict[str, Any] | None:
    """For the status poll of a student without a live sandbox: their place in line (which
    also says they are still there), or None when they are not in line. First lets in whoever
    room has freed up for, so the page moves on as soon as it is their turn."""
    entry = QueuedStart.objects.filter(user=user).first()
    if entry is None:
        return None
    if entry.last_seen_at < _abandoned_before():
        entry.delete()  # gone too long: the place is lost, as for everyone behind it already
        return None
    if has_room():  # checked again under the lock; while the class is full the lock is not needed
        admit_waiting()
        entry = QueuedStart.objects.filter(user=user).first()
        if entry is None:
            return None  # admitted (the caller finds the sandbox) or timed out
    QueuedStart.objects.filter(pk=entry.pk).update(last_seen_at=timezone.now())
    return queued_status(_position(entry))


def leave(user: User) -> bool:
    """The student leaves the line; everyone behind moves up one place."""
    deleted, _ = QueuedStart.objects.filter(user=user).delete()
    return deleted > 0


def admit_waiting() -> list[str]:
    """Start sandboxes for the first in line while there is room. Returns their namespaces."""
    if not QueuedStart.objects.exists():
        return []
    with transaction.atomic():
        locks.exclusive(LOCK)
        return _admit_waiting_locked()


def live_count() -> int:
    return Sandbox.objects.filter(owner__isnull=False, state__in=LIVE_STATES).count()


def has_room() -> bool:
    return settings.SANDBOX_MAX_LIVE <= 0 or live_count() < settings.SANDBOX_MAX_LIVE


def _position(entry: QueuedStart) -> int:
    """1 + those ahead who are still there (whoever has left counts for nothing, even before
    the next admission removes their row)."""
    ahead = QueuedStart.objects.filter(
        Q(joined_at__lt=entry.joined_at) | Q(joined_at=entry.joined_at, pk__lt=entry.pk),
        last_seen_at__gte=_abandoned_before(),
    ).count()
    return ahead + 1


def _abandoned_before() -> datetime:
    return timezone.now() - timedelta(seconds=settings.SANDBOX_QUEUE_TIMEOUT_SECONDS)


def _start(user: User, size: str | None, extra_namespaces: list[str] | None) -> Sandbox:
    """A sandbox of the default shape comes from the warm pool when one is ready; another
    shape (a lesson's needs) is always made new."""
    if extra_namespaces or (size or settings.SANDBOX_DEFAULT_SIZE) != settings.SANDBOX_DEFAULT_SIZE:
        return lifecycle.create_sandbox(user, size=size, extra_namespaces=list(extra_namespaces or []))
    return lifecycle.start(user)


def _admit_waiting_locked() -> list[str]:
    QueuedStart.objects.filter(last_seen_at__lt=_abandoned_before()).delete()
    # Started some other way meanwhile (an operator's `sandbox up`): no longer waiting.
    QueuedStart.objects.filter(user__sandboxes__state__in=OWNED_STATES).delete()
    room = None if settings.SANDBOX_MAX_LIVE <= 0 else settings.SANDBOX_MAX_LIVE - live_count()
    if room is not None and room <= 0:
        return []  # the usual case while the class is full: one count, no walk through the line
    admitted: list[str] = []
    for entry in QueuedStart.objects.select_related("user").order_by("joined_at", "pk")[:room]:
        try:
            with transaction.atomic():
                sandbox = _start(entry.user, entry.size, entry.extra_namespaces)
                entry.delete()
        except Exception as exc:
            # The cluster did not answer a pool claim, or no NodePort is left: the line waits
            # and the next chance tries again, in the same order.
            if not (k8s.is_transient(exc) or isinstance(exc, k8s.ApiException | RuntimeError)):
                raise
            log.warning("could not start a sandbox for %s, first in line: %s", entry.user, exc)
            break
        admitted.append(sandbox.namespace)
    return admitted
