"""Where the socket handlers' blocking work (database, cluster API) runs.

asgiref's default, thread_sensitive=True, runs every such call of the whole process on one
thread: one student's burst of subscriptions queued every other student's terminal behind it.
Here they run on a bounded pool of SOCKET_THREADS threads instead, with Channels'
database_sync_to_async semantics (stale connections closed before and after each call; Django
connections are per thread, so each pool thread holds at most one).

One user's calls still run one after another (run_for): the lesson engine's read-then-write
steps were written for that, and it keeps a student who floods to one thread of the pool. How
many of one student's messages may wait for it is bounded in sandbox.realtime.limits.

The terminal's database calls run on a thread of their own (sandbox.terminal.ledger)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import ParamSpec, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import connections

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_pool: ThreadPoolExecutor | None = None
_size = 0


def pool() -> ThreadPoolExecutor:
    global _pool, _size
    with _lock:
        if _pool is None:
            _size = settings.SOCKET_THREADS
            _pool = ThreadPoolExecutor(max_workers=_size, thread_name_prefix="socket")
        return _pool


async def run(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """func(*args, **kwargs) on the pool, awaited without blocking the event loop."""
    call = database_sync_to_async(func, thread_sensitive=False, executor=pool())
    result: R = await call(*args, **kwargs)
    return result


# One lock per user with calls running or waiting, and how many: forgotten when none are left.
_user_locks: dict[int, tuple[asyncio.Lock, int]] = {}


async def run_for(user_id: int, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """run(), after the user's earlier calls have finished."""
    lock, users = _user_locks.get(user_id) or (asyncio.Lock(), 0)
    _user_locks[user_id] = (lock, users + 1)
    try:
        async with lock:
            return await run(func, *args, **kwargs)
    finally:
        lock, users = _user_locks[user_id]
        if users == 1:
            del _user_locks[user_id]
        else:
            _user_locks[user_id] = (lock, users - 1)


def close_connections(timeout: float = 30) -> None:
    """Close the database connection of every pool thread (tests and benchmarks, before their
    database is dropped). Each thread runs one of the closing calls: they wait for each other,
    so no thread can take two."""
    executor = pool()
    barrier = threading.Barrier(_size, timeout=timeout)

    def close_here() -> None:
        barrier.wait()
        connections.close_all()

    wait([executor.submit(close_here) for _ in range(_size)], timeout=timeout)
