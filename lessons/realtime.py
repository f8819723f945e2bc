"""WebSocket messages of type lesson.*, on the sandbox page's socket.

    -> {"type": "lesson.open", "slug": "pod", "language": "zh-hans"}
    -> {"type": "lesson.check"}                         (the Check button)
    -> {"type": "lesson.hint", "step": "apply"}
    -> {"type": "lesson.skip", "step": "apply"}         (answer: lesson.run with the solution)
    -> {"type": "lesson.reset_step", "step": "apply"}   (answer: lesson.run with the undo lines)
    -> {"type": "lesson.reset"}                         (the whole lesson, and an empty namespace)
    <- {"type": "lesson.state", "steps": [{"key", "status", "failures", "hints", "more_hints"}], "complete"}
    <- {"type": "lesson.run", "lines": [...]}           (the page types them into its terminal)
    <- {"type": "lesson.error", "message": "..."}

The open lesson is checked again by itself, shortly after the sandbox changes (the live view's
stream) or a terminal line finishes; changes arriving together cause one check."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from lessons import engine
from lessons.models import Lesson
from sandbox import k8s
from sandbox.liveview import ask
from sandbox.models import Sandbox
from sandbox.names import is_lesson_key
from sandbox.realtime import blocking
from sandbox.realtime.handlers import Handler, Socket

log = logging.getLogger(__name__)
LANGUAGE_CODES = {code for code, _name in settings.LANGUAGES}
P = ParamSpec("P")
R = TypeVar("R")
CHECK_INTERVAL = 1.0  # seconds between two checks a student asks for
# A check the cluster did not answer (the API server restarting, a network cut) is tried again
# by itself after this many seconds, doubling up to RETRY_MAX while it stays away.
RETRY_FIRST, RETRY_MAX = 1.0, 8.0


class LessonHandler(Handler):
    def __init__(self, socket: Socket) -> None:
        super().__init__(socket)
        self.lesson: Lesson | None = None
        self.language = settings.LANGUAGE_CODE
        self.pending: asyncio.Task[None] | None = None
        self.dirty = False
        self.last_check = 0.0
        self.kinds: list[str] = []  # what the open lesson's checks read
        self.retry = RETRY_FIRST  # the next pause after a check the cluster did not answer
        self.next_wait: float | None = None  # set by a check that is to be tried again

    async def receive(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "lesson.open":
            await self.open(message.get("slug"), message.get("language"))
            return
        if self.lesson is None:
            await self._error(_("Open a lesson first."))
            return
        step = message.get("step")
        if step is not None and not is_lesson_key(step):
            await self._error(_("There is no such step."))
            return
        if kind == "lesson.check":
            # The button, not a loop: one check at a time, at most one per CHECK_INTERVAL.
            self._schedule(delay=max(0.0, self.last_check + CHECK_INTERVAL - time.monotonic()))
        elif kind == "lesson.hint":
            await self._blocking(engine.reveal_hint, self.socket.user, self.lesson, step)
            await self.send_state()
        elif kind in ("lesson.skip", "lesson.reset_step"):
            sandbox = await self.socket.refresh_sandbox()
            if sandbox is None:
                await self._error(_("Start your sandbox first."))
                return
            action = engine.skip if kind == "lesson.skip" else engine.reset_step
            lines = await self._blocking(action, self.socket.user, self.lesson, step, sandbox)
            await self.socket.send_json({"type": "lesson.run", "lines": lines})
            await self.send_state()
        elif kind == "lesson.reset":
            sandbox = await self.socket.refresh_sandbox()
            await self._blocking(engine.reset_lesson, self.socket.user, self.lesson, sandbox)
            await self.socket.send_json({"type": "lesson.files"})
            await self.send_state()
        else:
            await self._error(f"unknown message type {kind!r}")

    async def open(self, slug: object, language: object) -> None:
        if not is_lesson_key(slug):
            await self._error("lesson.open needs a lesson 'slug'")
            return
        self.language = language if isinstance(language, str) and language in LANGUAGE_CODES else settings.LANGUAGE_CODE
        self.socket.language = self.language  # the socket's other messages follow the lesson's language
        self.lesson = await self._blocking(Lesson.objects.filter(slug=slug, active=True).first)
        if self.lesson is None:
            await self._error(_("There is no lesson %(slug)s.") % {"slug": slug})
            return
        self.kinds = await self._blocking(engine.kinds_read, self.lesson)
        sandbox = await self.socket.refresh_sandbox()
        if sandbox is not None and await self._blocking(engine.fits, self.lesson, sandbox):
            # Opening a lesson hands out its files (never overwriting the student's edits).
            await self._blocking(engine.seed_files, self.lesson, sandbox, overwrite=False)
            await self.socket.send_json({"type": "lesson.files"})
        await self.check()

    async def check(self) -> None:
        lesson = self.lesson
        if lesson is None:
            return
        self.last_check = time.monotonic()
        sandbox = await self.socket.refresh_sandbox()
        objects = await self._cached_objects(sandbox)
        recovering = self.retry > RETRY_FIRST  # the cluster did not answer the last check
        try:
            message = await self._blocking(self._check, lesson, sandbox, objects)
            if recovering and not await self._blocking(k8s.api_ready):
                # Back, but not ready: what it said may be a refusal it takes back in a moment.
                # Look again soon (the page was told already that the step is checked again).
                self._again(RETRY_FIRST)
                return
        except Exception as exc:
            if k8s.is_transient(exc):
                await self._retry_later()
                return
            if not isinstance(exc, k8s.ApiException):
                log.exception("lesson check failed")
            await self._error(_("The cluster could not be reached to check this step; it will be checked again."))
            return
        self.retry = RETRY_FIRST
        await self.socket.send_json(message)
        if recovering:
            # One more look once the cluster has settled (its watches resumed, every cache
            # filled): nothing else would check again until the student's next change.
            self._again(RETRY_FIRST)

    async def _retry_later(self) -> None:
        """The cluster did not answer: say so at once, and check again by itself, less often
        while it stays away, so that the step completes when it is back with nobody clicking."""
        wait, self.retry = self.retry, min(self.retry * 2, RETRY_MAX)
        with translation.override(self.language):
            text = _("The cluster cannot be reached right now; this step is checked again in %(seconds)s s.") % {
                "seconds": math.ceil(wait)
            }
        await self.socket.send_json(
            {"type": "lesson.error", "code": "cluster_unreachable", "retry_after": wait, "message": text}
        )
        self._again(wait)

    def _again(self, wait: float) -> None:
        """Check again after `wait` seconds."""
        if self.pending is not None and self.pending is asyncio.current_task():
            self.dirty, self.next_wait = True, wait  # the loop running this check waits, then checks again
        else:  # the check when the lesson opened
            self._schedule(delay=wait)

    async def _cached_objects(self, sandbox: Sandbox | None) -> engine.Objects | None:
        """What the checks read, from the live view's watcher instead of one list per kind.
        Only while this page hears the sandbox's changes: a change the watcher had not seen yet
        when it answered (a terminal line's, a few milliseconds old) then arrives as an event
        and checks the step again. Otherwise, and when no watcher answers, None: the checks
        list from the API server."""
        if sandbox is None or not self.kinds or not self.socket.hears(sandbox.pk):
            return None
        return await ask.world(sandbox.all_namespaces(), self.kinds)

    def _check(self, lesson: Lesson, sandbox: Sandbox | None, objects: engine.Objects | None) -> dict[str, Any]:
        with translation.override(self.language):
            if sandbox is not None and engine.fits(lesson, sandbox):
                engine.check(self.socket.user, lesson, sandbox, objects)
            return engine.state(self.socket.user, lesson, sandbox)

    async def send_state(self) -> None:
        if self.lesson is None:
            return
        lesson = self.lesson
        sandbox = self.socket.sandbox

        def state() -> dict[str, Any]:
            with translation.override(self.language):
                return engine.state(self.socket.user, lesson, sandbox)

        await self.socket.send_json(await self._blocking(state))

    # Changes come in bursts (a rollout is dozens of events): check once they settle.
    async def on_cluster_change(self, event: dict[str, Any]) -> None:
        self._schedule()

    async def on_command_done(self, payload: dict[str, Any]) -> None:
        self._schedule()

    async def on_reconnected(self) -> None:
        # A change whose event was lost while Redis was away is checked now.
        self._schedule()

    def _schedule(self, delay: float | None = None) -> None:
        """Check soon. Requests arriving while a check waits or runs are folded into one more
        check after it, so no burst (events, clicks) runs more than one check at a time."""
        if self.lesson is None:
            return
        self.dirty = True
        self.next_wait = None  # a new reason to check: no need to wait out a retry's pause
        if self.pending is None or self.pending.done():
            wait = settings.LESSONS_CHECK_DEBOUNCE_MS / 1000 if delay is None else delay
            self.pending = asyncio.create_task(self._debounced(wait))

    async def _debounced(self, wait: float) -> None:
        while self.dirty:
            await asyncio.sleep(wait)
            self.dirty = False
            self.next_wait = None
            await self.check()
            settle = max(settings.LESSONS_CHECK_DEBOUNCE_MS / 1000, CHECK_INTERVAL / 2)
            # A check to be tried again waits its pause, unless something new asked for one.
            wait = self.next_wait if self.next_wait is not None else settle

    async def _blocking(self, func: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
        """Database and cluster work, on the socket handlers' pool, after the student's earlier."""
        return await blocking.run_for(self.socket.user.pk, func, *args, **kwargs)

    async def _error(self, message: str) -> None:
        await self.socket.send_json({"type": "lesson.error", "message": message})

    async def close(self) -> None:
        if self.pending and not self.pending.done():
            self.pending.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.pending
