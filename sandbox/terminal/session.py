"""A terminal session: runs checked command lines for one student in their sandbox.

Used identically by the WebSocket handler and by `manage.py terminal exec`, so tests of either
exercise the same parser, policy and runner. Output goes to a Sink as bytes ready for xterm.js
(CRLF line ends). A lone kubectl runs in a pseudo-terminal, so colours, `-w`, `exec -it` and
Ctrl-C behave as in a real terminal; in a pipeline kubectl writes to pipes that our Python
text tools read line by line.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pty
import shutil
import signal
import struct
import tempfile
import termios
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from sandbox import credentials, lifecycle
from sandbox.models import Sandbox
from sandbox.terminal import ceiling, edit, forward_target, policy, process, workspace
from sandbox.terminal.errors import Denied
from sandbox.terminal.forward import link as forward_link
from sandbox.terminal.models import CommandAudit
from sandbox.terminal.parser import ParseError, parse

log = logging.getLogger(__name__)

RED, DIM, RESET = "\x1b[31m", "\x1b[2m", "\x1b[0m"
CLEAR = "\x1b[H\x1b[2J\x1b[3J"


class Sink(Protocol):
    async def write(self, data: bytes) -> None: ...


@dataclass
class Limits:
    command_seconds: float = 120.0
    streaming_seconds: float = 1800.0
    bytes_per_second: int = 512 * 1024
    bytes_per_command: int = 16 * 1024 * 1024
    history: int = 500


class OutputLimit(Exception):
    pass


class CeilingHit(Exception):
    """The kernel stopped one of the line's processes: the student's group ran out of memory."""


class Throttle:
    """Caps a command's output: a rate (the command is slowed, not dropped) and a total."""

    def __init__(self, sink: Sink, limits: Limits) -> None:
        self.sink, self.limits = sink, limits
        self.total = 0
        self.window_start = time.monotonic()
        self.window_bytes = 0

    async def write(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.limits.bytes_per_command:
            raise OutputLimit
        self.window_bytes += len(data)
        elapsed = time.monotonic() - self.window_start
        allowed = self.limits.bytes_per_second * max(elapsed, 0.001)
        if self.window_bytes > allowed:
            await asyncio.sleep((self.window_bytes - allowed) / self.limits.bytes_per_second)
        if elapsed > 1.0:
            self.window_start, self.window_bytes = time.monotonic(), 0
        await self.sink.write(data)


class Session:
    def __init__(self, user: User, sandbox: Sandbox, limits: Limits | None = None) -> None:
        self.user, self.sandbox = user, sandbox
        self.limits = limits or Limits()
        self.history: list[str] = []
        self.cols, self.rows = 80, 24
        self.ident = process.identity()
        self.language = settings.LANGUAGE_CODE  # for the few messages the runner itself prints
        process.sweep_stale_sessions(tempfile.gettempdir())
        # Every process of every session of this student shares one memory/process/CPU ceiling.
        self.group = ceiling.acquire(user.pk)
        self._line_procs: list[asyncio.subprocess.Process] = []
        self._oom_before = 0
        # root/ (ours, 0711) holds the kubeconfig (ours, group-readable), work/ (ours, group-
        # readable: the workspace copy) and home/ (the session user's: kubectl's cache). We never
        # write into a folder the session user can write to, so a symlink planted there by the
        # student's kubectl can never redirect one of our writes.
        self.root = Path(tempfile.mkdtemp(prefix=process.SESSION_PREFIX))
        self.root.chmod(0o711)
        self.home, self.work, self.empty = self.root / "home", self.root / "work", self.root / "empty-path"
        for folder in (self.home, self.work, self.empty):
            folder.mkdir()
        self.work.chmod(0o750)
        self.home.chmod(0o700)
        if self.ident.drop:
            os.chown(self.home, self.ident.uid, self.ident.gid)
            os.chown(self.work, 0, self.ident.gid)
        self.kubeconfig = self.root / "kubeconfig"
        self._token_at = 0.0
        self._procs: set[asyncio.subprocess.Process] = set()
        self._master: int | None = None  # the PTY of the running interactive command
        self.base_url = ""  # scheme://host of the page, for links the terminal prints
        # Tells the page about things other than output (e.g. open a file in the editor).
        self.notify: Callable[[dict[str, Any]], Awaitable[None]] | None = None
        self._interactive = False
        self._interrupted = False
        self._materialized: dict[str, str] | None = None  # what the work directory holds now
        self._bookkeeping: set[asyncio.Task[None]] = set()
        self._kill_timer: asyncio.TimerHandle | None = None  # Ctrl-C's follow-up SIGKILL

    # --- public API -----------------------------------------------------------------------
    async def run_line(self, text: str, sink: Sink) -> int:
        """Parse, check and run one line. Returns its exit status (2 when refused)."""
        started, began = timezone.now(), time.monotonic()
        text = text.strip()
        if not text:
            return 0
        self.history.append(text)
        del self.history[: -self.limits.history]
        self._interrupted = False
        try:
            contents = await sync_to_async(workspace.files)(self.sandbox)
            plan = policy.check_line(parse(text), set(contents))
        except (ParseError, Denied) as exc:
            message = exc.message
            await sink.write(f"{RED}{message}{RESET}\r\n".encode())
            self._record(text, CommandAudit.Outcome.DENIED, 2, message, started, began)
            return 2
        outcome, reason = CommandAudit.Outcome.RAN, ""
        self._line_procs = []
        try:
            await self._prepare(contents)
            status = await self._run_plan(plan, sink)
            if self._interrupted:
                outcome = CommandAudit.Outcome.INTERRUPTED
        except CeilingHit:
            status, outcome, reason = 137, CommandAudit.Outcome.INTERRUPTED, "memory ceiling"
            await sink.write(self._ceiling_message())
        except TimeoutError:
            status, outcome, reason = 124, CommandAudit.Outcome.TIMED_OUT, "time limit"
            await sink.write(f"\r\n{RED}stopped: the command ran longer than its time limit{RESET}\r\n".encode())
        except OutputLimit:
            status, outcome, reason = 125, CommandAudit.Outcome.INTERRUPTED, "output limit"
            await sink.write(f"\r\n{RED}stopped: the command printed more than the output limit{RESET}\r\n".encode())
        except asyncio.CancelledError:  # the student went away mid-command: still audited
            self._record(text, CommandAudit.Outcome.INTERRUPTED, 130, "disconnected", started, began)
            raise
        except Exception as exc:  # reported to the student and logged; the session must survive it
            log.exception("terminal command failed to start")
            status, outcome, reason = 126, CommandAudit.Outcome.FAILED, type(exc).__name__
            await sink.write(f"{RED}could not run the command: {_describe(exc)}{RESET}\r\n".encode())
        finally:
            if self._kill_timer is not None:  # never let Ctrl-C's timer hit the next command
                self._kill_timer.cancel()
                self._kill_timer = None
            await self._stop_all()
        if outcome == CommandAudit.Outcome.RAN and self._ceiling_hit():
            # Seen only once every process was reaped (e.g. the first stage of a pipeline whose
            # last stage ended normally).
            status, outcome, reason = 137, CommandAudit.Outcome.INTERRUPTED, "memory ceiling"
            await sink.write(self._ceiling_message())
        self._record(text, outcome, status, reason, started, began)
        return status

    def interrupt(self) -> None:
        """Ctrl-C: to the remote process for `exec -it`, else SIGINT, then SIGKILL if ignored."""
        self._interrupted = True
        if self._interactive and self._master is not None:
            with contextlib.suppress(OSError):
                os.write(self._master, b"\x03")
            return
        for proc in list(self._procs):
            _signal_group(proc, signal.SIGINT)
        if self._kill_timer is None:
            self._kill_timer = asyncio.get_running_loop().call_later(3, self._kill_remaining)

    def feed(self, data: bytes) -> None:
        """Keystrokes while an interactive command runs (exec -it, attach, run -i) go to its
        terminal. The write never blocks: what a full terminal cannot take is dropped, rather
        than stalling the event loop that serves everyone."""
        if self._master is not None and self._interactive:
            with contextlib.suppress(OSError):
                os.write(self._master, data)

    def resize(self, cols: int, rows: int) -> None:
        self.cols, self.rows = max(10, min(cols, 500)), max(2, min(rows, 200))
        if self._master is not None:
            _set_size(self._master, self.cols, self.rows)

    async def close(self) -> None:
        await self._stop_all()
        # Anything still running as this session's user (only possible if a command escaped its
        # process group) ends with the session. Not after every line: that would add a process
        # start to every command's round trip.
        await asyncio.to_thread(process.kill_everything_of, self.ident)
        if self.group is not None:
            ceiling.release(self.user.pk, self.group)
            self.group = None
        await asyncio.gather(*self._bookkeeping, return_exceptions=True)
        shutil.rmtree(self.root, ignore_errors=True)

    # --- the student's resource ceiling ------------------------------------------------------
    def _ceiling_hit(self) -> bool:
        """A process of this line ended by SIGKILL that nobody here sent, and the group's OOM
        kill counter moved since the line began: the kernel stopped it at the ceiling."""
        if self.group is None or self._interrupted:
            return False
        if not any(_killed(proc) for proc in self._line_procs):
            return False
        return self.group.oom_kills() > self._oom_before

    def _ceiling_message(self) -> bytes:
        mib = settings.TERMINAL_MEMORY_MB
        with translation.override(self.language):
            text = _(
                "stopped: your terminals together used more than %(mib)d MiB of memory, the limit "
                "for one student. Run one large command at a time, or ask for less output."
            ) % {"mib": mib}
        return f"\r\n{RED}{text}{RESET}\r\n".encode()

    # --- running ----------------------------------------------------------------------------
    async def _prepare(self, contents: dict[str, str]) -> None:
        # A fresh token when the last is half-way to expiring; files as saved right now.
        if time.monotonic() - self._token_at > settings.SANDBOX_TOKEN_MINUTES * 30:
            text = await sync_to_async(credentials.student_kubeconfig)(self.sandbox)
            process.write_for_group(self.kubeconfig, text, self.ident)
            self._token_at = time.monotonic()
        if contents != self._materialized:
            workspace.materialize(contents, self.work, ident=self.ident)
            self._materialized = contents
        if self.group is not None:
            self.group.ensure()
            self._oom_before = self.group.oom_kills()

    async def _run_plan(self, plan: policy.Plan, sink: Sink) -> int:
        status = 0
        for joiner, steps in plan.pipelines:
            if self._interrupted or (joiner == "&&" and status != 0):
                break
            streaming = any(isinstance(s, policy.KubectlStep) and s.call.streaming for s in steps)
            limit = self.limits.streaming_seconds if streaming else self.limits.command_seconds
            throttle = Throttle(sink, self.limits)
            async with asyncio.timeout(limit):
                if len(steps) == 1 and isinstance(steps[0], policy.KubectlStep) and steps[0].call.edit_target:
                    status = await self._edit(steps[0], throttle)
                elif len(steps) == 1 and isinstance(steps[0], policy.KubectlStep) and steps[0].call.forward:
                    status = await self._forward(steps[0].call.forward, throttle)
                elif len(steps) == 1 and isinstance(steps[0], policy.KubectlStep):
                    status = await self._run_in_pty(steps[0], throttle)
                else:
                    status = await self._run_pipeline(steps, throttle)
            if self._ceiling_hit():  # the rest of the line would only meet the same ceiling
                raise CeilingHit
        return status

    async def _spawn(self, argv: tuple[str, ...], **streams: Any) -> asyncio.subprocess.Process:
        env = process.environment(self.home, self.kubeconfig, self.empty, self.cols, self.rows)
        kwargs: dict[str, Any] = {}
        command = process.limited([process.executable(self.ident), *argv[1:]], self.ident)
        if self.group is not None:
            # Into the student's group before kubectl starts; the launcher drops the user id.
            command = ceiling.launcher(self.group.join_files, command, self.ident.uid if self.ident.drop else None)
        elif self.ident.drop:
            kwargs = {"user": self.ident.uid, "group": self.ident.gid, "extra_groups": []}
        program, *arguments = command
        proc = await asyncio.create_subprocess_exec(
            program, *arguments, env=env, cwd=self.work, start_new_session=True, **streams, **kwargs
        )
        self._procs.add(proc)
        self._line_procs.append(proc)
        return proc

    async def _run_in_pty(self, step: policy.KubectlStep, out: Throttle) -> int:
        master, slave = pty.openpty()
        _set_size(slave, self.cols, self.rows)
        try:
            proc = await self._spawn(step.argv, stdin=slave, stdout=slave, stderr=slave)
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self._master, self._interactive = master, step.call.interactive
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue[bytes] = asyncio.Queue()
        # Read no faster than the throttle passes output on: past PTY_BACKLOG unsent bytes we
        # stop reading, so kubectl blocks on its terminal instead of filling our memory.
        state = {"queued": 0, "read": 0, "paused": False}

        def readable() -> None:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer has closed the terminal
                data = b""
            state["read"] += len(data)
            state["queued"] += len(data)
            chunks.put_nowait(data)
            if not data:
                loop.remove_reader(master)
            elif state["queued"] > PTY_BACKLOG or state["read"] > self.limits.bytes_per_command:
                loop.remove_reader(master)
                state["paused"] = True

        loop.add_reader(master, readable)
        try:
            while data := await chunks.get():
                state["queued"] -= len(data)
                await out.write(data)
                if state["paused"] and state["queued"] < PTY_BACKLOG // 4:
                    state["paused"] = False
                    loop.add_reader(master, readable)
            return process.exit_status(await proc.wait())
        finally:
            with contextlib.suppress(ValueError, OSError):
                loop.remove_reader(master)
            self._master, self._interactive = None, False
            os.close(master)

    async def _edit(self, step: policy.KubectlStep, out: Throttle) -> int:
        """`kubectl edit TYPE NAME`: the object's YAML becomes a workspace file that the page
        opens in its editor; the student saves it and applies it."""
        index = step.argv.index("edit")
        argv = ("kubectl", "get", *step.argv[index + 1 :], "-o", "yaml")
        proc = await self._spawn(
            argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None  # noqa: S101  (PIPE above)
        assert proc.stderr is not None  # noqa: S101
        # Both pipes at once, each to its end or its cap: reading one while kubectl is blocked
        # writing the other would wait forever.
        stdout, stderr = await asyncio.gather(
            _read_capped(proc.stdout, workspace.MAX_FILE_BYTES + 1), _read_capped(proc.stderr, 64 * 1024)
        )
        await proc.wait()
        if len(stdout) > workspace.MAX_FILE_BYTES:
            await out.write(f"{RED}the object is too large to edit here; use kubectl patch{RESET}\r\n".encode())
            return 1
        if proc.returncode:
            await out.write(stderr.replace(b"\n", b"\r\n"))
            return process.exit_status(proc.returncode)
        target = "-".join(step.call.edit_target).replace("/", "-").lower()
        name = ("edit-" + "".join(ch if ch.isalnum() or ch in ".-" else "-" for ch in target))[:59] + ".yaml"
        try:
            text = edit.editable(stdout.decode(errors="replace"), name)
            await sync_to_async(workspace.save)(self.sandbox, name, text)
        except Denied as exc:
            await out.write(f"{RED}{exc.message}{RESET}\r\n".encode())
            return 1
        if self.notify:
            await self.notify({"type": "editor.open", "name": name})
        message = f"Opened {name} in the editor. Change it, save (Ctrl-S), then run: kubectl apply -f {name}"
        await out.write(message.encode() + b"\r\n")
        return 0

    async def _forward(self, target: tuple[str, str, int | str], out: Throttle) -> int:
        """`kubectl port-forward POD PORT`: no port opens on the server; the student gets a link
        that carries HTTP requests to the pod through the platform (sandbox/terminal/forward.py).
        A Service or Deployment target is resolved to one of its pods, as kubectl does."""
        kind, name, remote = target
        try:
            pod, port = await sync_to_async(forward_target.resolve)(kind, name, remote, self.sandbox.namespace)
        except Denied as exc:
            await out.write(f"{RED}{exc.message}{RESET}\r\n".encode())
            return 1
        url = self.base_url + forward_link(pod, port)
        if self.notify:
            await self.notify({"type": "forward.open", "url": url, "pod": pod, "port": port})
        await out.write(f"Forwarding to port {port} of pod {pod}: open {url}\r\n".encode())
        await out.write(f"{DIM}(only you can open this link; it works while the pod runs){RESET}\r\n".encode())
        return 0

    async def _run_pipeline(self, steps: tuple[policy.Step, ...], out: Throttle) -> int:
        statuses: list[Callable[[], Awaitable[int]]] = []
        upstream: AsyncIterator[str] | None = None
        background: list[asyncio.Task[None]] = []
        for step in steps:
            if isinstance(step, policy.KubectlStep):
                proc = await self._spawn(
                    step.argv,
                    stdin=asyncio.subprocess.PIPE if upstream else asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                )
                if upstream is not None:
                    background.append(asyncio.create_task(_feed(proc, upstream)))
                background.append(asyncio.create_task(_copy_stderr(proc, out)))
                upstream = _lines_of(proc, self.limits.bytes_per_command)
                statuses.append(proc.wait)
            elif isinstance(step, policy.ToolStep):
                upstream, status = _tool_stream(step.tool, upstream)
                statuses.append(status)
            else:
                upstream = self._builtin(step)
                statuses.append(_zero)
        assert upstream is not None  # noqa: S101  (a checked plan has at least one step)
        try:
            async for line in upstream:
                await out.write(line.encode() + b"\r\n")
        finally:
            # A consumer that stopped early (head) ends everything before it, as SIGPIPE would.
            aclose = getattr(upstream, "aclose", None)
            if aclose is not None:
                with contextlib.suppress(Exception):
                    await aclose()
            for proc in list(self._procs):
                if proc.returncode is None:
                    _signal_group(proc, signal.SIGTERM)
            for task in background:
                task.cancel()
            await asyncio.gather(*background, return_exceptions=True)
        return process.exit_status(await statuses[-1]())

    async def _builtin(self, step: policy.BuiltinStep) -> AsyncIterator[str]:
        if step.name == "help":
            for line in HELP.splitlines():
                yield line
        elif step.name == "clear":
            yield CLEAR.rstrip("\n")
        elif step.name == "history":
            for number, line in enumerate(self.history, start=1):
                yield f"{number:>5}  {line}"
        elif step.name == "echo":
            yield " ".join(step.args)
        else:
            contents = await sync_to_async(workspace.files)(self.sandbox)
            if step.name == "ls":
                for name, content in sorted(contents.items()):
                    yield f"{len(content.encode()):>8}  {name}"
                if not contents:
                    yield f"{DIM}(no workspace files yet){RESET}"
            else:  # cat
                for line in contents[step.args[0].removeprefix("./")].splitlines():
                    yield line

    # --- housekeeping -------------------------------------------------------------------------
    def kill(self) -> None:
        """Stop every process of the running line at once (the student went away)."""
        self._interrupted = True
        self._kill_remaining()

    def _kill_remaining(self) -> None:
        for proc in list(self._procs):
            if proc.returncode is None:
                _signal_group(proc, signal.SIGKILL)

    async def _stop_all(self) -> None:
        """Kill whatever is left of the line and reap it. Unread output is drained first: a
        process whose pipe is full and unread is never reported finished by asyncio."""
        for proc in list(self._procs):
            if proc.returncode is None:
                _signal_group(proc, signal.SIGKILL)
            for stream in (proc.stdout, proc.stderr):
                if stream is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(stream.read(), timeout=2)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(proc.wait(), timeout=5)
        self._procs.clear()

    def _record(self, text: str, outcome: str, status: int, reason: str, started: Any, began: float) -> None:
        """Audit the line and mark the sandbox active, in the background: the student's prompt
        does not wait for two database writes. close() waits for them."""
        duration_ms = int((time.monotonic() - began) * 1000)
        # Control characters (a NUL above all, which PostgreSQL refuses) are kept visible, escaped.
        line = "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)[:2000]

        def write() -> None:
            CommandAudit.objects.create(
                user=self.user,
                sandbox=self.sandbox,
                line=line,
                outcome=outcome,
                exit_status=status,
                reason=reason[:500],
                started_at=started,
                duration_ms=duration_ms,
            )
            lifecycle.touch(self.sandbox)

        task = asyncio.ensure_future(sync_to_async(write)())
        self._bookkeeping.add(task)
        task.add_done_callback(self._bookkeeping.discard)
        task.add_done_callback(_log_failure)


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> bytes:
    """Read to the end, keeping at most `cap` bytes (the rest is read and dropped)."""
    kept = b""
    while chunk := await stream.read(65536):
        if len(kept) < cap:
            kept += chunk[: cap - len(kept)]
    return kept


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("could not write the terminal audit log", exc_info=task.exception())


async def _zero() -> int:
    return 0


def _describe(exc: BaseException) -> str:
    if isinstance(exc, credentials.NotReady):
        return "your sandbox is not ready yet; wait for it in the panel above"
    if isinstance(exc, ceiling.Unavailable):
        return "the server could not set up the resources of your terminals; try again in a moment"
    return "the cluster did not answer; try again in a moment"


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _killed(proc: asyncio.subprocess.Process) -> bool:
    """Did the process end by SIGKILL? Looks at an exited child that asyncio has not reaped yet
    without reaping it (WNOWAIT), so the answer does not wait for the event loop."""
    if proc.returncode is not None:
        return proc.returncode == -signal.SIGKILL
    try:
        info = os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:  # reaped a moment ago; the final check sees its returncode
        return False
    return info is not None and info.si_code == os.CLD_KILLED and info.si_status == signal.SIGKILL


def _signal_group(proc: asyncio.subprocess.Process, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


MAX_LINE = 64 * 1024
PTY_BACKLOG = 1024 * 1024


async def _lines_of(proc: asyncio.subprocess.Process, limit: int) -> AsyncIterator[str]:
    """kubectl's output as lines for the text tools. Read in chunks (a line longer than
    MAX_LINE is cut, not fatal) and counted, so a pipeline cannot read without bound either."""
    assert proc.stdout is not None  # noqa: S101  (spawned with stdout=PIPE)
    pending, total = b"", 0
    while chunk := await proc.stdout.read(65536):
        total += len(chunk)
        if total > limit:
            raise OutputLimit
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            yield line[:MAX_LINE].decode(errors="replace").rstrip("\r")
        if len(pending) > MAX_LINE:
            yield pending[:MAX_LINE].decode(errors="replace") + " …"
            pending = b""
    if pending:
        yield pending[:MAX_LINE].decode(errors="replace").rstrip("\r")


async def _feed(proc: asyncio.subprocess.Process, lines: AsyncIterator[str]) -> None:
    assert proc.stdin is not None  # noqa: S101  (spawned with stdin=PIPE)
    try:
        async for line in lines:
            proc.stdin.write(line.encode() + b"\n")
            await proc.stdin.drain()
    finally:
        with contextlib.suppress(Exception):
            proc.stdin.close()


async def _copy_stderr(proc: asyncio.subprocess.Process, out: Throttle) -> None:
    assert proc.stderr is not None  # noqa: S101  (spawned with stderr=PIPE)
    while chunk := await proc.stderr.read(65536):
        await out.write(chunk.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))


def _tool_stream(
    tool: Any, upstream: AsyncIterator[str] | None
) -> tuple[AsyncIterator[str], Callable[[], Awaitable[int]]]:
    """Run a text tool as a task; expose its output as an async iterator and its status."""
    queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=1000)

    async def emit(line: str) -> None:
        await queue.put(line)

    async def body() -> int:
        try:
            return int(await tool(upstream, emit))
        except Denied as exc:  # e.g. grep's pattern took too long: say so, in the output
            await queue.put(f"{RED}{exc.message}{RESET}")
            return 2
        finally:
            await queue.put(None)

    task = asyncio.ensure_future(body())

    async def lines() -> AsyncIterator[str]:
        try:
            while (line := await queue.get()) is not None:
                yield line
        finally:
            if not task.done():
                task.cancel()

    async def status() -> int:
        try:
            return await task
        except asyncio.CancelledError:
            return 141  # like a shell's SIGPIPE status
        except Denied:
            return 2

    return lines(), status


HELP = """\
This terminal runs kubectl in your own namespace, plus a few helpers:

  kubectl ...                 e.g. kubectl get pods, kubectl apply -f petclinic-pod.yml
  ... | grep PATTERN          also head, tail, wc, sort, uniq (they read from the pipe)
  a ; b    a && b             run one after the other (&& only if the first succeeded)
  ls, cat NAME                the workspace files (edit them in the editor tab)
  history, clear, help        Ctrl-C stops a command, Ctrl-L clears, Up/Down recall lines

Not available here: shell variables, $(...), redirection (>), files outside the workspace,
kubectl proxy/cp/plugins. Every command is recorded in the audit log."""
