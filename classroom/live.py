"""What the live class dashboard shows: one row per student and the stuck groups. Plain
functions over a handful of queries for the whole class (not per student), so the consumer
can rebuild the picture after every change."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from datetime import datetime
from typing import Any

from django.db.models import F, Window
from django.db.models.functions import RowNumber
from django.utils import timezone, translation

from classroom.access import students
from classroom.models import Classroom, Member
from classroom.results import course_steps
from lessons.engine import neutral
from lessons.models import Step, StepProgress
from sandbox.models import OWNED_STATES, Sandbox, State
from sandbox.terminal.models import CommandAudit

LINES_SHOWN = 3  # the last lines typed, per student


def group_name(classroom_id: int) -> str:
    return f"class-{classroom_id}"


def deadline(member: Member) -> datetime:
    """When the student's time is up: their allowance counted from the class's start (or from
    when they joined, if later), and never past the class's end."""
    begin = max(member.classroom.starts_at, member.joined_at)
    return min(member.classroom.ends_at, begin + member.allowance())


def _current(steps: list[Step], progress: dict[int, StepProgress]) -> Step | None:
    """The step the student is on: the first one not done in the lesson they touched last, or
    in the lessons after it; None when the course is done."""
    if not steps:
        return None
    latest = max(progress.values(), key=lambda p: p.updated_at, default=None)
    start = 0
    if latest is not None:
        lesson_id = next((s.lesson_id for s in steps if s.pk == latest.step_id), None)
        start = next((i for i, s in enumerate(steps) if s.lesson_id == lesson_id), 0)
    for step in steps[start:] + steps[:start]:
        row = progress.get(step.pk)
        if row is None or row.done_at is None:
            return step
    return None


def _last_lines(user_ids: list[int]) -> dict[int, list[str]]:
    ranked = CommandAudit.objects.filter(user_id__in=user_ids).annotate(
        rank=Window(RowNumber(), partition_by=[F("user_id")], order_by=[F("started_at").desc(), F("id").desc()])
    )
    lines: dict[int, list[str]] = defaultdict(list)
    for user_id, line in (
        ranked.filter(rank__lte=LINES_SHOWN).order_by("user_id", "rank").values_list("user_id", "line")
    ):
        if user_id is not None:
            lines[user_id].insert(0, line[:200])  # oldest first, as in a terminal
    return lines


def rows(classroom: Classroom, now: datetime | None = None) -> list[dict[str, Any]]:
    now = now or timezone.now()
    members = list(students(classroom).select_related("classroom"))
    user_ids = [m.user_id for m in members]
    steps = course_steps(classroom)
    progress: dict[int, dict[int, StepProgress]] = {uid: {} for uid in user_ids}
    for p in StepProgress.objects.filter(user_id__in=user_ids, step__in=steps):
        progress[p.user_id][p.step_id] = p
    sandboxes = {s.owner_id: s for s in Sandbox.objects.filter(owner_id__in=user_ids, state__in=OWNED_STATES)}
    lines = _last_lines(user_ids)
    result = []
    for member in members:
        mine = progress[member.user_id]
        step = _current(steps, mine)
        current = mine.get(step.pk) if step else None
        sandbox = sandboxes.get(member.user_id)
        done_by_lesson: dict[str, int] = defaultdict(int)
        for s in steps:
            if (done := mine.get(s.pk)) is not None and done.done_at is not None:
                done_by_lesson[s.lesson.slug] += 1
        failure = current.failures[0] if current is not None and current.failures else ""
        shown = neutral(failure, sandbox) if sandbox is not None else failure
        result.append(
            {
                "user_id": member.user_id,
                "name": member.user.get_username(),
                "lesson": step.lesson.slug if step else "",
                "lesson_title": step.lesson.localized("title") if step else "",
                "step": step.key if step else "",
                "step_title": step.localized("title") if step else "",
                "step_id": step.pk if step else None,
                "on_step_since": current.started_at.isoformat() if current else None,
                "done": sum(done_by_lesson.values()),
                "total": len(steps),
                "done_by_lesson": dict(done_by_lesson),
                "hints": sum(p.hints_shown for p in mine.values()),
                "skips": sum(1 for p in mine.values() if p.skipped),
                "failure": failure,
                # What groups stuck students: the same English, namespace-free wording whatever
                # their language (see StepProgress.failure_key); older rows fall back to the text.
                "failure_key": (current.failure_key if current is not None else "") or shown,
                "failure_neutral": shown,
                "lines": lines.get(member.user_id, []),
                "sandbox": sandbox.state if sandbox else "",
                "sandbox_label": str(State(sandbox.state).label) if sandbox else "",
                "deadline": deadline(member).isoformat(),
                "extra_minutes": member.extra_minutes,
            }
        )
    return result


def stuck_key(step_id: int, failure: str) -> str:
    return f"{step_id}:{hashlib.sha256(failure.encode()).hexdigest()[:16]}"


def stuck_groups(roster: list[dict[str, Any]], smallest: int = 2) -> list[dict[str, Any]]:
    """Students whose current step fails with the same message (the message names the actual
    and the expected value), largest group first, whatever each student's language and
    namespace. The message is shown in the active language when one of them reads it so."""
    english = (translation.get_language() or "en").startswith("en")
    groups: dict[str, dict[str, Any]] = {}
    for row in roster:
        if not row["failure"] or row["step_id"] is None:
            continue
        same = row.get("failure_key") or row["failure"]
        key = stuck_key(row["step_id"], same)
        group = groups.setdefault(
            key, {"key": key, "lesson": row["lesson"], "step": row["step"], "message": same, "user_ids": []}
        )
        wording = row.get("failure_neutral") or row["failure"]
        # A student reading another language than English said it in the dashboard's language.
        if not english and group["message"] == same and wording != same:
            group["message"] = wording
        group["user_ids"].append(row["user_id"])
    found = [dict(g, count=len(g["user_ids"])) for g in groups.values() if len(g["user_ids"]) >= smallest]
    return sorted(found, key=lambda g: (-g["count"], g["lesson"], g["step"]))


def lesson_summary(classroom: Classroom, roster: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per lesson of the course: its steps and how many students finished it, how many are on it."""
    steps = course_steps(classroom)
    counts: dict[str, int] = defaultdict(int)
    for s in steps:
        counts[s.lesson.slug] += 1
    summary = []
    for lesson in classroom.lessons():
        total = counts.get(lesson.slug, 0)
        finished = sum(1 for r in roster if total and r["done_by_lesson"].get(lesson.slug, 0) >= total)
        summary.append(
            {
                "lesson": lesson.slug,
                "title": lesson.localized("title"),
                "steps": total,
                "finished": finished,
                "working": sum(1 for r in roster if r["lesson"] == lesson.slug),
            }
        )
    return summary


def snapshot(classroom: Classroom) -> dict[str, Any]:
    roster = rows(classroom)
    return {
        "type": "class.snapshot",
        "rows": roster,
        "stuck": stuck_groups(roster),
        "lessons": lesson_summary(classroom, roster),
    }
