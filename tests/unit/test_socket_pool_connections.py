"""The socket handlers' pool keeps each thread's database connection from one call to the next
(connecting cost every check ~6 ms), and replaces one that PostgreSQL cut meanwhile."""

from __future__ import annotations

import asyncio
import time

import pytest
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

    async def on_one_thread(calls: int) -> list[int]:
        return [await blocking.run_for(1, backend_pid) for _ in range(calls)]

    try:
        pids = asyncio.run(on_one_thread(5))
        terminate(pids[-1])  # PostgreSQL restarted, say: the kept connection is gone
        time.sleep(0.3)
        [after] = asyncio.run(on_one_thread(1))
    finally:
        blocking.close_connections()
        connections.close_all()
    assert len(set(pids)) < len(pids)  # connections were reused
    assert after not in pids  # a new connection, and the call worked
