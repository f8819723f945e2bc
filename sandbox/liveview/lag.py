"""How late the cluster's changes travel, said now and then: the live view and the lesson
checks both wait for them, and a class on a busy machine shows it here first."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

log = logging.getLogger(__name__)
WORTH_SAYING = 2.0  # seconds late
EVERY = 30.0  # seconds between two warnings of one kind


class Every:
    """Due at most once every EVERY seconds: how often a warning may be repeated."""

    def __init__(self) -> None:
        self._at = -EVERY

    def due(self) -> bool:
        now = time.monotonic()
        if now - self._at < EVERY:
            return False
        self._at = now
        return True


class Lag:
    def __init__(self, where: str) -> None:
        self.where = where
        self.worst = 0.0  # since the last warning
        self.late = 0  # changes WORTH_SAYING late since the last warning
        self._every = Every()

    def note(self, seen: object, more: Callable[[], str] | None = None) -> None:
        """`seen`: when the watcher saw the change (time.time()); anything else is ignored.
        `more`: what to add to a warning, asked only when one is given."""
        if not isinstance(seen, (int, float)):
            return
        delay = time.time() - seen
        self.worst = max(self.worst, delay)
        if delay >= WORTH_SAYING:
            self.late += 1
        if self.late and self._every.due():
            log.warning(
                "%d changes reached %s %.1f s or more after the watcher saw them (the worst %.1f s)%s",
                self.late,
                self.where,
                WORTH_SAYING,
                self.worst,
                more() if more else "",
            )
            self.worst, self.late = 0.0, 0
