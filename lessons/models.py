from __future__ import annotations

from django.db import models
from django.utils.translation import get_language


class Lesson(models.Model):
    """A lesson as loaded from lessons/content/. The files are the source of truth; these rows
    are what pages query."""

    slug = models.SlugField(unique=True)
    position = models.PositiveIntegerField(default=0)
    # {"en": "...", "zh-hans": "..."}: every lesson is written in both languages.
    title = models.JSONField(default=dict)
    summary = models.JSONField(default=dict)
    minutes = models.PositiveIntegerField(default=10)

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.slug

    def localized(self, field: str) -> str:
        values: dict[str, str] = getattr(self, field) or {}
        return values.get(get_language() or "en") or values.get("en") or self.slug
