"""The sandbox page's WebSocket. Thin by design: it authenticates, finds the student's
sandbox, holds each message to the student's limits (sandbox.realtime.limits), and routes it by
the prefix of its type to that feature's handler, whose blocking work runs on a bounded pool
(sandbox.realtime.blocking)."""

from __future__ import annotations

import contextlib
import json
import logging
import math
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from sandbox import lifecycle, status
from sandbox.models import Sandbox
from sandbox.realtime import blocking, handlers, layer, limits
from sandbox.realtime.language import scope_language

MAX_MESSAGE = 64 * 1024
log = logging.getLogger(__name__)


# What the student is told they sent too much of, per kind (sandbox.realtime.limits).
TOO_MANY = {
    "lesson.reset": gettext_lazy("lesson resets"),
    "lesson.open": gettext_lazy("lesson openings"),
    "lesson.hint": gettext_lazy("hint requests"),
    "lesson.check": gettext_lazy("checks"),
    "lesson.step": gettext_lazy("skips and step resets"),
    "cluster.subscribe": gettext_lazy("live view refreshes"),
    "terminal.run": gettext_lazy("terminal lines"),
    "terminal.keys": gettext_lazy("keystrokes"),
    "other": gettext_lazy("messages"),
}
# Seconds to come back after a refusal because too much of the user's work was running.
BUSY_RETRY = 1.0
# Refused messages dropped unanswered in a row before the socket is closed (code 4429).
DROPPED_BEFORE_CLOSE = 1000


class SandboxConsumer(layer.RejoiningSocket, AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    user: User
    sandbox: Sandbox | None
    handlers: dict[str, handlers.Handler]
    language: str

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        self.user = user
        self.language = scope_language(self.scope)
        if not limits.sockets.take(user.pk):
            # Each socket may run checks and a terminal: a student cannot open them without limit.
            await self.close(code=4429)
            return
        self.counted = True
        self.refusals = limits.TokenBucket(*settings.SOCKET_REFUSALS_ANSWERED)
        self.dropped = 0  # refused messages not answered since the last answer
        self.closing = False
        self.sandbox = await blocking.run(_live_sandbox, user)
        await self.accept()
        # The sandbox panel's state changes (sandbox.status) come to every page of the owner.
        # With Redis away the group is joined once it is back (and the state sent then).
        try:
            await self.channel_layer.group_add(status.user_group(user.pk), self.channel_name)
            self.in_user_group = True
        except Exception:
            log.warning("could not join the owner's group; sandbox states come with the next hello")
        self.handlers = handlers.make_all(self)
        await self.send_json({"type": "hello", "sandbox": self.sandbox.as_status() if self.sandbox else None})

    async def disconnect(self, code: int) -> None:
        try:
            for handler in getattr(self, "handlers", {}).values():
                await handler.close()
            if getattr(self, "in_user_group", False):
                self.in_user_group = False
                with contextlib.suppress(Exception):  # Redis away: the group entry expires
                    await self.channel_layer.group_discard(status.user_group(self.user.pk), self.channel_name)
        finally:
            if self._layer is not None:
                self._layer.forget()
            if getattr(self, "counted", False):
                self.counted = False
                limits.sockets.give_back(self.user.pk)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.closing:  # what a flooding socket sent before it was closed
            return
        if text_data is None or len(text_data) > MAX_MESSAGE:
            await self.send_json({"type": "error", "message": "message too large or not text"})
            return
        try:
            message = json.loads(text_data)
        except json.JSONDecodeError:
            await self.send_json({"type": "error", "message": "messages must be JSON"})
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if not isinstance(kind, str):
            await self.send_json({"type": "error", "message": "every message needs a string 'type'"})
            return
        bucket = limits.kind_of(kind)
        # Too much of the user's work running: refused before it costs a token. The slot is
        # held only while the handler works (the bucket's answer is quick), and taken with no
        # await between the check and the taking.
        if limits.in_flight.count(self.user.pk) >= settings.SOCKET_IN_FLIGHT_PER_USER:
            await self.refuse(bucket, BUSY_RETRY, busy=True)
            return
        wait = await limits.limiter.take(self.user.pk, bucket)
        if wait > 0:
            await self.refuse(bucket, wait)
            return
        with limits.in_flight.slot(self.user.pk) as free:
            if not free:
                await self.refuse(bucket, BUSY_RETRY, busy=True)
                return
            await self.dispatch_message(kind, message)

    async def dispatch_message(self, kind: str, message: dict[str, Any]) -> None:
        if kind == "ping":
            await self.send_json({"type": "pong"})
            return
        handler = self.handlers.get(kind.split(".", 1)[0])
        if handler is None:
            await self.send_json({"type": "error", "message": f"unknown message type {kind!r}"})
            return
        try:
            await handler.receive(message)
        except Exception:
            # A bad message must not end the consumer: an exception here would skip disconnect()
            # and leave the terminal session (and its kubectl) behind.
            log.exception("handling %s failed", kind)
            await self.send_json({"type": "error", "message": "that request failed; try again"})

    async def refuse(self, kind: str, wait: float, *, busy: bool = False) -> None:
        """The typed answer to a message over a limit; the page shows `message` and may try
        again after `retry_after` seconds. Past SOCKET_REFUSALS_ANSWERED the answer is left out
        (a flood gets nothing back), and a socket that still goes on is closed."""
        if self.refusals.take() > 0:
            self.dropped += 1
            if self.dropped > DROPPED_BEFORE_CLOSE and not self.closing:
                # Not a page. Closing discards what it queued and makes it pay a new handshake,
                # a cost that only a client sending without pause ever reaches.
                self.closing = True
                await self.close(code=4429)
            return
        self.dropped = 0
        retry_after = limits.rounded_wait(wait)
        with translation.override(self.language):
            if busy:
                text = _("Too much of yours is still running. Try again in a moment.")
            else:
                text = _("Too many %(what)s. Try again in %(seconds)s s.") % {
                    "what": TOO_MANY[kind],
                    "seconds": math.ceil(retry_after),
                }
        await self.send_json(
            {"type": "error", "code": "rate_limited", "kind": kind, "retry_after": retry_after, "message": text}
        )

    async def cluster_event(self, event: dict[str, Any]) -> None:
        """A change in this sandbox, sent to its group by the watcher: every handler hears it
        (the live view forwards it to the page first, being registered first)."""
        for handler in self.handlers.values():
            await handler.on_cluster_change(event)

    async def cluster_events(self, batch: dict[str, Any]) -> None:
        """Several changes of this sandbox at once (a busy watcher batches them), oldest first."""
        for event in batch["events"]:
            await self.cluster_event(event)

    async def layer_reconnected(self, event: dict[str, Any]) -> None:
        """Redis is back after an outage and this socket's groups are joined again
        (sandbox/realtime/layer.py); what was published meanwhile is lost, so the panel gets the
        sandbox's state and each feature catches the page up (a new snapshot, a lesson check)."""
        if not hasattr(self, "handlers"):  # refused in connect: nothing to catch up
            return
        sandbox = await self.refresh_sandbox()
        if sandbox is not None:
            await self.send_json({"type": "sandbox.status", "sandbox": sandbox.as_status()})
        for handler in self.handlers.values():
            await handler.on_reconnected()

    async def sandbox_status(self, event: dict[str, Any]) -> None:
        """The owner's sandbox changed state or progress (sandbox/status.py)."""
        await self.send_json({"type": "sandbox.status", "sandbox": event["status"]})

    async def class_hint(self, event: dict[str, Any]) -> None:
        """A hint from the instructor of one of the owner's classes (classroom/hints.py), shown
        in the lesson panel as text."""
        await self.send_json({k: event[k] for k in ("type", "text", "by", "lesson", "step")})

    async def shadow_watchers(self, event: dict[str, Any]) -> None:
        """Staff began or stopped watching the owner's terminal (sandbox/terminal/shadow.py)."""
        await self.send_json({"type": "shadow.watchers", "names": event["names"]})

    async def shadow_suggest(self, event: dict[str, Any]) -> None:
        """Staff suggest a line: the page puts it in the prompt, and only the owner's Enter runs
        it (as a line they typed, through the same policy)."""
        await self.send_json({"type": "terminal.suggest", "line": event["line"], "by": event["by"]})

    async def command_done(self, payload: dict[str, Any]) -> None:
        """A terminal line finished: every handler hears it (the lesson checks run)."""
        for handler in self.handlers.values():
            await handler.on_command_done(payload)

    def hears(self, sandbox_id: int) -> bool:
        return any(handler.hears(sandbox_id) for handler in self.handlers.values())

    async def refresh_sandbox(self) -> Sandbox | None:
        self.sandbox = await blocking.run(_live_sandbox, self.user)
        return self.sandbox

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))


def _live_sandbox(user: User) -> Sandbox | None:
    return lifecycle.live_sandbox(user)
