from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class State(models.TextChoices):
    REQUESTED = "requested", _("Requested")
    PROVISIONING = "provisioning", _("Preparing")
    READY = "ready", _("Ready")
    RESETTING = "resetting", _("Resetting")
    FAILED = "failed", _("Failed")
    DELETING = "deleting", _("Removing")
    EXPIRED = "expired", _("Expired")
    DELETED = "deleted", _("Deleted")


# A sandbox in one of these states still owns its namespace and NodePort.
LIVE_STATES = (State.REQUESTED, State.PROVISIONING, State.READY, State.RESETTING, State.FAILED, State.DELETING)
# The student's current sandbox: live and not on its way out. One being removed still holds its
# namespace and NodePort (LIVE_STATES), but its owner may already have the next one (a lesson
# that needs another shape replaces it while a worker removes the old one).
OWNED_STATES = (State.REQUESTED, State.PROVISIONING, State.READY, State.RESETTING, State.FAILED)
ENDED_STATES = (State.EXPIRED, State.DELETED)


class SandboxQuerySet(models.QuerySet["Sandbox"]):
    def expired(self, now: datetime | None = None) -> SandboxQuerySet:
        """Past the hard expiry, or idle for longer than SANDBOX_IDLE_MINUTES."""
        now = now or timezone.now()
        idle_cutoff = now - timedelta(minutes=settings.SANDBOX_IDLE_MINUTES)
        return self.filter(Q(expires_at__lte=now) | Q(last_activity_at__lte=idle_cutoff))


class Sandbox(models.Model):
    """One student's namespace on the shared cluster (or a ready one waiting in the warm pool,
    with no owner yet). Rows are never deleted: an ended sandbox keeps its history."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="sandboxes"
    )
    namespace = models.CharField(max_length=63, unique=True)
    extra_namespaces = models.JSONField(default=list, blank=True, help_text="suffixes of the extra namespaces")
    size = models.CharField(max_length=16, default="small")
    state = models.CharField(max_length=16, choices=State.choices, default=State.REQUESTED, db_index=True)
    node_port = models.PositiveIntegerField(null=True, blank=True, unique=True)
    progress = models.CharField(max_length=200, blank=True)
    last_error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    ready_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    objects = SandboxQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["owner"], condition=Q(state__in=OWNED_STATES), name="one_owned_sandbox_per_owner"
            ),
        ]
        indexes = [models.Index(fields=["owner", "state"])]

    def __str__(self) -> str:
        return self.namespace

    def all_namespaces(self) -> list[str]:
        return [self.namespace, *(f"{self.namespace}-{suffix}" for suffix in self.extra_namespaces)]

    def as_status(self) -> dict[str, Any]:
        """What the student's page shows; never a token or another user's data."""
        return {
            "namespace": self.namespace,
            "state": self.state,
            "state_label": str(State(self.state).label),
            "progress": self.progress,
            "error": self.last_error if self.state == State.FAILED else "",
            # While retries remain, the reason is news, not a failure: "retrying (attempt 2 of 6)".
            "notice": self.last_error if self.state in (State.REQUESTED, State.PROVISIONING) else "",
            "node_port": self.node_port,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
        }


def transition(sandbox_id: int, from_states: tuple[str, ...], to_state: str, **fields: Any) -> bool:
    """Move a sandbox between states with one conditional UPDATE. Returns False (and changes
    nothing) when the row is no longer in one of `from_states`, which is how a duplicate or
    redelivered task finds out that its work was already done or overtaken."""
    updated = Sandbox.objects.filter(pk=sandbox_id, state__in=from_states).update(
        state=to_state, updated_at=timezone.now(), **fields
    )
    return updated == 1


class QueuedStart(models.Model):
    """A student waiting for a sandbox while the platform is full (SANDBOX_MAX_LIVE). One row
    per student: asking again keeps the row and so the place; the line is ordered by
    joined_at, then id. sandbox/admission.py starts them in order as room frees up."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="queued_start")
    # What to start when their turn comes (a lesson may need a bigger size or extra namespaces).
    size = models.CharField(max_length=16)
    extra_namespaces = models.JSONField(default=list, blank=True)
    joined_at = models.DateTimeField(default=timezone.now)
    # The page asks for news every few seconds; a student whose page stopped asking has left.
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [models.Index(fields=["joined_at", "id"])]

    def __str__(self) -> str:
        return f"{self.user} waiting since {self.joined_at:%H:%M:%S}"
