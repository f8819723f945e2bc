"""WebSocket messages of type cluster.*: the live picture of the student's namespace.

    -> {"type": "cluster.subscribe"}
    <- {"type": "cluster.snapshot", "objects": [...]}          (the current state first)
    <- {"type": "cluster.event", "op": "MODIFIED", "object": {...}}   (then every change)

Events reach this handler through its sandbox's Channels group, from the one watcher process;
the consumer passes each to every handler of the page (the lesson checks hear them too)."""

from __future__ import annotations

import contextlib
from typing import Any

from sandbox.liveview import ask
from sandbox.liveview.lag import Lag
from sandbox.liveview.snapshot import snapshot
from sandbox.liveview.watcher import group_name
from sandbox.realtime import blocking
from sandbox.realtime.handlers import Handler, Socket

# Changes reaching this process's pages late (a busy machine, a backed-up Redis) are logged.
arrivals = Lag("this web server")


class ClusterHandler(Handler):
    def __init__(self, socket: Socket) -> None:
        super().__init__(socket)
        self.group: str | None = None

    async def receive(self, message: dict[str, Any]) -> None:
        if message["type"] != "cluster.subscribe":
            await self.socket.send_json({"type": "error", "message": f"unknown message type {message['type']!r}"})
            return
        await self.subscribe()

    async def subscribe(self) -> None:
        sandbox = await self.socket.refresh_sandbox()
        if sandbox is None:
            await self.socket.send_json({"type": "cluster.snapshot", "objects": [], "namespace": None})
            return
        group = group_name(sandbox.pk)
        if group != self.group:
            await self.leave()
            # Join first, list second: a change made in between arrives as an event and the
            # browser keeps whichever copy has the newer resourceVersion.
            await self.socket.channel_layer.group_add(group, self.socket.channel_name)
            self.group = group
        # From the watcher's caches: it answers after reading them, and it publishes a change
        # only after caching it, so whatever it publishes from now on reaches this page after the
        # snapshot (this consumer handles one message at a time) and is not older than it.
        objects = await ask.snapshot(sandbox.namespace)
        if objects is None:  # no watcher answered: list from the API server, as it was
            try:
                objects = await blocking.run_for(self.socket.user.pk, snapshot, sandbox.namespace)
            except Exception:  # the cluster is away: the stream will fill the picture in
                objects = []
        await self.socket.send_json({"type": "cluster.snapshot", "objects": objects, "namespace": sandbox.namespace})

    async def on_cluster_change(self, event: dict[str, Any]) -> None:
        arrivals.note(event.get("seen"))
        await self.socket.send_json({"type": "cluster.event", "op": event["op"], "object": event["object"]})

    async def on_reconnected(self) -> None:
        """Changes published while Redis was away are lost: a subscribed page gets the whole
        picture again (its group is joined again already, so nothing falls in between)."""
        if self.group:
            await self.subscribe()

    def hears(self, sandbox_id: int) -> bool:
        """Whether this page receives the sandbox's changes (it subscribed to them)."""
        return self.group == group_name(sandbox_id)

    async def leave(self) -> None:
        if self.group:
            with contextlib.suppress(Exception):
                await self.socket.channel_layer.group_discard(self.group, self.socket.channel_name)
            self.group = None

    async def close(self) -> None:
        await self.leave()
