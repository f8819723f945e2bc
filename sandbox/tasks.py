"""Celery tasks: thin wrappers that take ids and call plain functions (habit 1 in STYLE.md).

With acks_late and reject_on_worker_lost (settings), a task whose worker process dies is
delivered again; the functions are idempotent, so the redelivery converges. A task lost with a
whole worker host comes back through the sweep, which re-enqueues rows stuck in a state."""

from __future__ import annotations

import contextlib
from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from sandbox import admission, k8s, pool, provisioning
from sandbox import sweep as housekeeping

RETRIES = 5


@shared_task(bind=True, max_retries=RETRIES)
def provision(self: Any, sandbox_id: int) -> bool:
    try:
        return provisioning.provision(sandbox_id)
    except Exception as exc:
        final = not can_pass(exc) or self.request.retries >= RETRIES
        # The database may be what is away: the retry matters more than the message.
        with contextlib.suppress(OperationalError, InterfaceError):
            provisioning.record_failure(sandbox_id, failure_message(exc, self.request.retries, final), final=final)
        if final:
            raise
        # Exponential backoff: 1, 2, 4, 8, 16 seconds.
        raise self.retry(exc=exc, countdown=2**self.request.retries) from exc


@shared_task(bind=True, max_retries=RETRIES)
def reset(self: Any, sandbox_id: int) -> bool:
    try:
        return provisioning.reset(sandbox_id)
    except Exception as exc:
        raise _again_or_fail(self, exc) from exc


@shared_task(bind=True, max_retries=RETRIES)
def destroy(self: Any, sandbox_id: int, final_state: str) -> bool:
    try:
        done = provisioning.destroy(sandbox_id, final_state)
    except Exception as exc:
        raise _again_or_fail(self, exc) from exc
    if done:
        admission.admit_waiting()  # the room it held goes to the first in line
    return done


@shared_task
def refill_pool() -> int:
    return pool.refill_pool()


@shared_task
def sweep() -> dict[str, Any]:
    return housekeeping.sweep().__dict__


def can_pass(exc: BaseException) -> bool:
    """An error worth another try: the API server or the database away for a moment. A refusal
    (403, 422, a bug) would fail the same way again, and the sweep looks at stuck rows anyway."""
    return k8s.is_transient(exc) or isinstance(exc, OperationalError | InterfaceError)


def _again_or_fail(task: Any, exc: Exception) -> Exception:
    if can_pass(exc) and task.request.retries < RETRIES:
        # Exponential backoff: 1, 2, 4, 8, 16 seconds.
        return task.retry(exc=exc, countdown=2**task.request.retries)  # type: ignore[no-any-return]
    return exc


def failure_message(exc: BaseException, attempt: int, final: bool) -> str:
    """A sentence for the student's page: what happened and what happens next."""
    if k8s.is_transient(exc):
        what = "The cluster did not answer"
    elif isinstance(exc, OperationalError | InterfaceError):
        what = "The database did not answer"
    elif isinstance(exc, k8s.ApiException):
        what = f"The cluster refused a request ({exc.status} {exc.reason})"
    else:
        what = f"Preparing the sandbox failed ({type(exc).__name__})"
    if final:
        return f"{what}. Press Start again in a minute; if it keeps failing, tell your instructor."
    return f"{what}; retrying (attempt {attempt + 2} of {RETRIES + 1})…"
