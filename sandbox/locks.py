"""A lock held until the end of the current transaction, for read-then-write decisions that
must not interleave across processes (is there room for one more sandbox? one more sign-up?).

On PostgreSQL it is a transaction-level advisory lock on a hash of the name. On SQLite every
transaction begins IMMEDIATE (config/env.py), taking the database's one write lock at its
start, so whole transactions are serialised already; one name or another makes no difference."""

from __future__ import annotations

import hashlib

from django.db import connection, transaction


def exclusive(name: str) -> None:
    """Block until no other transaction holds `name`; released at commit or rollback."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError(f"locks.exclusive({name!r}) outside a transaction would be released at once")
    if connection.vendor != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s)", [key])
