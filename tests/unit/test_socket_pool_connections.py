"""The socket handlers' pool keeps each thread's database connection from one call to the next
(connecting cost every check ~6 ms), and replaces one that PostgreSQL cut meanwhile."""

from __future__ import annotations

import asyncio
import time

import pytest
from django.conf import settings
from django.db import connection, connections

from sandbox.realtime import blocking

pytestmark = pytest.mark.django_db(transaction=True)


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_pool_thread_keeps_its_connection_and_replaces_a_cut_one(monkeypatch: pytest.MonkeyPatch) -> None:
    if connection.vendor != "postgresql":
        pytest.fail("this test needs PostgreSQL (make test sets DATABASE_URL)")
    monkeypatch.setattr(blocking, "CHECK_IDLE_AFTER", 0.2)

    async def calls(count: int) -> list[int]:
        return [await blocking.run_for(1, backend_pid) for _ in range(count)]

    threads = settings.SOCKET_THREADS
    try:
        pids = asyncio.run(calls(3 * threads))
        for pid in set(pids):  # PostgreSQL restarted, say: every kept connection is gone
            terminate(pid)
        time.sleep(0.3)
        after = asyncio.run(calls(threads))
    finally:
        blocking.close_connections()
        connections.close_all()
    # Whichever pool thread took a call, it used its own kept connection: more calls than
    # threads, no more connections than threads.
    assert len(set(pids)) <= threads
    assert not set(after) & set(pids)  # new connections, and every call worked
