from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import get_language


def in_language(values: dict[str, Any], fallback: str = "") -> Any:
    """A lesson text ({"en": ..., "zh-hans": ...}) in the active language, English otherwise."""
    return values.get(get_language() or "en") or values.get("en") or fallback


class Lesson(models.Model):
    """A lesson as loaded from lessons/content/ (`manage.py lessons load`). The files are the
    source of truth; these rows are what pages and progress refer to."""

    slug = models.SlugField(unique=True)
    position = models.PositiveIntegerField(default=0)
    # {"en": "...", "zh-hans": "..."}: every lesson is written in both languages.
    title = models.JSONField(default=dict)
    summary = models.JSONField(default=dict)
    difficulty = models.CharField(max_length=16, default="beginner")
    minutes = models.PositiveIntegerField(default=10)
    # What the lesson needs of the sandbox: {"size": "small", "extra_namespaces": [...], "node_ports": 0}.
    needs = models.JSONField(default=dict)
    # Workspace files the lesson hands out, {name: content with placeholders}.
    files = models.JSONField(default=dict)
    source = models.CharField(max_length=200, blank=True, help_text="folder under lessons/content/")
    fingerprint = models.CharField(max_length=64, blank=True, help_text="hash of the files it was loaded from")
    active = models.BooleanField(default=True, help_text="false once its folder is gone; progress is kept")

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.slug

    def localized(self, field: str) -> str:
        value: str = in_language(getattr(self, field) or {}, self.slug)
        return value


class Step(models.Model):
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveIntegerField()
    key = models.SlugField(max_length=41)
    title = models.JSONField(default=dict)
    body = models.JSONField(default=dict, help_text="Markdown per language")
    checks = models.JSONField(default=list)
    hints = models.JSONField(default=list)
    solution = models.JSONField(default=list)
    undo = models.JSONField(default=list)
    wait_seconds = models.PositiveIntegerField(default=60)

    class Meta:
        ordering = ["lesson", "position"]
        constraints = [models.UniqueConstraint(fields=["lesson", "key"], name="one_step_key_per_lesson")]

    def __str__(self) -> str:
        return f"{self.lesson.slug}/{self.key}"

    def localized(self, field: str) -> str:
        value: str = in_language(getattr(self, field) or {}, self.key)
        return value


class StepProgress(models.Model):
    """One student's progress on one step. No row: not done, no hints seen."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="step_progress")
    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="progress")
    started_at = models.DateTimeField(default=timezone.now, help_text="when the student first reached the step")
    done_at = models.DateTimeField(null=True, blank=True)
    skipped = models.BooleanField(default=False, help_text="the student asked for the solution to be run")
    hints_shown = models.PositiveSmallIntegerField(default=0)
    # Checks the student asked for that failed: the "attempts" of a class's results.
    failed_checks = models.PositiveIntegerField(default=0)
    checked_at = models.DateTimeField(null=True, blank=True)
    failures = models.JSONField(default=list, blank=True, help_text="what the last check said was missing")
    # The same wrong answer reads the same for every student: the first failure in English with
    # the student's namespace replaced, so a class's stuck groups span languages and namespaces.
    failure_key = models.CharField(max_length=500, blank=True, default="")
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "step"], name="one_progress_per_user_step")]

    def __str__(self) -> str:
        return f"{self.user_id} {self.step}"
