"""How domain code asks the workers for cluster work: by task name, after the current
transaction commits (at once outside one), so a worker never reads a row that is not there yet.
Domain modules never import sandbox/tasks.py (which imports them): no import loop."""

from __future__ import annotations

from functools import partial
from typing import Any

from celery import signature
from django.db import transaction

PROVISION = "sandbox.tasks.provision"
RESET = "sandbox.tasks.reset"
DESTROY = "sandbox.tasks.destroy"
REFILL_POOL = "sandbox.tasks.refill_pool"


def after_commit(task: str, *args: Any) -> None:
    transaction.on_commit(partial(_send, task, args))


def _send(task: str, args: tuple[Any, ...]) -> None:
    # A signature resolves the registered task when it can, so CELERY_TASK_ALWAYS_EAGER (tests)
    # still runs it in place.
    signature(task, args=args).delay()
