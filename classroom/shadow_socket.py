"""The watch page's WebSocket (ws/class/<pk>/watch/<user_id>/): one staff member watching one
student, read-only.

    <- {"type": "shadow.hello", "student": "alice", "scrollback": "...", "steps": [...]}
    <- {"type": "terminal.output", "data": "..."}          (the student's terminal, as it happens)
    -> {"type": "cluster.subscribe"}  <- cluster.snapshot / cluster.event   (the live view)
    <- {"type": "shadow.progress", "steps": [...]}          (the class changed: progress again)
    -> {"type": "suggest", "line": "kubectl get pods"}     <- {"type": "suggest.sent", "line": ...}

It lets in only those `access.staff_can_watch` allows, and closes with 4404 for everyone else,
whether the class or the student exists or not. It has no way to the student's session: no
message of its own reaches the student's input, size or runner, and a suggestion only fills the
student's prompt (sandbox/terminal/shadow.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import User
from django.utils import translation
from django.utils.translation import gettext as _

from classroom import live, results
from classroom.models import Classroom, record
from classroom.shadow import display_name, watchable
from sandbox import api
from sandbox.liveview.handlers import ClusterHandler
from sandbox.models import Sandbox
from sandbox.realtime import layer, limits
from sandbox.realtime.language import scope_language
from sandbox.terminal import shadow

log = logging.getLogger(__name__)

NOT_FOUND = 4404  # the same answer for every refusal: an outsider learns nothing
MAX_MESSAGE = 8 * 1024
PROGRESS_SETTLE = 1.0  # seconds: changes of the student's progress within this are sent as one


class WatchConsumer(layer.RejoiningSocket, AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    user: User
    student: User
    classroom: Classroom
    sandbox: Sandbox | None = None
    language: str
    name: str
    watching = False
    heartbeat: asyncio.Task[None] | None = None
    progress: asyncio.Task[None] | None = None
    steps: list[dict[str, Any]] | None = None  # as the page shows them now
    cluster: ClusterHandler | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        kwargs = self.scope["url_route"]["kwargs"]
        found = None
        if user is not None and user.is_authenticated:
            found = await database_sync_to_async(watchable)(user, kwargs["pk"], kwargs["user_id"])
        if found is None:
            await self.close(code=NOT_FOUND)
            return
        self.user, self.language, self.name = user, scope_language(self.scope), display_name(user)
        self.classroom, member = found
        self.student = member.user
        await self.accept()
        # Join first, read the scrollback second: output in between comes twice (in the
        # scrollback and as an event) rather than not at all.
        await self.channel_layer.group_add(shadow.group(self.student.pk), self.channel_name)
        await self.channel_layer.group_add(live.group_name(self.classroom.pk), self.channel_name)
        self.cluster = ClusterHandler(self)
        await self.send_hello()
        await shadow.start_watching(self.student.pk, self.channel_name, self.name, self.channel_layer)
        self.watching = True
        await database_sync_to_async(record)(self.classroom, self.user, "watch", self.student)
        self.heartbeat = asyncio.create_task(self._beat())

    async def disconnect(self, code: int) -> None:
        for task in (self.heartbeat, self.progress):
            if task is not None:
                task.cancel()
        if self.cluster is not None:
            await self.cluster.close()
        if self.watching:
            self.watching = False
            with contextlib.suppress(Exception):
                await shadow.stop_watching(self.student.pk, self.channel_name, self.name, self.channel_layer)
            for group in (shadow.group(self.student.pk), live.group_name(self.classroom.pk)):
                with contextlib.suppress(Exception):  # Redis away: the entry expires
                    await self.channel_layer.group_discard(group, self.channel_name)
        if self._layer is not None:
            self._layer.forget()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(shadow.HEARTBEAT_SECONDS)
            await shadow.heartbeat(self.student.pk, self.channel_name, self.name)

    async def send_hello(self) -> None:
        steps = self.steps = await database_sync_to_async(self._steps)()
        scrollback = await shadow.scrollback(self.student.pk)
        await self.send_json(
            {"type": "shadow.hello", "student": self.student.get_username(), "scrollback": scrollback, "steps": steps}
        )

    def _steps(self) -> list[dict[str, Any]]:
        with translation.override(self.language):
            return results.for_student(self.classroom, self.student)

    # --- what the staff member sends ------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = json.loads(text_data or "") if len(text_data or "") <= MAX_MESSAGE else None
        except json.JSONDecodeError:
            message = None
        kind = message.get("type") if isinstance(message, dict) else None
        if not isinstance(message, dict) or not isinstance(kind, str):
            await self.send_json({"type": "error", "message": "messages must be JSON objects with a type"})
            return
        if await limits.limiter.take(self.user.pk, limits.kind_of(kind)) > 0:
            with translation.override(self.language):
                await self.send_json(
                    {"type": "error", "code": "rate_limited", "message": _("Too fast; wait a moment.")}
                )
            return
        if not await database_sync_to_async(self._still_allowed)():
            await self.close(code=NOT_FOUND)
            return
        if kind == "cluster.subscribe" and self.cluster is not None:
            await self.cluster.receive(message)
        elif kind == "suggest":
            await self.suggest(message.get("line"))
        else:
            # terminal.run, terminal.input, terminal.resize and anything else: a watcher neither
            # types in nor resizes the student's terminal.
            with translation.override(self.language):
                text = _("Watching is read-only: suggest a line instead.")
            await self.send_json({"type": "error", "message": text})

    def _still_allowed(self) -> bool:
        """Staff removed from the class (or the student from it) stop watching at their next
        message."""
        return watchable(self.user, self.classroom.pk, self.student.pk) is not None

    async def suggest(self, line: object) -> None:
        try:
            with translation.override(self.language):
                cleaned = shadow.clean_suggestion(line)
        except shadow.BadSuggestion as exc:
            await self.send_json({"type": "error", "message": str(exc)})
            return
        await database_sync_to_async(record)(self.classroom, self.user, "suggest", self.student, line=cleaned)
        await shadow.suggest(self.student.pk, cleaned, self.name, self.channel_layer)
        await self.send_json({"type": "suggest.sent", "line": cleaned})

    # --- what the groups send -------------------------------------------------------------------
    async def shadow_output(self, event: dict[str, Any]) -> None:
        await self.send_json({"type": "terminal.output", "data": event["data"]})

    async def cluster_event(self, event: dict[str, Any]) -> None:
        if self.cluster is not None:
            await self.cluster.on_cluster_change(event)

    async def cluster_events(self, batch: dict[str, Any]) -> None:
        for event in batch["events"]:
            await self.cluster_event(event)

    async def class_changed(self, event: dict[str, Any]) -> None:
        # Every line any student of the class types announces a change: only the watched
        # student's count, and a burst of them is answered once, after it settles, so watching
        # costs the database one query a second at most, not one per line typed.
        if event.get("user_id") not in (None, self.student.pk):
            return
        if self.progress is None or self.progress.done():
            self.progress = asyncio.create_task(self._progress_later())

    async def _progress_later(self) -> None:
        await asyncio.sleep(PROGRESS_SETTLE)
        steps = await database_sync_to_async(self._steps)()
        if steps != self.steps:
            self.steps = steps
            await self.send_json({"type": "shadow.progress", "steps": steps})

    async def layer_reconnected(self, event: dict[str, Any]) -> None:
        # What was published while Redis was away is lost: start again from the scrollback.
        await self.send_hello()
        if self.cluster is not None and self.cluster.group:
            await self.cluster.receive({"type": "cluster.subscribe"})

    # --- what the live view's handler uses of a socket (sandbox.realtime.handlers.Socket) --------
    async def refresh_sandbox(self) -> Sandbox | None:
        """The student's sandbox: the live view shows their namespace, not the watcher's."""
        self.sandbox = await database_sync_to_async(api.current)(self.student)
        return self.sandbox

    async def command_done(self, payload: dict[str, Any]) -> None:
        """Nothing runs on this socket."""

    def hears(self, sandbox_id: int) -> bool:
        return self.cluster is not None and self.cluster.hears(sandbox_id)

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))
