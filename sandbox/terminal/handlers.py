"""WebSocket messages of type terminal.*: run a line, keystrokes, Ctrl-C, resize.

-> {"type": "terminal.run", "line": "kubectl get pods"}
-> {"type": "terminal.input", "data": "y"}        (while a command runs)
-> {"type": "terminal.interrupt"}                 (Ctrl-C)
-> {"type": "terminal.resize", "cols": 120, "rows": 30}
<- {"type": "terminal.output", "data": "..."}
<- {"type": "terminal.exit", "status": 0}
<- {"type": "terminal.busy"}                      (a line arrived while one was running)
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
from typing import TYPE_CHECKING, Any

from sandbox.models import State
from sandbox.terminal.session import Session

if TYPE_CHECKING:
    from sandbox.realtime.consumer import SandboxConsumer


class SocketSink:
    """Turns the runner's bytes into text frames; the incremental decoder keeps a multi-byte
    character that is split between two reads in one piece."""

    def __init__(self, consumer: SandboxConsumer) -> None:
        self.consumer = consumer
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    async def write(self, data: bytes) -> None:
        text = self.decoder.decode(data)
        if text:
            await self.consumer.send_json({"type": "terminal.output", "data": text})


def _origin(scope: dict[str, Any]) -> str:
    """scheme://host of the page, from the WebSocket handshake (already checked against
    ALLOWED_HOSTS by the origin validator)."""
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1")
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return f"{scheme}://{host}" if host else ""


MAX_SESSIONS_PER_USER = 4
# Open terminal sessions per user id in this process: a student cannot open tabs without limit,
# each holding a kubectl of its own.
_open: dict[int, int] = {}


class TerminalHandler:
    def __init__(self, consumer: SandboxConsumer) -> None:
        self.consumer = consumer
        self.session: Session | None = None
        self.task: asyncio.Task[None] | None = None
        self.size = (80, 24)

    async def receive(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "terminal.run":
            await self.run(message.get("line"))
        elif kind == "terminal.input":
            data = message.get("data")
            if isinstance(data, str) and self.session and len(data) <= 4096:
                self.session.feed(data.encode())
        elif kind == "terminal.interrupt":
            if self.session and self.task and not self.task.done():
                self.session.interrupt()
        elif kind == "terminal.resize":
            cols, rows = message.get("cols"), message.get("rows")
            if isinstance(cols, int) and isinstance(rows, int):
                self.size = (cols, rows)
                if self.session:
                    self.session.resize(cols, rows)
        else:
            await self.consumer.send_json({"type": "error", "message": f"unknown message type {kind!r}"})

    async def run(self, line: object) -> None:
        if not isinstance(line, str):
            await self.consumer.send_json({"type": "error", "message": "terminal.run needs a string 'line'"})
            return
        if self.task and not self.task.done():
            await self.consumer.send_json({"type": "terminal.busy"})
            return
        sandbox = await self.consumer.refresh_sandbox()
        if sandbox is None or sandbox.state not in (State.READY, State.RESETTING):
            await self.consumer.send_json(
                {
                    "type": "terminal.output",
                    "data": "\x1b[33mYour sandbox is not ready yet: start it in the panel "
                    "and wait until it says Ready.\x1b[0m\r\n",
                }
            )
            await self.consumer.send_json({"type": "terminal.exit", "status": 2})
            return
        if self.session is None or self.session.sandbox.pk != sandbox.pk:
            if self.session:
                await self._end_session()
            user_id = self.consumer.user.pk
            if _open.get(user_id, 0) >= MAX_SESSIONS_PER_USER:
                await self.consumer.send_json(
                    {
                        "type": "terminal.output",
                        "data": f"\x1b[31mYou have {MAX_SESSIONS_PER_USER} terminals open "
                        "already; close one (another tab) and try again.\x1b[0m\r\n",
                    }
                )
                await self.consumer.send_json({"type": "terminal.exit", "status": 2})
                return
            _open[user_id] = _open.get(user_id, 0) + 1
            self.session = Session(self.consumer.user, sandbox)
            self.session.resize(*self.size)
            self.session.notify = self.consumer.send_json
            self.session.base_url = _origin(self.consumer.scope)
            self.session.language = self.consumer.language  # the page's, or its lesson's
        self.task = asyncio.create_task(self._run(self.session, line))

    async def _run(self, session: Session, line: str) -> None:
        status = await session.run_line(line, SocketSink(self.consumer))
        await self.consumer.send_json({"type": "terminal.exit", "status": status})
        await self.consumer.notify("command_done", {"line": line, "status": status})

    async def close(self) -> None:
        # A disconnect ends whatever runs (nothing keeps going without its student), and the
        # line still reaches the audit log, as interrupted.
        if self.task and not self.task.done() and self.session:
            self.session.interrupt()
            self.session.kill()
            try:
                await asyncio.wait_for(asyncio.shield(self.task), timeout=5)
            except (TimeoutError, Exception):
                self.task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self.task
        if self.session:
            await self._end_session()

    async def _end_session(self) -> None:
        assert self.session is not None  # noqa: S101  (called with a session)
        user_id = self.consumer.user.pk
        _open[user_id] = max(0, _open.get(user_id, 1) - 1)
        await self.session.close()
        self.session = None
