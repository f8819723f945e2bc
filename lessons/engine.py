"""A student's progress through a lesson: starting it (a sandbox that fits, the lesson's files
in the workspace), checking the current step, hints, skip, reset. Plain functions over the
database and the cluster; the WebSocket handler and the views are thin layers over these."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone, translation

from lessons import checks, templating
from lessons.format import solution_line
from lessons.models import Lesson, Step, StepProgress, in_language
from sandbox import api, k8s, manifests
from sandbox.models import Sandbox, State
from sandbox.terminal import workspace
from sandbox.terminal.models import CommandAudit

MAX_AUDIT_LINES = 500


def context(sandbox: Sandbox) -> dict[str, Any]:
    return {
        "namespace": sandbox.namespace,
        "node_port": sandbox.node_port or "",
        "registry": templating.registry_prefix(settings.LESSONS_IMAGE_REGISTRY),
    }


@dataclass
class ClusterWorld:
    """What checks see: the sandbox's objects, and the lines the terminal ran successfully.
    The objects come from `cache` when it holds them (the live view's watcher answered, see
    lessons/realtime.py); any other kind is listed from the API server with the checker's
    read-only identity, once per evaluation."""

    sandbox: Sandbox
    # Terminal lines count from this moment: the lesson's start, so a command run in another
    # lesson, or before the lesson was started again, does not complete a step.
    since: datetime | None = None
    cache: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    fetched: dict[tuple[str, str], tuple[int, str]] = field(default_factory=dict)
    ran: dict[tuple[str, ...], tuple[int | None, str]] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return self.sandbox.namespace

    @property
    def namespaces(self) -> list[str]:
        return self.sandbox.all_namespaces()

    def objects(self, kind: str, namespace: str) -> list[dict[str, Any]]:
        key = (kind, namespace)
        if key not in self.cache:
            with k8s.as_checker():
                self.cache[key], _ = k8s.list_raw(kind, field_selector=f"metadata.namespace={namespace}")
        return self.cache[key]

    def fetch(self, kind: str, name: str, port: int, path: str, namespace: str) -> tuple[int, str]:
        """GET through the API server's proxy, with the prober's identity (GET on services/proxy
        and pods/proxy, nothing else); once per evaluation, like the lists."""
        key = (f"{kind}/{name}:{port}{path}", namespace)
        if key not in self.fetched:
            try:
                with k8s.as_prober():
                    self.fetched[key] = k8s.proxy_get(kind, namespace, name, port, path)
            except FileNotFoundError as exc:  # no prober kubeconfig: the install has not run
                self.fetched[key] = (0, str(exc))
        return self.fetched[key]

    def run(self, namespace: str, pod: str, container: str | None, command: list[str]) -> tuple[int | None, str]:
        """A command in a container, with the prober's identity (exec into the sandboxes' Pods,
        nothing else); once per evaluation."""
        key = (namespace, pod, container or "", *command)
        if key not in self.ran:
            try:
                with k8s.as_prober():
                    self.ran[key] = k8s.exec_output(namespace, pod, container, command)
            except FileNotFoundError as exc:  # no prober kubeconfig: the install has not run
                self.ran[key] = (None, str(exc))
        return self.ran[key]

    def ran_lines(self) -> list[str]:
        rows = CommandAudit.objects.filter(sandbox=self.sandbox, outcome=CommandAudit.Outcome.RAN, exit_status=0)
        if self.since is not None:
            rows = rows.filter(started_at__gte=self.since)
        return list(rows.values_list("line", flat=True)[:MAX_AUDIT_LINES])


def step_failures(step: Step, sandbox: Sandbox, world: ClusterWorld) -> list[str]:
    """What is still missing for this step (empty: done), in the active language."""
    ctx = context(sandbox)
    failures = []
    for check in step.checks:
        result = checks.evaluate(templating.render_data(check, ctx), world)
        # Several checks on a missing object all say it is missing: say it once.
        if not result.ok and result.message not in failures:
            failures.append(result.message)
    return failures


NAMESPACE_MARK = "<namespace>"


def neutral(message: str, sandbox: Sandbox) -> str:
    """A failure message as every student would read it: their namespace (and so the extra
    namespaces named after it) replaced by a mark."""
    return message.replace(sandbox.namespace, NAMESPACE_MARK) if sandbox.namespace else message


def failure_key(step: Step, sandbox: Sandbox, world: ClusterWorld, failures: list[str]) -> str:
    """The first failure in English, neutral (see StepProgress.failure_key). The checks read
    what the world already fetched, so saying it again in English asks the cluster nothing."""
    if not failures:
        return ""
    if translation.get_language() not in (None, "en"):
        with translation.override("en"):
            failures = step_failures(step, sandbox, world) or failures
    return neutral(failures[0], sandbox)[:500]


def fits(lesson: Lesson, sandbox: Sandbox) -> bool:
    needs = lesson.needs or {}
    wanted = needs.get("size", sandbox.size)
    # A bigger sandbox fits a smaller need; a size that is not a preset is not held against it.
    known = wanted in manifests.PRESETS and sandbox.size in manifests.PRESETS
    big_enough = not known or manifests.largest([wanted, sandbox.size]) == sandbox.size
    # Every sandbox reserves one NodePort when it is made; a lesson that needs it (a NodePort
    # Service on {{ node_port }}) does not fit one without.
    has_port = needs.get("node_ports", 0) <= (1 if sandbox.node_port else 0)
    return big_enough and has_port and set(needs.get("extra_namespaces") or []) <= set(sandbox.extra_namespaces)


# Apps built above the lessons may ask for a bigger sandbox than a lesson needs: a class gives
# its students sandboxes of the class's size (classroom.apps registers it). Each adviser returns
# a size preset's name, or None when it has no say for this student and lesson.
SizeAdviser = Callable[[User, Lesson], "str | None"]
size_advisers: list[SizeAdviser] = []


def wanted_size(user: User, lesson: Lesson) -> str | None:
    """The size a new sandbox for this lesson gets: the largest of the lesson's need and what
    the advisers ask for (None: the platform's default)."""
    return manifests.largest([(lesson.needs or {}).get("size"), *(adviser(user, lesson) for adviser in size_advisers)])


def begin(user: User, lesson: Lesson, *, replace: bool = False) -> tuple[Sandbox | None, bool]:
    """Make sure the student has a sandbox this lesson can use, with the lesson's files.
    Returns (sandbox, fits). A sandbox that does not fit is replaced only when asked: a worker
    then removes it with everything in it. Raises api.StartRefused when a new sandbox may not be
    started now (the student's starts are used up, or the class is full and they wait in line)."""
    sandbox = api.current(user)
    # A sandbox that already fits is kept whatever its size (it holds the student's work); a
    # new one gets the size the lesson and the student's class ask for.
    size, extra = wanted_size(user, lesson), list((lesson.needs or {}).get("extra_namespaces") or [])
    if sandbox is not None and not fits(lesson, sandbox):
        if not replace:
            return sandbox, False
        sandbox = api.replace(user, sandbox, size=size, extra_namespaces=extra)
    else:
        # The current sandbox (a failed one is provisioned again), or a new one of the lesson's shape.
        sandbox = api.start(user, size=size, extra_namespaces=extra)
    seed_files(lesson, sandbox, overwrite=False)
    return sandbox, True


def seed_files(lesson: Lesson, sandbox: Sandbox, *, overwrite: bool) -> None:
    ctx = context(sandbox)
    existing = set(workspace.files(sandbox))
    for name, content in (lesson.files or {}).items():
        if overwrite or name not in existing:
            workspace.save(sandbox, name, templating.render(content, ctx))


def _progress(user: User, lesson: Lesson) -> dict[int, StepProgress]:
    return {p.step_id: p for p in StepProgress.objects.filter(user=user, step__lesson=lesson)}


def current_step(user: User, lesson: Lesson) -> Step | None:
    done = set(
        StepProgress.objects.filter(user=user, step__lesson=lesson, done_at__isnull=False).values_list(
            "step_id", flat=True
        )
    )
    return next((step for step in lesson.steps.all() if step.pk not in done), None)


def lesson_started(user: User, lesson: Lesson) -> datetime | None:
    """When the student began this lesson (its progress is forgotten when it is started again)."""
    first = StepProgress.objects.filter(user=user, step__lesson=lesson).order_by("started_at").first()
    return first.started_at if first else None


def kinds_read(lesson: Lesson) -> list[str]:
    """Every kind the lesson's checks read."""
    return sorted({kind for step in lesson.steps.all() for check in step.checks for kind in checks.kinds_read(check)})


Objects = dict[tuple[str, str], list[dict[str, Any]]]


def check(user: User, lesson: Lesson, sandbox: Sandbox, objects: Objects | None = None) -> None:
    """Evaluate the current step; when it passes, mark it done and go on to the next, until a
    step is not done yet (its failures are kept for the page) or the lesson is complete.
    `objects`: what the checks read, by (kind, namespace), when the caller has it already."""
    if sandbox.state not in (State.READY,):
        return
    now = timezone.now()
    world = ClusterWorld(sandbox, since=lesson_started(user, lesson) or now, cache=dict(objects or {}))
    while (step := current_step(user, lesson)) is not None:
        failures = step_failures(step, sandbox, world)
        progress, created = StepProgress.objects.get_or_create(user=user, step=step)
        # Checks run by themselves after every change, so an attempt is a new wrong answer: a
        # failure that differs from the last one (not the first look at a fresh step).
        if failures and not created and failures != progress.failures:
            progress.failed_checks += 1
        progress.checked_at = now
        if failures != progress.failures or (failures and not progress.failure_key):
            # Only a new wrong answer is said again in English (checks run after every change).
            progress.failure_key = failure_key(step, sandbox, world, failures)
        progress.failures = failures
        progress.updated_at = now
        if failures:
            progress.save()
            return
        progress.done_at = now
        progress.save()


def state(user: User, lesson: Lesson, sandbox: Sandbox | None = None) -> dict[str, Any]:
    """What the lesson page shows, in the active language: each step's status, what its last
    check said, and the hints revealed so far (placeholders filled in when there is a sandbox)."""
    progress = _progress(user, lesson)
    ctx = context(sandbox) if sandbox is not None else None
    steps = []
    current_found = False
    for step in lesson.steps.all():
        row = progress.get(step.pk)
        if row and row.done_at:
            status = "skipped" if row.skipped else "done"
        elif not current_found:
            status, current_found = "current", True
        else:
            status = "pending"
        shown = row.hints_shown if row else 0
        steps.append(
            {
                "key": step.key,
                "status": status,
                "failures": (row.failures if row and status == "current" else []),
                "hints": [
                    templating.render(in_language(h), ctx) if ctx else in_language(h) for h in step.hints[:shown]
                ],
                "more_hints": shown < len(step.hints),
            }
        )
    return {"type": "lesson.state", "lesson": lesson.slug, "steps": steps, "complete": not current_found}


def _step(lesson: Lesson, key: object) -> Step | None:
    if not isinstance(key, str):
        return None
    return lesson.steps.filter(key=key).first()


def reveal_hint(user: User, lesson: Lesson, key: object) -> bool:
    step = _step(lesson, key)
    if step is None:
        return False
    with transaction.atomic():
        progress, _ = StepProgress.objects.select_for_update().get_or_create(user=user, step=step)
        if progress.hints_shown < len(step.hints):
            progress.hints_shown += 1
            progress.save(update_fields=["hints_shown"])
    return True


def skip(user: User, lesson: Lesson, key: object, sandbox: Sandbox) -> list[str]:
    """The solution's lines for the terminal to run; the step is marked as skipped, and turns
    complete when its checks pass, like any other."""
    step = _step(lesson, key)
    if step is None:
        return []
    progress, _ = StepProgress.objects.get_or_create(user=user, step=step)
    progress.skipped = True
    progress.save(update_fields=["skipped"])
    ctx = context(sandbox)
    return [templating.render(solution_line(line)[0], ctx) for line in step.solution]


def reset_step(user: User, lesson: Lesson, key: object, sandbox: Sandbox) -> list[str]:
    """Forget this step and the ones after it; returns the step's undo lines for the terminal."""
    step = _step(lesson, key)
    if step is None:
        return []
    StepProgress.objects.filter(user=user, step__lesson=lesson, step__position__gte=step.position).delete()
    ctx = context(sandbox)
    return [templating.render(line, ctx) for line in step.undo]


def reset_lesson(user: User, lesson: Lesson, sandbox: Sandbox | None) -> None:
    """Start over: no progress, an empty namespace, the lesson's files as they were handed out."""
    StepProgress.objects.filter(user=user, step__lesson=lesson).delete()
    if sandbox is not None:
        with transaction.atomic():
            api.reset(sandbox)  # only a ready sandbox; a reset under way is enough
        seed_files(lesson, sandbox, overwrite=True)


def completed_counts(user: User) -> dict[int, int]:
    """Steps done per lesson id, for the lesson list."""
    counts: dict[int, int] = {}
    for lesson_id in StepProgress.objects.filter(user=user, done_at__isnull=False).values_list(
        "step__lesson_id", flat=True
    ):
        counts[lesson_id] = counts.get(lesson_id, 0) + 1
    return counts
