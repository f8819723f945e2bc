"""A class rehearsed before it starts: N simulated students each get a sandbox of the class's
size and run the course's first lesson's solutions through the same terminal Session a student
types into (lessons.ci), the way the lesson's CI does. The report says how long sandboxes took
to start, how long checks took to pass after a solution, how full the fullest sandbox's quota
got, and whether the cluster has room for the whole class. Everything it made is removed."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections, transaction
from django.utils import timezone

from classroom.access import students
from classroom.models import Classroom
from lessons import ci, engine
from lessons.models import Lesson
from sandbox import jobs, k8s, lifecycle, provisioning
from sandbox.models import LIVE_STATES, Sandbox
from sandbox.quantity import cpu_text, millicores, quantity

log = logging.getLogger(__name__)

# Rehearsal users are named so that an interrupted run's leftovers are recognisable.
USER_PREFIX = "rehearsal-"
SIMULATED_TAINT_KEY = "kwok.x-k8s.io/node"
MAX_STUDENTS = 500


@dataclass
class Report:
    students: int
    lesson: str
    seconds: float = 0.0
    start_p50: float = 0.0
    start_p95: float = 0.0
    check_p50: float = 0.0
    check_p95: float = 0.0
    steps_ok: int = 0
    steps_failed: list[str] = field(default_factory=list)
    # resource -> the fullest rehearsal sandbox's used/hard, as a fraction
    quota_peak: dict[str, float] = field(default_factory=dict)
    live_now: int = 0
    class_size: int = 0
    live_limit: int = 0
    class_cpu_needs: str = "0"
    node_cpu_free: str = "0"
    room: bool = False
    finished_at: str = ""

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _Student:
    start_seconds: float = 0.0
    check_seconds: list[float] = field(default_factory=list)
    steps_ok: int = 0
    failure: str = ""
    quota: dict[str, float] = field(default_factory=dict)
    cpu_requested: int = 0  # millicores, the most the sandbox's quota showed in use


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (0 for no values): with few samples, a real one of them."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, round(share * len(ordered) + 0.4999))
    return ordered[min(rank, len(ordered)) - 1]


def first_lesson(classroom: Classroom) -> Lesson:
    lessons = classroom.lessons()
    if not lessons:
        raise ValueError("the class has no lessons yet: add its course first")
    return lessons[0]


def quota_shares(namespace: str) -> tuple[dict[str, float], int]:
    """used/hard per resource of the namespace's quota, and its requests.cpu in use (millicores)."""
    shares: dict[str, float] = {}
    cpu = 0
    with k8s.as_checker():
        quotas = k8s.core().list_namespaced_resource_quota(namespace).items
    for item in quotas:
        status = item.status
        hard, used = (status.hard or {}), (status.used or {})
        for resource, limit in hard.items():
            try:
                total = quantity(limit)
                if total:
                    shares[resource] = float(quantity(used.get(resource, "0")) / total)
            except ValueError:
                continue
        cpu = max(cpu, millicores(used.get("requests.cpu", "0")))
    return shares, cpu


def free_cpu_on_real_nodes() -> int:
    """Allocatable minus requested CPU (millicores) on the nodes students' Pods can run on (the
    simulated nodes are tainted and carry only benchmarks)."""
    # The reader identity the live view and the checks use: the operator may not list nodes.
    with k8s.as_checker():
        nodes, _ = k8s.list_raw("Node")
        pods, _ = k8s.list_raw("Pod")
    real = {
        node["metadata"]["name"]: millicores((node.get("status") or {}).get("allocatable", {}).get("cpu", "0"))
        for node in nodes
        if not any(t.get("key") == SIMULATED_TAINT_KEY for t in (node.get("spec") or {}).get("taints") or [])
        and not (node.get("spec") or {}).get("unschedulable")
    }
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node not in real or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        for container in pod["spec"].get("containers") or []:
            requested = ((container.get("resources") or {}).get("requests") or {}).get("cpu")
            if requested:
                real[node] -= millicores(requested)
    return max(sum(real.values()), 0)


def _run_student(classroom: Classroom, lesson: Lesson, username: str) -> _Student:
    result = _Student()
    user = User.objects.create_user(username)
    sandbox: Sandbox | None = None
    try:
        needs = lesson.needs or {}
        started = time.monotonic()
        sandbox = lifecycle.create_sandbox(
            user, size=classroom.size, extra_namespaces=list(needs.get("extra_namespaces") or []), enqueue=False
        )
        if not provisioning.provision(sandbox.pk):
            result.failure = f"{username}: the sandbox could not be provisioned"
            return result
        result.start_seconds = time.monotonic() - started
        sandbox.refresh_from_db()
        engine.seed_files(lesson, sandbox, overwrite=True)
        since = timezone.now()
        for step in lesson.steps.all():
            report = ci.run_step(user, sandbox, step, since)
            shares, cpu = quota_shares(sandbox.namespace)
            result.cpu_requested = max(result.cpu_requested, cpu)
            for resource, share in shares.items():
                result.quota[resource] = max(result.quota.get(resource, 0.0), share)
            if not report.ok:
                result.failure = f"{username} {lesson.slug}/{step.key}: {report.problem}"
                return result
            result.steps_ok += 1
            result.check_seconds.append(report.check_seconds)
        return result
    except Exception as exc:  # one student's failure is a line of the report, not the end of it
        log.exception("rehearsal student %s failed", username)
        result.failure = f"{username}: {type(exc).__name__}: {exc}"
        return result
    finally:
        if sandbox is not None:
            provisioning.destroy(sandbox.pk)
        connections.close_all()  # this thread's own connection


def rehearse(classroom: Classroom, count: int, *, parallel: int = 10) -> Report:
    """Run `count` simulated students through the class's first lesson at once (at most
    `parallel` at a time) and report; raises ValueError for a class that cannot be rehearsed."""
    if not 1 <= count <= MAX_STUDENTS:
        raise ValueError(f"rehearse 1 to {MAX_STUDENTS} students")
    lesson = first_lesson(classroom)
    started = time.monotonic()
    report = Report(students=count, lesson=lesson.slug)
    # Measured before the rehearsal's own Pods take their share.
    cpu_free = free_cpu_on_real_nodes()
    report.live_now = (
        Sandbox.objects.filter(state__in=LIVE_STATES).exclude(owner__username__startswith=USER_PREFIX).count()
    )
    report.class_size = max(students(classroom).count(), count)
    report.live_limit = settings.SANDBOX_MAX_LIVE

    run = uuid.uuid4().hex[:6]
    names = [f"{USER_PREFIX}{run}-{i}" for i in range(count)]
    lock = threading.Lock()
    results: list[_Student] = []

    def one(name: str) -> None:
        result = _run_student(classroom, lesson, name)
        with lock:
            results.append(result)

    try:
        with ThreadPoolExecutor(max_workers=max(1, min(parallel, count))) as pool:
            list(pool.map(one, names))
    finally:
        User.objects.filter(username__in=names).delete()

    starts = [r.start_seconds for r in results if r.start_seconds]
    checks = [s for r in results for s in r.check_seconds]
    report.start_p50, report.start_p95 = percentile(starts, 0.5), percentile(starts, 0.95)
    report.check_p50, report.check_p95 = percentile(checks, 0.5), percentile(checks, 0.95)
    report.steps_ok = sum(r.steps_ok for r in results)
    report.steps_failed = sorted(r.failure for r in results if r.failure)
    for r in results:
        for resource, share in r.quota.items():
            report.quota_peak[resource] = max(report.quota_peak.get(resource, 0.0), share)
    per_student = max((r.cpu_requested for r in results), default=0)
    needs = per_student * report.class_size
    report.class_cpu_needs, report.node_cpu_free = cpu_text(needs), cpu_text(cpu_free)
    fits_live = not report.live_limit or report.live_now + report.class_size <= report.live_limit
    report.room = fits_live and needs <= cpu_free and not report.steps_failed
    report.seconds = round(time.monotonic() - started, 1)
    report.finished_at = timezone.now().isoformat()
    return report


def summary(report: Report) -> list[str]:
    """The report as lines for a terminal (the class page shows the same fields in a table)."""
    lines = [
        f"rehearsal: {report.students} students, lesson {report.lesson}, {report.seconds}s",
        f"  sandbox start  p50 {report.start_p50:.1f}s  p95 {report.start_p95:.1f}s",
        f"  check passed after the solution  p50 {report.check_p50:.1f}s  p95 {report.check_p95:.1f}s"
        f" ({report.steps_ok} steps)",
    ]
    lines += [
        f"  quota {resource}: fullest sandbox at {share:.0%}" for resource, share in sorted(report.quota_peak.items())
    ]
    lines.append(
        f"  room: live sandboxes {report.live_now} + class {report.class_size} (limit {report.live_limit or 'none'});"
        f" CPU the class asks {report.class_cpu_needs} of {report.node_cpu_free} free on the real nodes"
    )
    lines += [f"  FAILED {failure}" for failure in report.steps_failed]
    lines.append("the cluster has room for the class" if report.room else "the class does NOT fit: see above")
    return lines


TASK = "classroom.tasks.rehearse"
# A rehearsal still marked running after this long was lost with its worker.
STALE_AFTER_SECONDS = 3600


def running(classroom: Classroom) -> bool:
    kept = classroom.rehearsal or {}
    if not kept.get("running"):
        return False
    started = kept.get("started_at", "")
    try:
        age = (timezone.now() - datetime.fromisoformat(started)).total_seconds()
    except (TypeError, ValueError):
        return False
    return age < STALE_AFTER_SECONDS


def request(classroom: Classroom, count: int, *, parallel: int = 10) -> bool:
    """Ask a worker to rehearse the class; False when one is already running."""
    if not 1 <= count <= MAX_STUDENTS:
        raise ValueError(f"rehearse 1 to {MAX_STUDENTS} students")
    first_lesson(classroom)  # refuse a class with no course now, not in the worker
    with transaction.atomic():
        locked = Classroom.objects.select_for_update().get(pk=classroom.pk)
        if running(locked):
            return False
        locked.rehearsal = {"running": True, "students": count, "started_at": timezone.now().isoformat()}
        locked.save(update_fields=["rehearsal"])
        jobs.after_commit(TASK, locked.pk, count, parallel)
    return True


def run_and_keep(classroom_id: int, count: int, *, parallel: int = 10) -> None:
    """The worker's side: rehearse and keep the report (or what went wrong) on the class."""
    classroom = Classroom.objects.filter(pk=classroom_id).first()
    if classroom is None:
        return  # deleted meanwhile
    try:
        kept = rehearse(classroom, count, parallel=parallel).as_json()
    except Exception as exc:
        log.exception("the rehearsal of class %s failed", classroom_id)
        kept = {"error": f"{type(exc).__name__}: {exc}"[:500], "finished_at": timezone.now().isoformat()}
    Classroom.objects.filter(pk=classroom_id).update(rehearsal=kept)
