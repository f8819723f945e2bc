"""How late the cluster's changes travel, said now and then: the live view and the lesson
checks both wait for them, and a class on a busy machine shows it here first."""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)
WORTH_SAYING = 2.0  # seconds late
EVERY = 30.0  # seconds between two warnings of one Lag


class Lag:
    def __init__(self, where: str) -> None:
        self.where = where
        self.worst = 0.0  # since the last warning
        self.late = 0  # changes WORTH_SAYING late since the last warning
        self._said = -EVERY

    def note(self, seen: object, extra: str = "") -> None:
        """`seen`: when the watcher saw the change (time.time()); anything else is ignored."""
        if not isinstance(seen, (int, float)):
            return
        delay = time.time() - seen
        self.worst = max(self.worst, delay)
        if delay >= WORTH_SAYING:
            self.late += 1
        now = time.monotonic()
        if self.late and now - self._said >= EVERY:
            log.warning(
                "%d changes reached %s %.1f s or more after the watcher saw them (the worst %.1f s)%s",
                self.late,
                self.where,
                WORTH_SAYING,
                self.worst,
                extra,
            )
            self._said, self.worst, self.late = now, 0.0, 0
