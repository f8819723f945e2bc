"""A closing socket's receive ends when cancelled, whatever the layer's receive does.

channels cancels a socket's channel-layer receive when the socket closes and waits for it. Now
and then channels_redis's receive never ended when cancelled just as its blocking pop came back
(a test hung in about one run of four); sandbox.realtime.layer.Membership waits through a shield
so the socket ends anyway. The stand-in layer below is that misbehaving receive, made certain."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

from sandbox.realtime import layer as realtime_layer
from sandbox.realtime.layer import Membership


class SwallowingLayer:
    """A layer whose receive takes no notice of being cancelled (it waits again), until told to
    stop: the behaviour that hung a closing socket. Also a Redis layer to the watchdog."""

    ring_size = 1

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.cancels_ignored = 0

    async def receive(self, channel: str) -> dict[str, Any]:
        while not self.release.is_set():
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancels_ignored += 1
        return {"type": "late"}

    def connection(self, index: int) -> Any:
        return self  # the watchdog asks who the server is

    async def info(self, section: str) -> dict[str, str]:
        return {"run_id": "one-redis"}


def test_a_cancelled_receive_ends_even_when_the_layer_s_does_not(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(realtime_layer, "CANCEL_GRACE", 0.2)
    monkeypatch.setattr(realtime_layer, "POLL", 60.0)

    async def scenario() -> tuple[float, int]:
        stuck = SwallowingLayer()
        membership = Membership(stuck)
        receiving = asyncio.ensure_future(membership.receive("specific.x!y"))
        await asyncio.sleep(0.05)
        began = time.monotonic()
        receiving.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(receiving, timeout=5)
        took = time.monotonic() - began
        membership.forget()
        stuck.release.set()  # let the abandoned receive finish, so the loop closes cleanly
        await asyncio.sleep(0.01)
        dog = membership.watchdog
        if dog is not None and dog.task is not None:
            dog.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await dog.task
        return took, stuck.cancels_ignored

    took, ignored = asyncio.run(scenario())
    assert ignored == 1  # the layer's receive really did ignore the cancel...
    assert took < 2  # ...and the socket's receive ended anyway, after the grace period
