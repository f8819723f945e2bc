"""Limits on what one student may ask of the page's WebSocket.

Two guards, checked by the consumer before a message reaches its handler:

- a token bucket per (user, kind of message), set by COUNT/SECONDS in settings.SOCKET_RATES;
- a bound on the messages of one user being handled at once (SOCKET_IN_FLIGHT_PER_USER).

The buckets live in Redis (one atomic script per message), so they hold across the user's
sockets *and* across web processes: behind a load balancer a student's tabs may land on
different processes, and per-process buckets would multiply the limit by their number. When
Redis cannot be reached the buckets fall back to this process's memory, so a Redis outage
weakens the limit (per process) instead of refusing every message.

The in-flight bound is per process on purpose: what it protects is this process's threads
(sandbox.realtime.blocking), which another process does not share."""

from __future__ import annotations

import asyncio
import logging
import math
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from redis import asyncio as aioredis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

# The bucket a message type is counted in; anything not listed counts as "other".
KIND_OF = {
    "lesson.reset": "lesson.reset",
    "lesson.open": "lesson.open",
    "lesson.hint": "lesson.hint",
    "lesson.check": "lesson.check",
    "lesson.skip": "lesson.step",
    "lesson.reset_step": "lesson.step",
    "cluster.subscribe": "cluster.subscribe",
    "terminal.run": "terminal.run",
    "terminal.input": "terminal.keys",
    "terminal.interrupt": "terminal.keys",
    "terminal.resize": "terminal.keys",
}


def kind_of(message_type: str) -> str:
    return KIND_OF.get(message_type, "other")


@dataclass
class TokenBucket:
    """`capacity` tokens at most, refilled at `capacity / period` per second."""

    capacity: int
    period: float
    tokens: float = field(init=False)
    at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.tokens = float(self.capacity)

    def take(self, now: float | None = None) -> float:
        """Take one token: 0 when there was one, else the seconds until there is."""
        now = time.monotonic() if now is None else now
        rate = self.capacity / self.period
        self.tokens = min(self.capacity, self.tokens + max(0.0, now - self.at) * rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / rate


# The same bucket as TokenBucket.take, atomically in Redis, on Redis's clock (web processes'
# clocks may differ). Returns the wait as a string: Redis turns a Lua number into an integer.
_TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local capacity = tonumber(ARGV[1])
local rate = capacity / tonumber(ARGV[2])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or capacity
local at = tonumber(state[2]) or now
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = (1 - tokens) / rate end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2])) + 1)
return tostring(wait)
"""
# After a Redis failure, the memory buckets are used for this long before Redis is tried again
# (so an outage costs one failed connection per interval, not one per message).
REDIS_RETRY_SECONDS = 5.0


class Limiter:
    def __init__(self) -> None:
        self._local: dict[tuple[int, str], TokenBucket] = {}
        # One client per event loop: redis.asyncio connections belong to the loop that made them
        # (daphne has one; the tests start a loop per test).
        self._scripts: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncScript] = weakref.WeakKeyDictionary()
        self._redis_down_until = 0.0
        # (user, kind) -> when its bucket has a token again, as Redis last said. Until then a
        # message is refused without asking Redis: other processes only ever take tokens, so none
        # can appear sooner. A flood costs one Redis call per refill, not one per message.
        self._empty_until: dict[tuple[int, str], float] = {}

    async def take(self, user_id: int, kind: str) -> float:
        """0 when the message may go on, else the seconds until it may."""
        capacity, period = settings.SOCKET_RATES[kind]
        now = time.monotonic()
        until = self._empty_until.get((user_id, kind), 0.0)
        if now < until:
            return until - now
        if now >= self._redis_down_until:
            try:
                wait = float(await self._script()(keys=[self._key(user_id, kind)], args=[capacity, period]))
                if wait > 0:
                    if len(self._empty_until) > 100_000:
                        self._empty_until = {k: t for k, t in self._empty_until.items() if t > now}
                    self._empty_until[(user_id, kind)] = time.monotonic() + wait
                return wait
            except (RedisError, OSError) as exc:
                log.warning("socket rate limits fall back to this process (Redis: %s)", exc)
                self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS
        return self._take_locally(user_id, kind, capacity, period)

    def _take_locally(self, user_id: int, kind: str, capacity: int, period: float) -> float:
        bucket = self._local.get((user_id, kind))
        if bucket is None or (bucket.capacity, bucket.period) != (capacity, period):
            if len(self._local) > 100_000:  # forget idle students rather than grow without end
                self._local.clear()
            bucket = self._local[(user_id, kind)] = TokenBucket(capacity, period)
        return bucket.take()

    def _key(self, user_id: int, kind: str) -> str:
        # The namespace prefix tells apart two installations (or test runs) sharing one Redis.
        return f"socket-rate:{settings.SANDBOX_NAMESPACE_PREFIX}{user_id}:{kind}"

    def _script(self) -> AsyncScript:
        loop = asyncio.get_running_loop()
        script = self._scripts.get(loop)
        if script is None:
            client = aioredis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2)
            # Sent by its digest (EVALSHA), loaded again by redis-py if Redis forgot it.
            script = self._scripts[loop] = client.register_script(_TAKE)
        return script


class PerUser:
    """How many of something each user holds open in this process (page sockets, terminal
    sessions, messages being handled), up to a limit: one counter for each of them."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._counts: dict[int, int] = {}

    def count(self, user_id: int) -> int:
        return self._counts.get(user_id, 0)

    def take(self, user_id: int) -> bool:
        """One more for the user, unless the user is at the limit."""
        if self.count(user_id) >= self._limit():
            return False
        self._counts[user_id] = self.count(user_id) + 1
        return True

    def give_back(self, user_id: int) -> None:
        left = self.count(user_id) - 1
        if left > 0:
            self._counts[user_id] = left
        else:
            self._counts.pop(user_id, None)

    @contextmanager
    def slot(self, user_id: int) -> Iterator[bool]:
        """Yields whether the user had a free slot (and holds it for the block if so)."""
        if not self.take(user_id):
            yield False
            return
        try:
            yield True
        finally:
            self.give_back(user_id)


def rounded_wait(seconds: float) -> float:
    """Seconds to tell the page: rounded up to a hundredth, never 0."""
    return max(0.01, math.ceil(seconds * 100) / 100)


limiter = Limiter()
in_flight = PerUser(lambda: settings.SOCKET_IN_FLIGHT_PER_USER)  # messages being handled
MAX_SOCKETS_PER_USER = 8
sockets = PerUser(lambda: MAX_SOCKETS_PER_USER)  # open page sockets
MAX_TERMINALS_PER_USER = 4
terminals = PerUser(lambda: MAX_TERMINALS_PER_USER)  # terminal sessions, each with its kubectl
