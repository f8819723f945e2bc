"""`manage.py watch_sandboxes`: the live view's single watcher process.

Runs one list+watch per resource kind for the whole cluster, publishes compact changes to
each sandbox's Channels group, and answers the pages' snapshots and the lesson checks from what
it has seen (sandbox/liveview/answers.py). Only one copy is active per installation: a Redis lock elects
it, and a second copy waits (ready to take over if the first dies). SIGTERM stops it cleanly.

Redis going away (a restart, a network blip) is ridden out, not fatal: every Redis call of the
election is retried with a growing pause, and a lock that vanished with a restarted Redis is
taken again. Only a lock that another copy now holds stops this one (and its supervisor starts
it again as a waiting copy), so that two copies never publish at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import uuid
from typing import Any

import redis.asyncio as redis
from channels.layers import get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from sandbox.liveview import answers
from sandbox.liveview.publisher import Publisher
from sandbox.liveview.watcher import Watcher

log = logging.getLogger(__name__)
LOCK_SECONDS = 15


class Command(BaseCommand):
    help = "Watch the cluster once for everyone and stream each sandbox's changes to its students."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--no-lock", action="store_true", help="skip the Redis election (a single copy only)")

    def handle(self, *args: Any, no_lock: bool = False, **options: Any) -> None:
        asyncio.run(run(lock=not no_lock))


async def run(*, lock: bool = True) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    leader = Leader(settings.REDIS_URL, f"k8s-sandbox:watcher:{settings.SANDBOX_NAMESPACE_PREFIX}") if lock else None
    if leader and not await leader.acquire(stop):
        return
    layer = get_channel_layer()
    publisher = Publisher(layer, loop)
    watcher = Watcher(publisher.publish)
    synced = await loop.run_in_executor(None, watcher.run_in_background)
    log.info(
        "watcher started (%s); %d sandbox namespaces", "synced" if synced else "still listing", len(watcher.namespaces)
    )

    # The pages' snapshots and the lesson checks' reads, answered from the reflectors' caches.
    tasks = [asyncio.create_task(publisher.run()), asyncio.create_task(answers.serve(layer, watcher))]
    if leader:
        tasks.append(asyncio.create_task(leader.keep(stop)))

    failed = False

    def ended(task: asyncio.Task[None]) -> None:
        # Each runs until cancelled: one that ends by itself leaves the pages without changes
        # or answers, so the whole process stops and its supervisor starts it again.
        nonlocal failed
        if not task.cancelled() and not stop.is_set():
            log.error("a watcher task ended unexpectedly; stopping", exc_info=task.exception())
            failed = True
            stop.set()

    for task in tasks:
        task.add_done_callback(ended)
    await stop.wait()
    log.info("watcher stopping")
    watcher.shutdown()
    for task in tasks:
        task.cancel()
    if leader:
        await leader.release()
    if failed:
        raise SystemExit(1)


# Pauses between tries while Redis cannot be reached: quick at first, then no more than this.
RETRY_FIRST, RETRY_MAX = 0.25, 5.0
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError, OSError)


class Leader:
    """A Redis key held with a TTL and renewed; whoever holds it is the active watcher."""

    def __init__(self, url: str, key: str) -> None:
        self.client = redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        self.key = key
        self.token = uuid.uuid4().hex
        self.pause = RETRY_FIRST

    async def acquire(self, stop: asyncio.Event) -> bool:
        while not stop.is_set():
            try:
                if await self.client.set(self.key, self.token, nx=True, ex=LOCK_SECONDS):
                    self.pause = RETRY_FIRST
                    return True
                log.info("another watcher is active; waiting to take over")
                wait = LOCK_SECONDS / 3
            except REDIS_DOWN as exc:
                wait = self._backoff(exc)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
        return False

    async def keep(self, stop: asyncio.Event) -> None:
        wait = LOCK_SECONDS / 3
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
            if stop.is_set():
                return
            try:
                if not await self._renew():
                    log.error("another watcher holds the lock now; stopping so that only one watcher publishes")
                    stop.set()
                    return
                self.pause, wait = RETRY_FIRST, LOCK_SECONDS / 3
            except REDIS_DOWN as exc:
                wait = self._backoff(exc)

    async def _renew(self) -> bool:
        """Extend the lock; take it again if it vanished (a restarted Redis forgets every key).
        False when another copy holds it."""
        holder = await self.client.get(self.key)
        if holder is None:
            if await self.client.set(self.key, self.token, nx=True, ex=LOCK_SECONDS):
                log.warning("the watcher lock had vanished (Redis restarted?); took it again")
                return True
            holder = await self.client.get(self.key)
        if holder != self.token.encode():
            return False
        await self.client.expire(self.key, LOCK_SECONDS)
        return True

    def _backoff(self, exc: BaseException) -> float:
        wait = self.pause
        log.warning("Redis is unreachable (%s); trying again in %.2fs", exc, wait)
        self.pause = min(self.pause * 2, RETRY_MAX)
        return wait

    async def release(self) -> None:
        with contextlib.suppress(*REDIS_DOWN):
            if await self.client.get(self.key) == self.token.encode():
                await self.client.delete(self.key)
        with contextlib.suppress(*REDIS_DOWN):
            await self.client.aclose()
