"""A class's results: each student's progress on each step of the course, for the per-student
page and the CSV and JSON exports. Read from lessons.StepProgress, which belongs to the student
(a deleted class leaves it in place)."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User

from classroom.access import students
from classroom.models import Classroom
from lessons.models import Step, StepProgress

COLUMNS = ["student", "lesson", "step", "reached_at", "done_at", "seconds", "attempts", "hints", "skipped"]


def course_steps(classroom: Classroom) -> list[Step]:
    """The course's steps in order: lessons by their place in the course, steps by position."""
    order = {lesson_id: index for index, lesson_id in enumerate(classroom.course.values_list("lesson_id", flat=True))}
    steps = Step.objects.filter(lesson_id__in=order).select_related("lesson")
    return sorted(steps, key=lambda step: (order[step.lesson_id], step.position))


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def step_rows(steps: list[Step], progress: dict[int, StepProgress]) -> list[dict[str, Any]]:
    rows = []
    for step in steps:
        row = progress.get(step.pk)
        seconds = None
        if row is not None and row.done_at is not None:
            seconds = max(0, round((row.done_at - row.started_at).total_seconds()))
        rows.append(
            {
                "lesson": step.lesson.slug,
                "step": step.key,
                "title": step.localized("title"),
                "reached_at": _iso(row.started_at) if row else None,
                "done_at": _iso(row.done_at) if row else None,
                "seconds": seconds,
                "attempts": row.failed_checks if row else 0,
                "hints": row.hints_shown if row else 0,
                "skipped": bool(row and row.skipped),
            }
        )
    return rows


def for_student(classroom: Classroom, user: User) -> list[dict[str, Any]]:
    steps = course_steps(classroom)
    progress = {p.step_id: p for p in StepProgress.objects.filter(user=user, step__in=steps)}
    return step_rows(steps, progress)


def for_class(classroom: Classroom) -> list[dict[str, Any]]:
    """One entry per student: {"student": username, "steps": [...]}."""
    steps = course_steps(classroom)
    members = list(students(classroom).order_by("user__username"))
    by_user: dict[int, dict[int, StepProgress]] = {m.user_id: {} for m in members}
    for p in StepProgress.objects.filter(user_id__in=by_user, step__in=steps):
        by_user[p.user_id][p.step_id] = p
    return [{"student": m.user.get_username(), "steps": step_rows(steps, by_user[m.user_id])} for m in members]


def as_csv(classroom: Classroom) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    for student in for_class(classroom):
        for step in student["steps"]:
            writer.writerow([_cell(student["student"]), *(_cell(step[column]) for column in COLUMNS[1:])])
    return out.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    text = str(value)
    # A user name such as "=HYPERLINK(...)" must not become a formula in a spreadsheet.
    return "'" + text if text[:1] in ("=", "+", "-", "@") else text


def as_json(classroom: Classroom) -> dict[str, Any]:
    return {
        "class": classroom.name,
        "starts_at": _iso(classroom.starts_at),
        "ends_at": _iso(classroom.ends_at),
        "lessons": [lesson.slug for lesson in classroom.lessons()],
        "students": [
            {"student": s["student"], "steps": [{k: v for k, v in step.items() if k != "title"} for step in s["steps"]]}
            for s in for_class(classroom)
        ],
    }
