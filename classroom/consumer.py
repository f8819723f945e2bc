"""The live class dashboard's WebSocket (ws/class/<pk>/). Thin: it lets in the class's staff
(and admins), joins the class's group, and answers every `class.changed` with a new picture from
classroom.live, folding a burst of changes into one."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.contrib.auth.models import User
from django.utils import translation

from classroom import access, hints, live
from classroom.models import Classroom
from sandbox.realtime import layer
from sandbox.realtime.language import scope_language

log = logging.getLogger(__name__)

# Changes within this long are shown together: a kubectl apply is several saves in a row.
SETTLE = 0.1
MAX_MESSAGE = 8 * 1024
NOT_FOUND = 4404  # not a class this user may watch; the same whether it exists or not

# One picture per class and language for every dashboard open in this process: (when its build
# started, the build). Three staff watching one class cost one build per change, not three.
_builds: dict[tuple[int, str], tuple[float, asyncio.Future[dict[str, Any]]]] = {}


async def shared_picture(classroom: Classroom, language: str, since: float) -> dict[str, Any]:
    """The class's picture, from a build that started at or after `since` (so it shows every
    change its caller has heard of), started now if there is none."""
    key = (classroom.pk, language)
    found = _builds.get(key)
    if found is None or found[0] < since:
        build = asyncio.ensure_future(database_sync_to_async(_picture)(classroom, language))
        found = _builds[key] = (time.monotonic(), build)
        build.add_done_callback(lambda _done, key=key, mine=found: _forget(key, mine))
    # Shielded: a dashboard that closes does not cancel the build the others wait for.
    return await asyncio.shield(found[1])


def _forget(key: tuple[int, str], build: tuple[float, asyncio.Future[dict[str, Any]]]) -> None:
    if _builds.get(key) is build:
        del _builds[key]


def _picture(classroom: Classroom, language: str) -> dict[str, Any]:
    with translation.override(language):
        return live.snapshot(classroom)


class ClassConsumer(layer.RejoiningSocket, AsyncWebsocketConsumer):  # type: ignore[misc]  # channels is untyped
    user: User
    classroom_id: int
    language: str
    group: str = ""
    pending: asyncio.Task[None] | None = None
    dirty = False
    changed_at = 0.0  # when this dashboard last heard of a change (time.monotonic)

    async def connect(self) -> None:
        user = self.scope.get("user")
        pk = self.scope["url_route"]["kwargs"]["pk"]
        if user is None or not user.is_authenticated or await database_sync_to_async(_staff_class)(user, pk) is None:
            await self.close(code=NOT_FOUND)
            return
        self.user, self.classroom_id, self.language = user, pk, scope_language(self.scope)
        self.changed_at = time.monotonic()
        await self.accept()
        self.group = live.group_name(pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_snapshot()

    async def disconnect(self, code: int) -> None:
        if self.pending is not None:
            self.pending.cancel()
        if self.group:
            with contextlib.suppress(Exception):  # Redis away: the entry expires
                await self.channel_layer.group_discard(self.group, self.channel_name)
        if self._layer is not None:
            self._layer.forget()

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        try:
            message = json.loads(text_data or "") if len(text_data or "") <= MAX_MESSAGE else None
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict):
            await self.send_json({"type": "error", "message": "messages must be JSON objects"})
            return
        if message.get("type") == "refresh":
            await self.send_snapshot()
        elif message.get("type") == "hint":
            answer = await database_sync_to_async(self._hint)(message.get("key"), message.get("text"))
            await self.send_json(answer)
        else:
            await self.send_json({"type": "error", "message": "unknown message type"})

    def _hint(self, key: object, text: object) -> dict[str, Any]:
        classroom = _staff_class(self.user, self.classroom_id)
        if classroom is None:
            return {"type": "error", "message": "not allowed"}
        with translation.override(self.language):
            answer: dict[str, Any] = hints.send_to_group(classroom, self.user, key, text)
        return answer

    async def class_changed(self, event: dict[str, Any]) -> None:
        self.dirty = True
        self.changed_at = time.monotonic()
        if self.pending is None or self.pending.done():
            self.pending = asyncio.create_task(self._settle())

    async def layer_reconnected(self, event: dict[str, Any]) -> None:
        # Changes published while Redis was away are lost: show the picture as it is now.
        self.changed_at = time.monotonic()
        await self.send_snapshot()

    async def _settle(self) -> None:
        while self.dirty:
            await asyncio.sleep(SETTLE)
            self.dirty = False
            await self.send_snapshot()

    async def send_snapshot(self) -> None:
        classroom = await database_sync_to_async(_staff_class)(self.user, self.classroom_id)
        if classroom is None:
            # No longer staff of the class (or it was deleted): the socket ends.
            await self.close(code=NOT_FOUND)
            return
        await self.send_json(await shared_picture(classroom, self.language, self.changed_at))

    async def send_json(self, content: dict[str, Any]) -> None:
        await self.send(text_data=json.dumps(content))


def _staff_class(user: User, pk: int) -> Classroom | None:
    classroom = Classroom.objects.filter(pk=pk).first()
    if classroom is None or not access.can_help(user, classroom):
        return None
    return classroom
