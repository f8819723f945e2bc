"""Where the socket handlers' blocking work (database, cluster API) runs.

asgiref's default, thread_sensitive=True, runs every such call of the whole process on one
thread: one student's burst of subscriptions queued every other student's terminal behind it.
Here they run on a bounded pool of SOCKET_THREADS threads instead. Each pool thread keeps
its database connection from one call to the next (Django connections are per thread, so at
most SOCKET_THREADS per process): page requests open one per request (CONN_MAX_AGE is 0 under
ASGI, see config/env.py), which here cost every check and every state ~6 ms of connecting. A
connection idle for a while is asked whether it still works before it is used (PostgreSQL may
have restarted meanwhile), and one that failed is dropped, so the next call connects afresh.

One user's calls still run one after another (run_for): the lesson engine's read-then-write
steps were written for that, and it keeps a student who floods to one thread of the pool. How
many of one student's messages may wait for it is bounded in sandbox.realtime.limits.

The terminal's database calls run on a thread of their own (sandbox.terminal.ledger)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait
from typing import ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections

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


# A kept connection unused for longer than this is checked (one round trip) before its next use.
CHECK_IDLE_AFTER = 1.0
_last_used = threading.local()


def _kept(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """On a pool thread: func, on the thread's kept connection (or a new one)."""
    connection = connections[DEFAULT_DB_ALIAS]
    idle = time.monotonic() - getattr(_last_used, "at", 0.0)
    if connection.connection is not None and (connection.errors_occurred or idle > CHECK_IDLE_AFTER):
        if not connection.is_usable():
            connection.close()
        connection.errors_occurred = False
    try:
        return func(*args, **kwargs)
    except (OperationalError, InterfaceError):
        connection.close()  # cut under us: the next call connects again
        raise
    finally:
        _last_used.at = time.monotonic()


async def run(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """func(*args, **kwargs) on the pool, awaited without blocking the event loop."""
    call = sync_to_async(_kept, thread_sensitive=False, executor=pool())
    result: R = await call(func, *args, **kwargs)
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
