"""WebSocket messages of type terminal.*: run a line, keystrokes, Ctrl-C, resize.

-> {"type": "terminal.run", "line": "kubectl get pods"}
-> {"type": "terminal.input", "data": "y"}        (while a command runs)
-> {"type": "terminal.interrupt"}                 (Ctrl-C)
-> {"type": "terminal.resize", "cols": 120, "rows": 30}
<- {"type": "terminal.output", "data": "..."}
<- {"type": "terminal.exit", "status": 0}
<- {"type": "terminal.busy"}                      (a line arrived while one was running)
<- {"type": "terminal.suggest", "line": "...", "by": "Ines"}   (staff suggest a line: the page
                                                  puts it in the prompt; Enter runs it as typed)

-> {"type": "shadow.who"}
<- {"type": "shadow.watchers", "names": ["Ines"]} (who watches this student's terminal, sent again
                                                  on every change)

Everything the terminal prints, and each line run, is also published for the staff who watch
(sandbox.terminal.shadow); nothing a watcher does reaches the session.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
from typing import Any

from sandbox.models import State
from sandbox.realtime import limits
from sandbox.realtime.handlers import Handler, Socket
from sandbox.terminal import ledger, shadow, workspace
from sandbox.terminal.session import Session


class SocketSink:
    """Turns the runner's bytes into text frames; the incremental decoder keeps a multi-byte
    character that is split between two reads in one piece."""

    def __init__(self, socket: Socket, mirror: shadow.Publisher | None = None) -> None:
        self.socket = socket
        self.mirror = mirror
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    async def write(self, data: bytes) -> None:
        text = self.decoder.decode(data)
        if text:
            await self.socket.send_json({"type": "terminal.output", "data": text})
            if self.mirror is not None:  # after the student's own frame, and without waiting
                self.mirror.publish(text)


def _origin(scope: dict[str, Any]) -> str:
    """scheme://host of the page, from the WebSocket handshake (already checked against
    ALLOWED_HOSTS by the origin validator)."""
    headers = dict(scope.get("headers") or [])
    host = headers.get(b"host", b"").decode("latin-1")
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return f"{scheme}://{host}" if host else ""


class TerminalHandler(Handler):
    def __init__(self, socket: Socket) -> None:
        super().__init__(socket)
        self.session: Session | None = None
        self.task: asyncio.Task[None] | None = None
        self.size = (80, 24)
        self.shadow: shadow.Publisher | None = None

    def _shadow(self) -> shadow.Publisher:
        if self.shadow is None:
            self.shadow = shadow.Publisher(self.socket.user.pk, self.socket.channel_layer)
        return self.shadow

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
            await self.socket.send_json({"type": "error", "message": f"unknown message type {kind!r}"})

    async def run(self, line: object) -> None:
        if not isinstance(line, str):
            await self.socket.send_json({"type": "error", "message": "terminal.run needs a string 'line'"})
            return
        if self.task and not self.task.done():
            await self.socket.send_json({"type": "terminal.busy"})
            return
        # The sandbox as it is now, with its workspace's version: one query, on the terminals'
        # own database thread, which keeps its connection (the socket's refresh_sandbox opens one
        # per call: ~8 ms of every line).
        sandbox = self.socket.sandbox = await ledger.run(workspace.live_sandbox, self.socket.user)
        if sandbox is None or sandbox.state not in (State.READY, State.RESETTING):
            await self.socket.send_json(
                {
                    "type": "terminal.output",
                    "data": "\x1b[33mYour sandbox is not ready yet: start it in the panel "
                    "and wait until it says Ready.\x1b[0m\r\n",
                }
            )
            await self.socket.send_json({"type": "terminal.exit", "status": 2})
            return
        if self.session is None or self.session.sandbox.pk != sandbox.pk:
            if self.session:
                await self._end_session()
            user_id = self.socket.user.pk
            # A student cannot open tabs without limit, each holding a kubectl of its own.
            if not limits.terminals.take(user_id):
                await self.socket.send_json(
                    {
                        "type": "terminal.output",
                        "data": f"\x1b[31mYou have {limits.MAX_TERMINALS_PER_USER} terminals open "
                        "already; close one (another tab) and try again.\x1b[0m\r\n",
                    }
                )
                await self.socket.send_json({"type": "terminal.exit", "status": 2})
                return
            self.session = Session(
                self.socket.user,
                sandbox,
                notify=self.socket.send_json,
                base_url=_origin(self.socket.scope),
                language=self.socket.language,  # the page's, or its lesson's
            )
            self.session.resize(*self.size)
        self._shadow().publish(shadow.line_echo(line))
        self.task = asyncio.create_task(self._run(self.session, line, workspace.version_of(sandbox)))

    async def _run(self, session: Session, line: str, files_version: workspace.Version | None) -> None:
        status = await session.run_line(line, SocketSink(self.socket, self._shadow()), files_version=files_version)
        await self.socket.send_json({"type": "terminal.exit", "status": status})
        session.flush()  # the line's audit write, now that the answer is on its way
        await self.socket.command_done({"line": line, "status": status})

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
        if self.shadow is not None:
            await self.shadow.close()

    async def _end_session(self) -> None:
        assert self.session is not None  # noqa: S101  (called with a session)
        user_id = self.socket.user.pk
        limits.terminals.give_back(user_id)
        await self.session.close()
        self.session = None


class ShadowHandler(Handler):
    """The student's side of shadowing: who is watching (the page asks when its socket opens;
    later changes come through the owner's group, sandbox.realtime.consumer)."""

    async def receive(self, message: dict[str, Any]) -> None:
        if message["type"] != "shadow.who":
            await self.socket.send_json({"type": "error", "message": f"unknown message type {message['type']!r}"})
            return
        names = await shadow.watchers(self.socket.user.pk)
        await self.socket.send_json({"type": "shadow.watchers", "names": names})
