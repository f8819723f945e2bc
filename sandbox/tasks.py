"""Celery tasks: thin wrappers that take ids and call plain functions (habit 1 in STYLE.md).

With acks_late and reject_on_worker_lost (settings), a task whose worker process dies is
delivered again; the functions are idempotent, so the redelivery converges. A task lost with a
whole worker host comes back through the sweep, which re-enqueues rows stuck in a state."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from sandbox import k8s

RETRIES = 5


@shared_task(bind=True, max_retries=RETRIES)
def provision(self: Any, sandbox_id: int) -> bool:
    from sandbox import provisioning

    try:
        return provisioning.provision(sandbox_id)
    except Exception as exc:
        final = not k8s.is_transient(exc) or self.request.retries >= RETRIES
        provisioning.record_failure(sandbox_id, failure_message(exc, self.request.retries, final), final=final)
        if final:
            raise
        # Exponential backoff: 1, 2, 4, 8, 16 seconds.
        raise self.retry(exc=exc, countdown=2**self.request.retries) from exc


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=RETRIES)
def reset(sandbox_id: int) -> bool:
    from sandbox import provisioning

    return provisioning.reset(sandbox_id)


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=RETRIES)
def destroy(sandbox_id: int, final_state: str) -> bool:
    from sandbox import admission, provisioning

    done = provisioning.destroy(sandbox_id, final_state)
    if done:
        admission.admit_waiting()  # the room it held goes to the first in line
    return done


@shared_task
def refill_pool() -> int:
    from sandbox import lifecycle

    return lifecycle.refill_pool()


@shared_task
def sweep() -> dict[str, Any]:
    from sandbox import lifecycle

    return lifecycle.sweep().__dict__


def failure_message(exc: BaseException, attempt: int, final: bool) -> str:
    """A sentence for the student's page: what happened and what happens next."""
    if k8s.is_transient(exc):
        what = "The cluster did not answer"
    elif isinstance(exc, k8s.ApiException):
        what = f"The cluster refused a request ({exc.status} {exc.reason})"
    else:
        what = f"Preparing the sandbox failed ({type(exc).__name__})"
    if final:
        return f"{what}. Press Start again in a minute; if it keeps failing, tell your instructor."
    return f"{what}; retrying (attempt {attempt + 2} of {RETRIES + 1})…"
