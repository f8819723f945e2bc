"""WebSocket messages of type cluster.*: the live picture of the student's namespace.

    -> {"type": "cluster.subscribe"}
    <- {"type": "cluster.snapshot", "objects": [...]}          (the current state first)
    <- {"type": "cluster.event", "op": "MODIFIED", "object": {...}}   (then every change)

Events reach this consumer through its sandbox's Channels group, from the one watcher process.
Other features (the lesson checks) register a hook to hear about changes too."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from sandbox.liveview import ask
from sandbox.liveview.snapshot import snapshot
from sandbox.liveview.watcher import group_name
from sandbox.realtime import blocking

if TYPE_CHECKING:
    from sandbox.realtime.consumer import SandboxConsumer

# hook(consumer, event): called for every change in the subscriber's sandbox.
Hook = Callable[["SandboxConsumer", dict[str, Any]], Awaitable[None]]
HOOKS: list[Hook] = []


def register(hook: Hook) -> Hook:
    HOOKS.append(hook)
    return hook


class ClusterHandler:
    def __init__(self, consumer: SandboxConsumer) -> None:
        self.consumer = consumer
        self.group: str | None = None

    async def receive(self, message: dict[str, Any]) -> None:
        if message["type"] != "cluster.subscribe":
            await self.consumer.send_json({"type": "error", "message": f"unknown message type {message['type']!r}"})
            return
        sandbox = await self.consumer.refresh_sandbox()
        if sandbox is None:
            await self.consumer.send_json({"type": "cluster.snapshot", "objects": [], "namespace": None})
            return
        group = group_name(sandbox.pk)
        if group != self.group:
            await self.leave()
            # Join first, list second: a change made in between arrives as an event and the
            # browser keeps whichever copy has the newer resourceVersion.
            await self.consumer.channel_layer.group_add(group, self.consumer.channel_name)
            self.group = group
        # From the watcher's caches: it answers after reading them, and it publishes a change
        # only after caching it, so whatever it publishes from now on reaches this page after the
        # snapshot (this consumer handles one message at a time) and is not older than it.
        objects = await ask.snapshot(sandbox.namespace)
        if objects is None:  # no watcher answered: list from the API server, as it was
            try:
                objects = await blocking.run_for(self.consumer.user.pk, snapshot, sandbox.namespace)
            except Exception:  # the cluster is away: the stream will fill the picture in
                objects = []
        await self.consumer.send_json({"type": "cluster.snapshot", "objects": objects, "namespace": sandbox.namespace})

    async def on_event(self, event: dict[str, Any]) -> None:
        await self.consumer.send_json({"type": "cluster.event", "op": event["op"], "object": event["object"]})
        for hook in HOOKS:
            await hook(self.consumer, event)
        await self.consumer.notify("cluster_change", event)

    def hears(self, sandbox_id: int) -> bool:
        """Whether this page receives the sandbox's changes (it subscribed to them)."""
        return self.group == group_name(sandbox_id)

    async def leave(self) -> None:
        if self.group:
            with contextlib.suppress(Exception):
                await self.consumer.channel_layer.group_discard(self.group, self.consumer.channel_name)
            self.group = None

    async def close(self) -> None:
        await self.leave()
