"""The terminals' database work, on one thread of its own in each server process.

A terminal line needs its sandbox and workspace files before it runs, and leaves an audit row
(written as unfinished when the line starts, completed when it ends) and a mark of activity on
the sandbox. Elsewhere the sockets' database calls open a connection each (CONN_MAX_AGE is 0
under ASGI: see config/env.py), which cost every line ~8 ms; asgiref's shared thread, the other
place, is also where every page request waits. Here one thread keeps one connection while any
terminal session of this process is open (so a class of any size holds one connection per
server, not one per terminal), runs the calls in the order they were made (a line's audit row
exists before it is completed), and closes the connection when the last session ends (and
after each call made while none is open). A connection cut under it (PostgreSQL restarted) is
replaced on the next call.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from django.db import InterfaceError, OperationalError, connections

P = ParamSpec("P")
R = TypeVar("R")

log = logging.getLogger(__name__)

_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="terminal-db")
_lock = threading.Lock()
_sessions = 0


def _call(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """On the thread: func once, and once more on a new connection if the kept one was cut.
    With no session open (a socket's first line, before its session), the connection is not
    kept: nothing may hold it for a process that has no terminal."""
    try:
        try:
            return func(*args, **kwargs)
        except (OperationalError, InterfaceError):
            connections.close_all()
            return func(*args, **kwargs)
    finally:
        if not _sessions:
            connections.close_all()


async def run(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """func(*args, **kwargs) on the thread, awaited."""
    return await asyncio.wrap_future(_executor.submit(functools.partial(_call, func, *args, **kwargs)))


def submit(func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> Future[R]:
    """func(*args, **kwargs) on the thread, not awaited: failures are logged."""
    future = _executor.submit(functools.partial(_call, func, *args, **kwargs))
    future.add_done_callback(_log_failure)
    return future


def _log_failure(future: Future[R]) -> None:
    if not future.cancelled() and future.exception() is not None:
        log.error("terminal database work failed", exc_info=future.exception())


def opened() -> None:
    global _sessions
    with _lock:
        _sessions += 1


def closed() -> Future[None]:
    """A session ended; with the last, the thread's connection is closed (after the calls queued
    before it). The returned future is done once it is."""
    global _sessions
    with _lock:
        _sessions = max(0, _sessions - 1)
        last = _sessions == 0
    if last:
        return _executor.submit(connections.close_all)
    done: Future[None] = Future()
    done.set_result(None)
    return done
