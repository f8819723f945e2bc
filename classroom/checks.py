"""System checks for the classes' settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register


@register()
def check_join_failure_limit(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    raw = str(getattr(settings, "CLASS_JOIN_FAILURE_LIMIT", ""))
    count, slash, seconds = raw.partition("/")
    try:
        valid = bool(slash) and int(count) >= 1 and float(seconds) > 0
    except ValueError:
        valid = False
    if valid:
        return []
    return [
        Error(
            f"CLASS_JOIN_FAILURE_LIMIT must be COUNT/SECONDS with both above 0; got {raw!r}.",
            hint="For example 10/900: ten wrong join codes per user and address in 15 minutes.",
            id="classroom.E001",
        )
    ]
