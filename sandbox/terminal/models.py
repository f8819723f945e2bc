from __future__ import annotations

from django.conf import settings
from django.db import models


class WorkspaceFile(models.Model):
    """A file in a sandbox's workspace (a lesson's manifest, or one the student wrote). Kept in
    the database so a restart loses nothing; kubectl sees a private temporary copy."""

    sandbox = models.ForeignKey("sandbox.Sandbox", on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=64)
    content = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["sandbox", "name"], name="one_file_per_name")]
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CommandAudit(models.Model):
    """Every line typed into a terminal, run or refused."""

    class Outcome(models.TextChoices):
        RAN = "ran"
        DENIED = "denied"
        INTERRUPTED = "interrupted"
        TIMED_OUT = "timed-out"
        FAILED = "failed"  # the runner could not start it (cluster unreachable, ...)
        # Written when the line starts and completed when it ends: a row left so is a line whose
        # server was killed while it ran.
        UNFINISHED = "unfinished"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    sandbox = models.ForeignKey("sandbox.Sandbox", null=True, on_delete=models.SET_NULL)
    line = models.TextField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    exit_status = models.IntegerField(null=True)
    reason = models.TextField(blank=True)
    started_at = models.DateTimeField(db_index=True)
    duration_ms = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return self.line[:60]
