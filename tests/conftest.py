"""Shared fixtures. Personas: student, instructor, admin, outsider (anonymous)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, TypeVar

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections

from accounts.roles import Role, grant


@pytest.fixture
def student(db: None) -> User:
    user = User.objects.create_user("alice", password="correct-horse-battery")
    grant(user, Role.STUDENT)
    return user


@pytest.fixture
def instructor(db: None) -> User:
    user = User.objects.create_user("ines", password="correct-horse-battery")
    grant(user, Role.INSTRUCTOR)
    return user


@pytest.fixture
def admin_user(db: None) -> User:
    user = User.objects.create_superuser("ada", password="correct-horse-battery")
    grant(user, Role.ADMIN)
    return user


T = TypeVar("T")


@contextlib.asynccontextmanager
async def own_channel_layer() -> AsyncIterator[None]:
    """A channel layer made in this event loop and closed with it. Each test runs its sockets in
    a new event loop, and the process-wide layer keeps asyncio locks per channel: one left
    behind by a receive cancelled at the end of an earlier test belongs to that test's loop, and
    the next test to wait on it fails ("bound to a different event loop"). A daphne process has
    one loop for its life, so only tests meet this."""
    from channels import DEFAULT_CHANNEL_LAYER
    from channels.layers import channel_layers

    channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
    try:
        yield
    finally:
        layer = channel_layers.backends.pop(DEFAULT_CHANNEL_LAYER, None)
        close_pools = getattr(layer, "close_pools", None)
        if close_pools is not None:
            await close_pools()


def run_async(scenario: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run an async scenario from a sync test, with a channel layer of its own, then close the
    database connections that sync_to_async's worker thread and the socket handlers' threads
    opened (left open, they keep the test database from being dropped at the end of the run)."""
    from sandbox.realtime import blocking

    async def wrapped() -> T:
        try:
            async with own_channel_layer():
                return await scenario()
        finally:
            await sync_to_async(connections.close_all)()
            await asyncio.to_thread(blocking.close_connections)

    return asyncio.run(wrapped())


# The headers a browser sends when the site's own page (http://localhost) opens its socket: the
# socket refuses any other origin (sandbox/realtime/origin.py).
SAME_ORIGIN: list[tuple[bytes, bytes]] = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
