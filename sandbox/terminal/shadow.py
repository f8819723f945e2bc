"""Shadowing: staff watch a student's terminal without taking it over.

What the student's terminal prints (and each line they run, with its prompt) is published to the
student's shadow group (`group(user_id)`), and the last of it is kept in Redis as a bounded
scrollback, so a watcher who joins late sees the recent output first. Publishing never makes the
student wait: the student's own frame is sent first, the text is only appended to a buffer in
memory, and a background task sends what accumulated as one message (a slow Redis or many
watchers cost the watchers a delay, never the student).

Who watches is kept in Redis too (a sorted set by last heartbeat, so a watcher whose server died
drops out by itself), and the student's pages are told the names on every change.

Watchers never reach the student's session: there is no path from here to its input, its size
or its runner. A suggested line only travels to the student's page, which puts it in the prompt;
it runs if the student presses Enter, as a line they typed (the same parser, policy and audit).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from sandbox import status

log = logging.getLogger(__name__)

# The scrollback: at most this many chunks of at most CHUNK_CHARS characters (about 200 KB per
# student at worst), forgotten after SCROLLBACK_SECONDS without output.
SCROLLBACK_CHUNKS = 100
CHUNK_CHARS = 2000
SCROLLBACK_SECONDS = 6 * 3600
# Text waiting to be published beyond this (Redis slow or away) is dropped, oldest first: the
# student's terminal never waits for the watchers.
MAX_PENDING_CHARS = 256 * 1024
SKIPPED = "\r\n\x1b[2m[…]\x1b[0m\r\n"
# A watcher's page refreshes its presence this often; one not seen for WATCHER_STALE_SECONDS is
# no longer listed (its server went away without saying goodbye).
HEARTBEAT_SECONDS = 20.0
WATCHER_STALE_SECONDS = 60.0
MAX_SUGGESTION = 1000
PROMPT = "\x1b[1;32m$ \x1b[0m"
REDIS_RETRY_SECONDS = 5.0


def group(user_id: int) -> str:
    """The Channels group of the student's terminal output, for those watching it."""
    return f"shadow-{user_id}"


def _scrollback_key(user_id: int) -> str:
    # The namespace prefix tells apart two installations (or test runs) sharing one Redis.
    return f"shadow-scrollback:{settings.SANDBOX_NAMESPACE_PREFIX}{user_id}"


def _watchers_key(user_id: int) -> str:
    return f"shadow-watchers:{settings.SANDBOX_NAMESPACE_PREFIX}{user_id}"


# One client per event loop: redis.asyncio connections belong to the loop that made them
# (daphne has one; the tests start a loop per test).
_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, aioredis.Redis] = weakref.WeakKeyDictionary()


def _redis() -> aioredis.Redis:
    loop = asyncio.get_running_loop()
    client = _clients.get(loop)
    if client is None:
        client = _clients[loop] = aioredis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=2, decode_responses=True
        )
    return client


def line_echo(line: str) -> str:
    """A line the student ran, as their own terminal showed it (the page echoes it locally).
    Control characters are shown escaped: a line sent by hand must not drive the watcher's
    terminal."""
    shown = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in line.strip())
    return f"{PROMPT}{shown}\r\n"


class _Queue:
    """Text waiting for one slow consumer (a send coroutine), handed over as one piece whenever
    the last piece is done; bounded: the oldest text goes first, and the next piece says so."""

    def __init__(self, send: Callable[[str], Awaitable[None]]) -> None:
        self.send = send
        self.pending: list[str] = []
        self.pending_chars = 0
        self.skipped = False  # text dropped since the last piece
        self.wake = asyncio.Event()
        self.task: asyncio.Task[None] | None = None

    def put(self, text: str) -> None:
        self.pending.append(text)
        self.pending_chars += len(text)
        while self.pending_chars > MAX_PENDING_CHARS and len(self.pending) > 1:
            self.pending_chars -= len(self.pending.pop(0))
            self.skipped = True
        self.wake.set()
        if self.task is None or self.task.done():
            self.task = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        while True:
            await self.wake.wait()
            self.wake.clear()
            if self.pending:
                await self.send(self._take())

    def _take(self) -> str:
        text = (SKIPPED if self.skipped else "") + "".join(self.pending)
        self.pending.clear()
        self.pending_chars, self.skipped = 0, False
        return text

    async def close(self) -> None:
        """Send what is still waiting (briefly), then stop."""
        if self.task is None:
            return
        if self.pending:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.send(self._take()), timeout=2)
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self.task
        self.task = None


class Publisher:
    """The shadow copy of one terminal's output. `publish` is synchronous and cheap (an append);
    the sending happens in tasks of their own: one to the watchers, one to the scrollback, so a
    Redis write for the scrollback never holds up what the watchers see next."""

    def __init__(self, user_id: int, channel_layer: Any) -> None:
        self.user_id = user_id
        self.layer = channel_layer
        self.live = _Queue(self._to_watchers)
        self.kept = _Queue(self._to_scrollback)
        self._redis_down_until = 0.0

    def publish(self, text: str) -> None:
        if text:
            self.live.put(text)
            self.kept.put(text)

    async def _to_watchers(self, text: str) -> None:
        try:
            await self.layer.group_send(group(self.user_id), {"type": "shadow.output", "data": text})
        except Exception:  # the watchers miss this piece; the scrollback still has it
            log.warning("could not publish terminal output to its watchers", exc_info=True)

    async def _to_scrollback(self, text: str) -> None:
        if time.monotonic() < self._redis_down_until:
            return
        chunks = [text[i : i + CHUNK_CHARS] for i in range(0, len(text), CHUNK_CHARS)]
        try:
            async with _redis().pipeline(transaction=False) as pipe:
                key = _scrollback_key(self.user_id)
                pipe.rpush(key, *chunks)
                pipe.ltrim(key, -SCROLLBACK_CHUNKS, -1)
                pipe.expire(key, SCROLLBACK_SECONDS)
                await pipe.execute()
        except (RedisError, OSError) as exc:
            log.warning("terminal scrollback not kept for %s s (Redis: %s)", REDIS_RETRY_SECONDS, exc)
            self._redis_down_until = time.monotonic() + REDIS_RETRY_SECONDS

    async def close(self) -> None:
        await asyncio.gather(self.live.close(), self.kept.close())


async def scrollback(user_id: int) -> str:
    """The student's recent terminal output ("" when there is none or Redis is away)."""
    try:
        chunks = await _redis().lrange(_scrollback_key(user_id), 0, -1)
    except (RedisError, OSError) as exc:
        log.warning("no terminal scrollback for a watcher (Redis: %s)", exc)
        return ""
    return "".join(str(chunk) for chunk in chunks)


# --- who watches ---------------------------------------------------------------------------------
def _member(channel_name: str, name: str) -> str:
    return json.dumps([channel_name, name])


async def start_watching(student_id: int, channel_name: str, name: str, layer: Any) -> None:
    """Note the watcher (call again every HEARTBEAT_SECONDS) and tell the student's pages."""
    await _seen(student_id, channel_name, name)
    await announce(student_id, layer)


async def heartbeat(student_id: int, channel_name: str, name: str) -> None:
    await _seen(student_id, channel_name, name)


async def _seen(student_id: int, channel_name: str, name: str) -> None:
    key = _watchers_key(student_id)
    try:
        async with _redis().pipeline(transaction=False) as pipe:
            pipe.zadd(key, {_member(channel_name, name): time.time()})
            pipe.expire(key, int(WATCHER_STALE_SECONDS * 2))
            await pipe.execute()
    except (RedisError, OSError) as exc:
        log.warning("could not note a watcher (Redis: %s)", exc)


async def stop_watching(student_id: int, channel_name: str, name: str, layer: Any) -> None:
    try:
        await _redis().zrem(_watchers_key(student_id), _member(channel_name, name))
    except (RedisError, OSError) as exc:
        log.warning("could not forget a watcher (Redis: %s)", exc)
    await announce(student_id, layer)


async def watchers(student_id: int) -> list[str]:
    """Names of the staff watching the student now, sorted, each once."""
    key = _watchers_key(student_id)
    try:
        members = await _redis().zrangebyscore(key, time.time() - WATCHER_STALE_SECONDS, "+inf")
    except (RedisError, OSError) as exc:
        log.warning("could not list the watchers (Redis: %s)", exc)
        return []
    return sorted({str(json.loads(str(member))[1]) for member in members})


async def announce(student_id: int, layer: Any) -> None:
    """Tell the student's open pages who watches them now."""
    names = await watchers(student_id)
    with contextlib.suppress(Exception):  # Redis away: the page asks again when it reconnects
        await layer.group_send(status.user_group(student_id), {"type": "shadow.watchers", "names": names})


# --- suggesting a line ---------------------------------------------------------------------------
class BadSuggestion(ValueError):
    pass


def clean_suggestion(line: object) -> str:
    """The line as it will stand in the student's prompt. A line break or any other control
    character is refused: the suggestion must never press Enter or move the student's cursor."""
    if not isinstance(line, str):
        raise BadSuggestion(_("A suggestion is a line of text."))
    line = line.strip()
    if not line:
        raise BadSuggestion(_("The suggestion is empty."))
    if len(line) > MAX_SUGGESTION:
        raise BadSuggestion(_("A suggestion has at most %(count)d characters.") % {"count": MAX_SUGGESTION})
    if any(not ch.isprintable() for ch in line):
        raise BadSuggestion(_("A suggestion is one line, without control characters."))
    return line


async def suggest(student_id: int, line: str, by: str, layer: Any) -> None:
    """Put `line` (already cleaned) in the student's prompt on every page they have open."""
    await layer.group_send(status.user_group(student_id), {"type": "shadow.suggest", "line": line, "by": by})
