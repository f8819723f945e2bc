"""The Channels layer on the real Redis keeps an idle subscriber waiting (it must not fail after
channels-redis's 5-second blocking pop, which an idle WebSocket would turn into a disconnect)."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer
from django.conf import settings

from tests.conftest import own_channel_layer


def test_it_waits_quietly_on_an_idle_channel_and_then_delivers() -> None:
    if settings.CHANNEL_LAYER != "redis":
        pytest.fail("this test needs CHANNEL_LAYER=redis (make test sets it)")

    async def scenario() -> dict[str, str]:
        async with own_channel_layer():
            return await receive_after_a_wait()

    async def receive_after_a_wait() -> dict[str, str]:
        layer = get_channel_layer()
        name = await layer.new_channel()
        receiving = asyncio.ensure_future(layer.receive(name))
        await asyncio.sleep(7)  # longer than the blocking pop
        assert not receiving.done() or receiving.exception() is None
        await layer.send(name, {"type": "hello", "text": "still here"})
        message: dict[str, str] = await asyncio.wait_for(receiving, timeout=10)
        return message

    assert asyncio.run(scenario())["text"] == "still here"


def test_a_busy_web_process_loses_no_message_to_its_sockets() -> None:
    """channels_redis keeps every socket of one web process in one Redis key, and a group send
    skips a key already holding its capacity (100 by default) without a word: a class's worth
    of events waiting for a busy process silently dropped the next ones — a sandbox ready that
    the page never heard of (make bench-class: 4 of 50 students). The settings give that key
    room for a class."""
    if settings.CHANNEL_LAYER != "redis":
        pytest.fail("this test needs CHANNEL_LAYER=redis (make test sets it)")
    sockets = 300  # more than a class, each with one message waiting while nobody reads

    async def scenario() -> list[dict[str, str]]:
        async with own_channel_layer():
            layer = get_channel_layer()
            names = [await layer.new_channel() for _ in range(sockets)]
            for index, name in enumerate(names):
                await layer.group_add(f"bench-user-{index}", name)
            try:
                for index in range(sockets):  # the workers and the watcher publish; the process is busy
                    await layer.group_send(f"bench-user-{index}", {"type": "sandbox.status", "text": str(index)})
                return [await asyncio.wait_for(layer.receive(name), timeout=10) for name in names]
            finally:
                for index, name in enumerate(names):
                    await layer.group_discard(f"bench-user-{index}", name)

    received = asyncio.run(scenario())
    assert [message["text"] for message in received] == [str(index) for index in range(sockets)]
