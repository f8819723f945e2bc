"""Celery tasks of the classes: thin wrappers over plain functions."""

from __future__ import annotations

from celery import shared_task

from classroom import rehearsal


# Not acks_late: a rehearsal runs for minutes, longer than the broker's visibility timeout, and
# one lost with its worker is better pressed again than run twice at once.
@shared_task(acks_late=False)
def rehearse(classroom_id: int, students: int, parallel: int) -> None:
    rehearsal.run_and_keep(classroom_id, students, parallel=parallel)
