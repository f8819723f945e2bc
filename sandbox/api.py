"""What apps built on sandboxes (the lessons) use of the sandbox domain, and nothing else: a
student's current sandbox, starting one (through admission: the class's room and the line),
replacing it with one of another shape, emptying it, and noting the student's activity; for
staff, giving a sandbox more time and ending it early."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction

from sandbox import admission, lifecycle
from sandbox.admission import StartRefused
from sandbox.models import Sandbox, State

__all__ = ["StartRefused", "current", "end", "extend", "replace", "reset", "start", "touch"]


def current(user: User) -> Sandbox | None:
    """The student's current sandbox (any state short of being removed), or None."""
    return lifecycle.live_sandbox(user)


def start(user: User, *, size: str | None = None, extra_namespaces: list[str] | None = None) -> Sandbox:
    """The student's current sandbox, or one started now of this shape. Raises StartRefused
    (starts used up, or the class is full and they wait in line). Call outside a transaction."""
    return admission.request_start(user, size=size, extra_namespaces=extra_namespaces)


def replace(user: User, old: Sandbox, *, size: str | None = None, extra_namespaces: list[str] | None = None) -> Sandbox:
    """A new sandbox of this shape in place of `old`, whose removal goes to a worker: nothing is
    deleted while the caller (a web request) waits. The start limit is asked first, so a refusal
    leaves the old sandbox as it was. Call outside a transaction."""
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("replace a sandbox outside a transaction")
    admission.check_start_rate(user)
    lifecycle.retire(old)
    return admission.request_start(user, size=size, extra_namespaces=extra_namespaces, replacing=True)


def reset(sandbox: Sandbox) -> bool:
    """Empty a ready sandbox (by a worker); False when it was not ready."""
    return lifecycle.request_reset(sandbox)


def touch(sandbox: Sandbox) -> None:
    lifecycle.touch(sandbox)


def extend(sandbox: Sandbox, hours: int) -> None:
    """More time before the sandbox expires (from now, if it was already due)."""
    lifecycle.extend(sandbox, hours)


def end(sandbox: Sandbox, *, expired: bool = False) -> bool:
    """End the sandbox now: a worker removes its namespaces (nothing is deleted while the caller
    waits), and it ends as expired or deleted. False if it had ended or was being removed."""
    return lifecycle.retire(sandbox, State.EXPIRED if expired else State.DELETED)
