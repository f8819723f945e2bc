"""Spawning and streaming a terminal's processes: a lone kubectl in a pseudo-terminal (so
colours, `-w`, `exec -it` and Ctrl-C behave as in a real terminal), or a pipeline whose kubectl
stages write to pipes that our Python text tools read line by line. Every process starts in the
session's folder, as the session's user, inside the student's resource group."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import shutil
import signal
import struct
import tempfile
import termios
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sandbox.terminal import ceiling, kubectl_cache, policy, process
from sandbox.terminal.errors import Denied
from sandbox.terminal.output import RED, RESET, Limits, OutputLimit, Throttle

MAX_LINE = 64 * 1024
PTY_BACKLOG = 1024 * 1024

# A builtin's output for a pipeline (the session answers these: history, workspace files...).
Builtins = Callable[[policy.BuiltinStep], AsyncIterator[str]]


@dataclass(frozen=True)
class Folder:
    """A session's private folder. root/ (ours, 0711) holds the kubeconfig (ours, group-readable),
    work/ (ours, group-readable: the workspace copy) and home/ (the session user's: kubectl's
    cache). We never write into a folder the session user can write to, so a symlink planted
    there by the student's kubectl can never redirect one of our writes."""

    root: Path

    @classmethod
    def create(cls, ident: process.Identity) -> Folder:
        process.sweep_stale_sessions(tempfile.gettempdir())
        folder = cls(Path(tempfile.mkdtemp(prefix=process.session_prefix())))
        folder.root.chmod(0o711)
        for path in (folder.home, folder.work, folder.empty):
            path.mkdir()
        folder.work.chmod(0o750)
        folder.home.chmod(0o700)
        # Before the session's user owns its home (and can plant a link in it).
        kubectl_cache.seed(folder.home, ident.uid if ident.drop else None, ident.gid if ident.drop else None)
        if ident.drop:
            os.chown(folder.home, ident.uid, ident.gid)
            os.chown(folder.work, 0, ident.gid)
        return folder

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def work(self) -> Path:
        return self.root / "work"

    @property
    def empty(self) -> Path:
        return self.root / "empty-path"

    @property
    def kubeconfig(self) -> Path:
        return self.root / "kubeconfig"

    def remove(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class Runner:
    """The processes of one terminal: started, streamed, interrupted and reaped."""

    def __init__(self, ident: process.Identity, folder: Folder, group: ceiling.Group | None, limits: Limits) -> None:
        self.ident, self.folder, self.group, self.limits = ident, folder, group, limits
        self.cols, self.rows = 80, 24
        self.interrupted = False
        self._procs: set[asyncio.subprocess.Process] = set()
        self._line_procs: list[asyncio.subprocess.Process] = []  # every process of the current line
        self._master: int | None = None  # the PTY of the running interactive command
        self._interactive = False
        self._kill_timer: asyncio.TimerHandle | None = None  # Ctrl-C's follow-up SIGKILL

    # --- a line -------------------------------------------------------------------------------
    def begin_line(self) -> None:
        self.interrupted = False
        self._line_procs = []

    async def end_line(self) -> None:
        if self._kill_timer is not None:  # never let Ctrl-C's timer hit the next command
            self._kill_timer.cancel()
            self._kill_timer = None
        await self.stop_all()

    def killed_by_sigkill(self) -> bool:
        """Did a process of this line end by a SIGKILL that we did not send?"""
        return not self.interrupted and any(_killed(proc) for proc in self._line_procs)

    # --- control from the page ----------------------------------------------------------------
    def interrupt(self) -> None:
        """Ctrl-C: to the remote process for `exec -it`, else SIGINT, then SIGKILL if ignored."""
        self.interrupted = True
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

    def kill(self) -> None:
        """Stop every process of the running line at once (the student went away)."""
        self.interrupted = True
        self._kill_remaining()

    def _kill_remaining(self) -> None:
        for proc in list(self._procs):
            if proc.returncode is None:
                _signal_group(proc, signal.SIGKILL)

    async def stop_all(self) -> None:
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

    # --- running ------------------------------------------------------------------------------
    async def spawn(self, argv: tuple[str, ...], **streams: Any) -> asyncio.subprocess.Process:
        env = process.environment(self.folder.home, self.folder.kubeconfig, self.folder.empty, self.cols, self.rows)
        # Into the student's group before kubectl runs an instruction, under its own limits, as
        # the session's user, and bound to this server's life: one exec of the launcher.
        joins = self.group.join_files if self.group is not None else None
        program, *arguments = process.launch([process.executable(self.ident), *argv[1:]], self.ident, joins)
        proc = await asyncio.create_subprocess_exec(
            program, *arguments, env=env, cwd=self.folder.work, start_new_session=True, **streams
        )
        self._procs.add(proc)
        self._line_procs.append(proc)
        return proc

    async def capture(self, argv: tuple[str, ...], stdout_cap: int, stderr_cap: int) -> tuple[int, bytes, bytes]:
        """Run kubectl to its end with its output kept, not shown: (exit status, stdout, stderr),
        each cut at its cap."""
        proc = await self.spawn(
            argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        assert proc.stdout is not None  # noqa: S101  (PIPE above)
        assert proc.stderr is not None  # noqa: S101
        # Both pipes at once, each to its end or its cap: reading one while kubectl is blocked
        # writing the other would wait forever.
        stdout, stderr = await asyncio.gather(
            _read_capped(proc.stdout, stdout_cap), _read_capped(proc.stderr, stderr_cap)
        )
        return process.exit_status(await proc.wait()), stdout, stderr

    async def run_in_pty(self, step: policy.KubectlStep, out: Throttle) -> int:
        master, slave = pty.openpty()
        _set_size(slave, self.cols, self.rows)
        try:
            proc = await self.spawn(step.argv, stdin=slave, stdout=slave, stderr=slave)
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

    async def run_pipeline(self, steps: tuple[policy.Step, ...], out: Throttle, builtins: Builtins) -> int:
        statuses: list[Callable[[], Awaitable[int]]] = []
        upstream: AsyncIterator[str] | None = None
        background: list[asyncio.Task[None]] = []
        for step in steps:
            match step:
                case policy.KubectlStep():
                    proc = await self.spawn(
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
                case policy.ToolStep():
                    upstream, status = _tool_stream(step.tool, upstream)
                    statuses.append(status)
                case policy.BuiltinStep():
                    upstream = builtins(step)
                    statuses.append(_zero)
                case _:  # edit and port-forward are answered alone, never in a pipeline
                    raise Denied("this command cannot be part of a pipeline")
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


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> bytes:
    """Read to the end, keeping at most `cap` bytes (the rest is read and dropped)."""
    kept = b""
    while chunk := await stream.read(65536):
        if len(kept) < cap:
            kept += chunk[: cap - len(kept)]
    return kept


async def _zero() -> int:
    return 0


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
