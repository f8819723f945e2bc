"""A terminal session: runs checked command lines for one student in their sandbox, and audits
each line.

Used identically by the WebSocket handler and by `manage.py terminal exec`, so tests of either
exercise the same parser, policy and runner. Output goes to a Sink as bytes ready for xterm.js
(CRLF line ends). The jobs are split: runner.py spawns and streams the processes, answers.py
answers what the platform does itself (edit, port-forward, the builtins), and this module
decides what each planned step is, keeps the session's credentials and files current, stops a
line at the student's memory ceiling and writes the audit log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from sandbox import credentials, lifecycle
from sandbox.models import Sandbox
from sandbox.terminal import answers, ceiling, ledger, policy, process, workspace
from sandbox.terminal.answers import Notify
from sandbox.terminal.errors import Denied
from sandbox.terminal.models import CommandAudit
from sandbox.terminal.output import RED, RESET, Limits, OutputLimit, Sink, Throttle, error_line
from sandbox.terminal.parser import ParseError, parse
from sandbox.terminal.runner import Folder, Runner

__all__ = ["Limits", "Session", "Sink"]

log = logging.getLogger(__name__)


class CeilingHit(Exception):
    """The kernel stopped one of the line's processes: the student's group ran out of memory."""


class Session:
    def __init__(
        self,
        user: User,
        sandbox: Sandbox,
        limits: Limits | None = None,
        *,
        notify: Notify | None = None,
        base_url: str = "",
        language: str | None = None,
    ) -> None:
        """notify: tells the page about things other than output (open a file in the editor, a
        port-forward link); base_url: scheme://host of the page, for the links the terminal
        prints; language: of the few messages the session itself prints (the page may change
        it later: a lesson's language)."""
        self.user, self.sandbox = user, sandbox
        self.limits = limits or Limits()
        self.notify, self.base_url = notify, base_url
        self.language = language or settings.LANGUAGE_CODE
        self.history: list[str] = []
        self.ident = process.identity()
        # Every process of every session of this student shares one memory/process/CPU ceiling.
        self.group = ceiling.acquire(user.pk)
        try:
            self.folder = Folder.create(self.ident)
        except BaseException:  # no session: give back what it took
            if self.group is not None:
                ceiling.release(user.pk, self.group)
            process.release(self.ident)
            raise
        self.runner = Runner(self.ident, self.folder, self.group, self.limits)
        self._token_at = 0.0
        self._token_refresh: asyncio.Task[None] | None = None
        # The workspace as the work directory holds it now, and the version it was fetched at.
        self._files: dict[str, str] = {}
        self._version: workspace.Version | None = None
        self._oom_before = 0
        self._bookkeeping: list[Future[Any]] = []  # the audit and activity writes not yet done
        self._completion: Callable[[], None] | None = None  # the last line's, not yet submitted
        ledger.opened()

    # --- public API -----------------------------------------------------------------------
    async def run_line(self, text: str, sink: Sink, *, files_version: workspace.Version | None = None) -> int:
        """Parse, check and run one line. Returns its exit status (2 when refused).
        files_version: the workspace's version as the caller just read it with the sandbox
        (workspace.live_sandbox), which saves the line a query."""
        started, began = timezone.now(), time.monotonic()
        text = text.strip()
        if not text:
            return 0
        self.history.append(text)
        del self.history[: -self.limits.history]
        self.flush()
        self.runner.begin_line()
        try:
            contents = await self._workspace(files_version)
            plan = policy.check_line(parse(text), set(contents))
        except (ParseError, Denied) as exc:
            await sink.write(error_line(exc.message))
            self._audit_denied(text, started, exc.message, began)
            return 2
        audit = self._audit_start(text, started)  # unfinished until the line ends
        outcome, reason = CommandAudit.Outcome.RAN, ""
        try:
            await self._prepare(contents)
            status = await self._run_plan(plan, sink)
            if self.runner.interrupted:
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
            self._record(audit, CommandAudit.Outcome.INTERRUPTED, 130, "disconnected", began)
            raise
        except Exception as exc:  # reported to the student and logged; the session must survive it
            log.exception("terminal command failed to start")
            status, outcome, reason = 126, CommandAudit.Outcome.FAILED, type(exc).__name__
            await sink.write(error_line(f"could not run the command: {_describe(exc)}"))
        finally:
            await self.runner.end_line()
        if outcome == CommandAudit.Outcome.RAN and self._ceiling_hit():
            # Seen only once every process was reaped (e.g. the first stage of a pipeline whose
            # last stage ended normally).
            status, outcome, reason = 137, CommandAudit.Outcome.INTERRUPTED, "memory ceiling"
            await sink.write(self._ceiling_message())
        self._record(audit, outcome, status, reason, began)
        return status

    def flush(self) -> None:
        """Hand the last line's audit completion to the ledger's thread. The page's socket calls
        this once the exit status is on its way, so the write's Python work does not compete
        with that answer for the interpreter; otherwise the next line, settled() and close()
        do it."""
        if self._completion is not None:
            write, self._completion = self._completion, None
            self._bookkeeping.append(ledger.submit(write))

    async def settled(self) -> None:
        """Wait for the audit and activity writes of the lines run so far."""
        self.flush()
        pending, self._bookkeeping = self._bookkeeping, []
        for future in pending:
            with contextlib.suppress(Exception):  # logged by the ledger
                await asyncio.wrap_future(future)

    def interrupt(self) -> None:
        """Ctrl-C."""
        self.runner.interrupt()

    def feed(self, data: bytes) -> None:
        """Keystrokes for an interactive command (exec -it, attach, run -i)."""
        self.runner.feed(data)

    def resize(self, cols: int, rows: int) -> None:
        self.runner.resize(cols, rows)

    def kill(self) -> None:
        """Stop every process of the running line at once (the student went away)."""
        self.runner.kill()

    async def close(self) -> None:
        await self.runner.stop_all()
        # Anything still running as this session's user (only possible if a command escaped its
        # process group) ends with the session. Not after every line: that would add a process
        # start to every command's round trip.
        await asyncio.to_thread(process.kill_everything_of, self.ident)
        if self.group is not None:
            ceiling.release(self.user.pk, self.group)
            self.group = None
        if self._token_refresh is not None:
            self._token_refresh.cancel()
            await asyncio.gather(self._token_refresh, return_exceptions=True)
        await self.settled()
        await asyncio.wrap_future(ledger.closed())
        self.folder.remove()
        process.release(self.ident)

    # --- one line ---------------------------------------------------------------------------
    async def _workspace(self, version: workspace.Version | None) -> dict[str, str]:
        """The workspace files as saved right now: the contents are fetched again only when the
        workspace's version changed."""
        if version is None:
            version = await ledger.run(workspace.version, self.sandbox.pk)
        if version != self._version:
            self._files = await ledger.run(workspace.files, self.sandbox)
            workspace.materialize(self._files, self.folder.work, ident=self.ident)
            self._version = version
        return self._files

    async def _prepare(self, contents: dict[str, str]) -> None:
        # A token before the first line; later a fresh one is fetched in the background once
        # the current one is half-way to expiring, while lines go on with the current one
        # (written atomically, so a kubectl reads one or the other whole). Files were made
        # current by _workspace().
        age = time.monotonic() - self._token_at
        if not self._token_at or age > settings.SANDBOX_TOKEN_MINUTES * 60 * 0.9:
            await self._refresh_token()  # none yet, or too close to its end to keep using
        elif age > settings.SANDBOX_TOKEN_MINUTES * 30 and self._token_refresh is None:
            self._token_refresh = asyncio.create_task(self._refresh_in_background())
        if self.group is not None:
            self.group.ensure()
            self._oom_before = self.group.oom_kills()

    async def _run_plan(self, plan: policy.Plan, sink: Sink) -> int:
        status = 0
        for joiner, steps in plan.pipelines:
            if self.runner.interrupted or (joiner == "&&" and status != 0):
                break
            streaming = any(isinstance(s, policy.KubectlStep) and s.call.streaming for s in steps)
            limit = self.limits.streaming_seconds if streaming else self.limits.command_seconds
            throttle = Throttle(sink, self.limits)
            async with asyncio.timeout(limit):
                match steps:
                    case (policy.EditStep() as step,):
                        status = await answers.edit(step, self.runner, self.sandbox, self.notify, throttle)
                    case (policy.ForwardStep() as step,):
                        status = await answers.forward(step, self.sandbox, self.base_url, self.notify, throttle)
                    case (policy.KubectlStep() as step,):
                        status = await self.runner.run_in_pty(step, throttle)
                    case _:
                        status = await self.runner.run_pipeline(steps, throttle, self._builtin)
            if self._ceiling_hit():  # the rest of the line would only meet the same ceiling
                raise CeilingHit
        return status

    async def _refresh_token(self) -> None:
        fetched_at = time.monotonic()
        text = await asyncio.to_thread(credentials.student_kubeconfig, self.sandbox)
        process.write_for_group(self.folder.kubeconfig, text, self.ident)
        self._token_at = fetched_at

    async def _refresh_in_background(self) -> None:
        try:
            await self._refresh_token()
        except Exception:  # the current token still serves; the next line tries again
            log.warning("could not refresh a terminal token in the background", exc_info=True)
        finally:
            self._token_refresh = None

    def _builtin(self, step: policy.BuiltinStep) -> AsyncIterator[str]:
        return answers.builtin(step, self.history, self.sandbox)

    # --- the student's resource ceiling ------------------------------------------------------
    def _ceiling_hit(self) -> bool:
        """A process of this line ended by SIGKILL that nobody here sent, and the group's OOM
        kill counter moved since the line began: the kernel stopped it at the ceiling."""
        if self.group is None or not self.runner.killed_by_sigkill():
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

    # --- the audit log ------------------------------------------------------------------------
    def _audit_start(self, text: str, started: Any) -> Future[CommandAudit]:
        """The line's audit row, written as unfinished on the ledger's thread while the line
        goes on: a line whose server is killed while it runs is still in the log."""
        row = CommandAudit(
            user=self.user,
            sandbox=self.sandbox,
            line=_printable(text),
            outcome=CommandAudit.Outcome.UNFINISHED,
            started_at=started,
        )
        future = ledger.submit(_save, row)
        self._bookkeeping = [*(f for f in self._bookkeeping if not f.done()), future]
        return future

    def _audit_denied(self, text: str, started: Any, reason: str, began: float) -> None:
        """A refused line: one row, written whole (nothing ran, nothing can be left unfinished)."""
        row = CommandAudit(
            user=self.user,
            sandbox=self.sandbox,
            line=_printable(text),
            outcome=CommandAudit.Outcome.DENIED,
            exit_status=2,
            reason=reason[:500],
            started_at=started,
            duration_ms=int((time.monotonic() - began) * 1000),
        )

        def write() -> None:
            row.save()
            lifecycle.touch(self.sandbox)

        self._completion = write

    def _record(self, audit: Future[CommandAudit], outcome: str, status: int, reason: str, began: float) -> None:
        """Complete the line's audit row and mark the sandbox active, in the background (after
        the row's insert: the ledger runs calls in order; submitted by flush()): the student's
        prompt waits for no database write. settled() and close() wait for them."""
        duration_ms = int((time.monotonic() - began) * 1000)

        def write() -> None:
            row = audit.result()  # done: queued before this call on the same thread
            row.outcome, row.exit_status, row.reason, row.duration_ms = outcome, status, reason[:500], duration_ms
            row.save(update_fields=["outcome", "exit_status", "reason", "duration_ms"])
            lifecycle.touch(self.sandbox)

        self._completion = write


def _printable(text: str) -> str:
    """Control characters (a NUL above all, which PostgreSQL refuses) kept visible, escaped."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)[:2000]


def _save(row: CommandAudit) -> CommandAudit:
    row.save()
    return row


def _describe(exc: BaseException) -> str:
    if isinstance(exc, credentials.NotReady):
        return "your sandbox is not ready yet; wait for it in the panel above"
    if isinstance(exc, ceiling.Unavailable):
        return "the server could not set up the resources of your terminals; try again in a moment"
    return "the cluster did not answer; try again in a moment"
