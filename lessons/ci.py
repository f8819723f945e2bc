"""Lesson CI: prove a lesson can be completed. For each lesson, a fresh sandbox; for each
step, its checks must fail first, then its solution runs through the same terminal Session a
student types into, and the checks must pass within the step's wait_seconds."""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from asgiref.sync import sync_to_async
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone

from lessons import engine, templating
from lessons.format import solution_line
from lessons.models import Lesson, Step
from sandbox import k8s, lifecycle, provisioning
from sandbox.models import Sandbox
from sandbox.terminal.session import Session

POLL_SECONDS = 0.5
# kubectl picks the Pod of `exec deployment/...` (and of logs, attach, port-forward) by its
# readiness and age, not by whether it is being deleted: right after a rollout it may pick the
# old Pod, still shutting down ("container not found"). A student reads the text between two
# lines and, as the lessons say, waits for it to go; the runner waits as well (at most this long).
PICKS_A_POD = re.compile(r"^kubectl\s+(exec|logs|attach|port-forward)\b")
SETTLE_SECONDS = 60


@dataclass
class StepReport:
    key: str
    seconds: float
    ok: bool
    problem: str = ""
    # From the solution's last line to the checks passing: what a student waits for.
    check_seconds: float = 0.0


@dataclass
class LessonReport:
    slug: str
    steps: list[StepReport] = field(default_factory=list)
    seconds: float = 0.0
    problem: str = ""

    @property
    def ok(self) -> bool:
        return not self.problem and all(step.ok for step in self.steps)


class Transcript:
    """The terminal's output, kept for the report when a line fails."""

    def __init__(self) -> None:
        self.data = bytearray()

    async def write(self, data: bytes) -> None:
        self.data += data[: 64 * 1024]

    def text(self) -> str:
        return self.data.decode(errors="replace").replace("\r\n", "\n")[-2000:]


async def run_lines(user: User, sandbox: Sandbox, lines: list[str]) -> str:
    """Run lines in one terminal session; '' when each ends as it should (succeeds, or fails
    when marked "! "), else what went wrong."""
    session = Session(user, sandbox)
    try:
        for marked in lines:
            line, must_fail = solution_line(marked)
            if PICKS_A_POD.match(line):
                await settle(sandbox)
            transcript = Transcript()
            status = await session.run_line(line, transcript)
            if must_fail and status == 0:
                return f"`{line}` succeeded, but the lesson says it fails here:\n{transcript.text()}"
            if status != 0 and not must_fail:
                return f"`{line}` exited with {status}:\n{transcript.text()}"
    finally:
        await session.close()
        # sync_to_async's worker thread opened its own database connection; this asyncio.run
        # is its last user.
        await sync_to_async(connections.close_all)()
    return ""


def terminating(sandbox: Sandbox) -> bool:
    """Whether a Pod of the sandbox is shutting down."""
    with k8s.as_checker():
        for namespace in sandbox.all_namespaces():
            pods, _ = k8s.list_raw("Pod", field_selector=f"metadata.namespace={namespace}")
            if any(pod["metadata"].get("deletionTimestamp") for pod in pods):
                return True
    return False


async def settle(sandbox: Sandbox) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while time.monotonic() < deadline and await sync_to_async(terminating, thread_sensitive=False)(sandbox):
        await asyncio.sleep(POLL_SECONDS)


def run_step(user: User, sandbox: Sandbox, step: Step, since: datetime) -> StepReport:
    started = time.monotonic()

    def failures() -> list[str]:
        return engine.step_failures(step, sandbox, engine.ClusterWorld(sandbox, since=since))

    before = failures()
    if not before:
        return StepReport(step.key, time.monotonic() - started, False, "its checks passed before the solution ran")
    lines = [templating.render(line, engine.context(sandbox)) for line in step.solution]
    problem = asyncio.run(run_lines(user, sandbox, lines))
    if problem:
        return StepReport(step.key, time.monotonic() - started, False, problem)
    solved = time.monotonic()
    deadline = solved + step.wait_seconds
    while True:
        missing = failures()
        if not missing:
            now = time.monotonic()
            return StepReport(step.key, now - started, True, check_seconds=now - solved)
        if time.monotonic() > deadline:
            return StepReport(
                step.key,
                time.monotonic() - started,
                False,
                f"checks still failing {step.wait_seconds}s after the solution: " + " | ".join(missing),
            )
        time.sleep(POLL_SECONDS)


def run_lesson(lesson: Lesson, *, on_step: Callable[[StepReport], None] | None = None) -> LessonReport:
    started = time.monotonic()
    report = LessonReport(lesson.slug)
    user = User.objects.create_user(f"lesson-ci-{uuid.uuid4().hex[:10]}")
    needs = lesson.needs or {}
    sandbox = lifecycle.create_sandbox(
        user, size=needs.get("size"), extra_namespaces=list(needs.get("extra_namespaces") or []), enqueue=False
    )
    try:
        if not provisioning.provision(sandbox.pk):
            report.problem = "the sandbox could not be provisioned"
            return report
        sandbox.refresh_from_db()
        engine.seed_files(lesson, sandbox, overwrite=True)
        since = timezone.now()
        for step in lesson.steps.all():
            step_report = run_step(user, sandbox, step, since)
            report.steps.append(step_report)
            if on_step:
                on_step(step_report)
            if not step_report.ok:
                break
    finally:
        provisioning.destroy(sandbox.pk)
        report.seconds = time.monotonic() - started
    return report
