"""The page socket's channel layer, riding out a Redis restart.

Redis here keeps no data across a restart, so a restarted Redis has forgotten every group
membership: a socket that joined `sandbox.N` before the restart hears nothing after it, and
whatever the watcher published while Redis was away is gone. And a receive that meets the lost
connection raises, which would end the consumer and close the page's socket, its terminal
session with it.

So each socket sees the layer through a `Membership`: it remembers the groups the socket joined
(joining never fails because Redis is away: the membership is kept and made good later), and
its receive waits for Redis to come back instead of raising. One `Watchdog` per process (per
event loop and layer) notices that Redis went away or was replaced (a receive's connection
error, or a new run_id in INFO server, asked every POLL seconds) and, once Redis answers again,
joins every socket to its groups again and then sends each socket a `layer.reconnected` message
on its own channel, through Redis. The consumer's handlers then catch the page up (a new
snapshot, a lesson check); a change published after the groups were joined again comes as an
event, one before is in the snapshot, so nothing stays lost."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from typing import Any

import redis.exceptions
from channels.exceptions import ChannelFull

log = logging.getLogger(__name__)

# Errors that mean "Redis cannot be reached right now" (a restart, a network blip), as opposed
# to a bad command: redis-py's, and the socket's own.
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)  # OSError: TimeoutError too
# How often a healthy Redis is asked who it is: only a safety net, since a restart breaks every
# blocked receive at once and that wakes the watchdog at the moment it happens.
POLL = 5.0
# Pauses between tries while Redis is away: quick at first (a restart under a supervisor takes
# about a second), then no more than RETRY_MAX, so a page is back at most that long after Redis.
RETRY_FIRST, RETRY_MAX = 0.05, 0.5
PROBE_TIMEOUT = 5.0  # a Redis that does not answer INFO within this is taken as away
# Sockets caught up at once after an outage: each needs a connection of the pool for its turn.
RECOVER_AT_ONCE = 20
RECONNECTED = {"type": "layer.reconnected"}
# How long a closing socket waits for the layer's cancelled receive to end (see _receive_once).
CANCEL_GRACE = 1.0


class Watchdog:
    """Notices a lost or replaced Redis for every socket of this process, and makes their
    groups good again once it answers."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.loop = asyncio.get_running_loop()
        self.members: weakref.WeakSet[Membership] = weakref.WeakSet()
        self.up = asyncio.Event()  # Redis answered the last probe
        self.up.set()
        self.wake = asyncio.Event()
        self.run_ids: list[str] | None = None  # who answered last, one per Redis of the layer
        self.task: asyncio.Task[None] | None = None
        self.down_since: float | None = None
        self.recoveries = 0
        # The sockets still to be caught up; a catch-up cut short by another outage of the same
        # server goes on with these only, so no socket is told twice.
        self.behind: weakref.WeakSet[Membership] = weakref.WeakSet()
        self.cut_short = False

    def join(self, member: Membership) -> None:
        self.members.add(member)
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._run())

    def leave(self, member: Membership) -> None:
        self.members.discard(member)
        if not self.members:
            self.wake.set()  # the probe loop ends with the last socket

    async def lost(self, error: BaseException) -> None:
        """A receive met the lost connection: wait until Redis answers again."""
        if self.up.is_set():
            log.warning("the channel layer lost Redis (%s); the page sockets wait for it", error)
            self.up.clear()
            self.down_since = time.monotonic()
        self.wake.set()
        if self.task is None or self.task.done():
            self.task = self.loop.create_task(self._run())
        await self.up.wait()

    async def _run(self) -> None:
        pause = RETRY_FIRST
        while self.members or not self.up.is_set():
            try:
                run_ids = await asyncio.wait_for(self._identity(), PROBE_TIMEOUT)
            except REDIS_DOWN as error:
                if self.up.is_set():
                    log.warning("Redis does not answer (%s); the page sockets wait for it", error)
                    self.up.clear()
                    self.down_since = time.monotonic()
                await self._sleep(pause)
                pause = min(pause * 2, RETRY_MAX)
                continue
            pause = RETRY_FIRST
            replaced = self.run_ids is not None and run_ids != self.run_ids
            self.run_ids = run_ids
            if replaced or not self.up.is_set():
                # Even the same Redis after a blip: what was published meanwhile was lost.
                away = time.monotonic() - self.down_since if self.down_since else 0.0
                log.warning(
                    "Redis answers again (%s, away %.1fs); joining %d sockets to their groups again",
                    "restarted" if replaced else "same server",
                    away,
                    len(self.members),
                )
                self.up.set()
                self.down_since = None
                if replaced or not self.cut_short:
                    self.behind = weakref.WeakSet(self.members)
                await self._drop_idle_connections()
                if not await self._recover():
                    # Away again while catching up: the rest once it is back.
                    await self._sleep(pause)
                    continue
                self.recoveries += 1
            await self._sleep(POLL)

    async def _identity(self) -> list[str]:
        """The run_id of each Redis the layer uses: a new one means a new server, empty."""
        ids = []
        for index in range(self.layer.ring_size):
            info = await self.layer.connection(index).info("server")
            ids.append(str(info.get("run_id", "")))
        return ids

    async def _drop_idle_connections(self) -> None:
        """The pool's idle connections are from before the outage, and dead: a command on one
        fails ("Connection closed by server") instead of connecting again. Those in use (the
        receives that already went back to waiting) are new and stay."""
        for index in range(self.layer.ring_size):
            with contextlib.suppress(*REDIS_DOWN):
                await self.layer.connection(index).connection_pool.disconnect(inuse_connections=False)

    async def _recover(self) -> bool:
        gate = asyncio.Semaphore(RECOVER_AT_ONCE)

        async def one(member: Membership) -> None:
            async with gate:
                try:
                    caught_up = await member.recover()
                except Exception:  # not Redis being away: this socket is given up, not the others
                    log.exception("could not catch a socket up after the outage")
                    caught_up = True
                if caught_up:
                    self.behind.discard(member)

        await asyncio.gather(*(one(member) for member in list(self.behind)))
        self.cut_short = len(self.behind) > 0
        if not self.cut_short:
            return True
        self.up.clear()
        self.down_since = self.down_since or time.monotonic()
        return False

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.wake.wait(), seconds)
        self.wake.clear()


_watchdogs: weakref.WeakKeyDictionary[Any, Watchdog] = weakref.WeakKeyDictionary()


def watchdog_for(layer: Any) -> Watchdog | None:
    """The watchdog of a Redis layer in the running event loop (a test's loop has its own);
    None for a layer without Redis (the in-memory one loses nothing)."""
    if not (hasattr(layer, "connection") and hasattr(layer, "ring_size")):
        return None
    dog = _watchdogs.get(layer)
    if dog is None or dog.loop is not asyncio.get_running_loop():
        dog = _watchdogs[layer] = Watchdog(layer)
    return dog


class Membership:
    """One socket's view of the channel layer: everything as the layer does it, except that
    the groups joined are remembered (and joined again after Redis comes back) and a receive
    waits out a lost Redis instead of raising."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.joined: set[tuple[str, str]] = set()  # (group, channel)
        self.channels: set[str] = set()  # what this socket receives on
        self._watchdog: Watchdog | None = None
        self._looked = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.layer, name)

    @property
    def watchdog(self) -> Watchdog | None:
        if not self._looked:  # first use is inside the socket's event loop
            self._watchdog, self._looked = watchdog_for(self.layer), True
        return self._watchdog

    async def receive(self, channel: str) -> dict[str, Any]:
        dog = self.watchdog
        if dog is None:
            message: dict[str, Any] = await self.layer.receive(channel)
            return message
        if channel not in self.channels:
            self.channels.add(channel)
            dog.join(self)
        pause = RETRY_FIRST
        while True:
            try:
                return await self._receive_once(channel)
            except REDIS_DOWN as error:
                await dog.lost(error)
                # Redis answers the watchdog: try again, after a pause that grows should the
                # receive itself keep failing.
                await asyncio.sleep(pause)
                pause = min(pause * 2, RETRY_MAX)

    async def _receive_once(self, channel: str) -> dict[str, Any]:
        """The layer's receive, in a task of its own that this one only waits for. When the
        socket closes, channels cancels its receive and waits for it to end. Now and then
        channels_redis's receive (4.3, redis-py 8) never ends when cancelled just as its
        blocking pop comes back: seen as a test that hung in ~1 run of 4, its task "cancelling"
        yet still waiting on Redis. Waiting through a shield, this receive ends at once whatever
        the layer's does; that one is cancelled too and given a moment, and is let go (and
        logged) if it still runs."""
        inner: asyncio.Task[dict[str, Any]] = asyncio.ensure_future(self.layer.receive(channel))
        try:
            return await asyncio.shield(inner)
        except asyncio.CancelledError:
            inner.cancel()
            done, _ = await asyncio.wait({inner}, timeout=CANCEL_GRACE)
            if not done:
                log.warning("the channel layer's receive on %s did not stop when cancelled; left behind", channel)
            elif not inner.cancelled() and inner.exception() is None:
                log.debug("a message for %s came as its socket closed; dropped", channel)
            raise

    async def group_add(self, group: str, channel: str) -> None:
        self.joined.add((group, channel))
        try:
            await self.layer.group_add(group, channel)
        except REDIS_DOWN as error:
            # Kept: the watchdog joins it once Redis is back, and the page is caught up then.
            dog = self.watchdog
            if dog is None:
                raise
            log.warning("could not join %s now (%s); joining when Redis is back", group, error)
            dog.wake.set()

    async def group_discard(self, group: str, channel: str) -> None:
        self.joined.discard((group, channel))
        with contextlib.suppress(*REDIS_DOWN):  # a restarted Redis has forgotten it anyway
            await self.layer.group_discard(group, channel)

    async def recover(self) -> bool:
        """Join the groups again, then tell the socket (through Redis, after the joins) that it
        may have missed what was published. False if Redis went away again meanwhile."""
        try:
            for group, channel in list(self.joined):
                await self.layer.group_add(group, channel)
                if (group, channel) not in self.joined:  # left while we joined it again
                    await self.layer.group_discard(group, channel)
            for channel in list(self.channels):
                with contextlib.suppress(ChannelFull):  # a socket that stopped reading
                    await self.layer.send(channel, dict(RECONNECTED))
        except REDIS_DOWN as error:
            log.warning("Redis went away again while the sockets were caught up (%s)", error)
            return False
        return True

    def forget(self) -> None:
        """The socket closed."""
        self.joined.clear()
        self.channels.clear()
        if self._watchdog is not None:
            self._watchdog.leave(self)


class RejoiningSocket:
    """Mixed into a consumer: channels sets the socket's channel layer when it starts, and the
    socket (its receive loop, and every handler through it) then uses it through a Membership,
    which joins the groups again and waits out a lost Redis instead of ending the socket."""

    _layer: Membership | None = None

    @property
    def channel_layer(self) -> Any:  # the layer's API is untyped
        return self._layer

    @channel_layer.setter
    def channel_layer(self, value: Any) -> None:
        self._layer = None if value is None else Membership(value)
