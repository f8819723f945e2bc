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
