"""The watcher's way out: the reflectors' changes to each sandbox's Channels group.

One sandbox's changes must reach its page in the order they happened, but different sandboxes'
need not wait for each other. A group_send is four Redis round trips; one after another, on a
machine whose two cores a whole class keeps busy, each round trip waits its turn for the CPU
and the watcher fell tens of seconds behind a class of 200 while using almost no CPU itself.
So SENDERS tasks send at once, each owning the sandboxes whose id falls to it (the order per
sandbox holds), and the changes of one sandbox that queued up meanwhile go out as one message:

    {"type": "cluster.event", "op": ..., "object": {...}, "seen": <unix time>}   (one change)
    {"type": "cluster.events", "events": [<cluster.event>, ...]}   (several, oldest first)

A quiet cluster sends each change alone and at once; only a backlog is batched.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from sandbox.liveview.lag import Lag
from sandbox.liveview.watcher import group_name

log = logging.getLogger(__name__)
Message = dict[str, Any]
SENDERS = 8
BATCH = 100  # changes of one sender taken off its queue at once, at most
RETRY_PAUSE = 0.2  # seconds before a failed send is tried again


def batches(items: list[tuple[int, Message, float]]) -> list[tuple[int, Message]]:
    """One message per sandbox, its changes in their order: (sandbox id, message). Each change
    says when the watcher saw it ("seen", time.time()), so that the web server can tell how
    late changes reach it."""
    by_sandbox: dict[int, list[Message]] = {}
    for sandbox_id, message, at in items:
        by_sandbox.setdefault(sandbox_id, []).append({**message, "seen": at})
    return [
        (sandbox_id, changes[0] if len(changes) == 1 else {"type": "cluster.events", "events": changes})
        for sandbox_id, changes in by_sandbox.items()
    ]


class Publisher:
    def __init__(self, layer: Any, loop: asyncio.AbstractEventLoop, senders: int = SENDERS) -> None:
        self.layer, self.loop = layer, loop
        # (sandbox id, message, time.time() when the reflector saw it)
        self.queues: list[asyncio.Queue[tuple[int, Message, float]]] = [asyncio.Queue() for _ in range(senders)]
        self.lag = Lag("their groups")

    def publish(self, sandbox_id: int, message: Message) -> None:
        """Called from the reflector threads."""
        queue = self.queues[sandbox_id % len(self.queues)]
        self.loop.call_soon_threadsafe(queue.put_nowait, (sandbox_id, message, time.time()))

    async def run(self) -> None:
        """Send until cancelled."""
        await asyncio.gather(*(self._send(queue) for queue in self.queues))

    async def _group_send(self, sandbox_id: int, message: Message) -> None:
        """Send, and once more after a short pause if Redis failed: a batch holds up to BATCH
        changes, deletions too, which a page would otherwise miss until it subscribes again
        (sandbox/realtime/layer.py sends a new snapshot after Redis restarts, not after a blip)."""
        for attempt in range(2):
            try:
                await self.layer.group_send(group_name(sandbox_id), message)
                return
            except Exception:
                if attempt:
                    log.exception("could not publish %s to %s", message["type"], group_name(sandbox_id))
                else:
                    await asyncio.sleep(RETRY_PAUSE)

    async def _send(self, queue: asyncio.Queue[tuple[int, Message, float]]) -> None:
        while True:
            taken = [await queue.get()]
            while len(taken) < BATCH and not queue.empty():
                taken.append(queue.get_nowait())
            for sandbox_id, message in batches(taken):
                await self._group_send(sandbox_id, message)
            for _sandbox_id, _message, seen in taken:
                self.lag.note(seen, self._waiting)

    def _waiting(self) -> str:
        return f"; {sum(queue.qsize() for queue in self.queues)} changes waiting to be published"
