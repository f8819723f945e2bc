"""Lesson files -> database rows (`manage.py lessons load`), and the development reload that
re-loads a lesson whose files changed when a page asks for it (LESSONS_RELOAD)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db import transaction

from lessons import format
from lessons.models import Lesson, Step

log = logging.getLogger(__name__)


def fingerprint(folder: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass
class LoadReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    retired: list[str] = field(default_factory=list)
    problems: list[format.Problem] = field(default_factory=list)


def save(spec: format.LessonSpec, digest: str) -> bool:
    """Write one lesson and its steps; True if it was new. Steps are matched by id, so a
    student's progress survives edits to a step's text or checks."""
    with transaction.atomic():
        lesson, created = Lesson.objects.update_or_create(
            slug=spec.slug,
            defaults={
                "position": spec.position,
                "title": spec.title,
                "summary": spec.summary,
                "difficulty": spec.difficulty,
                "minutes": spec.minutes,
                "needs": {"size": spec.size, "extra_namespaces": spec.extra_namespaces, "node_ports": spec.node_ports},
                "files": spec.files,
                "source": spec.folder.name,
                "fingerprint": digest,
                "active": True,
            },
        )
        keys = [step.id for step in spec.steps]
        lesson.steps.exclude(key__in=keys).delete()
        # Positions are unique per lesson only by convention; moving steps around never collides.
        for position, step in enumerate(spec.steps, start=1):
            Step.objects.update_or_create(
                lesson=lesson,
                key=step.id,
                defaults={
                    "position": position,
                    "title": step.title,
                    "body": step.body,
                    "checks": step.checks,
                    "hints": step.hints,
                    "solution": step.solution,
                    "undo": step.undo,
                    "wait_seconds": step.wait_seconds,
                },
            )
    return created


def load(content_dir: Path | None = None) -> LoadReport:
    """Validate every lesson and sync the valid ones; a lesson with problems keeps its last good
    version in the database (and the report lists the problems)."""
    content_dir = content_dir or settings.LESSONS_DIR
    report = LoadReport()
    specs, report.problems = format.load_all(content_dir)
    known = dict(Lesson.objects.values_list("slug", "fingerprint"))
    for spec in specs:
        digest = fingerprint(spec.folder)
        if known.get(spec.slug) == digest:
            report.unchanged.append(spec.slug)
            continue
        (report.created if save(spec, digest) else report.updated).append(spec.slug)
    # A folder that is gone retires its lesson; one that merely fails validation does not.
    broken = {_folder_of(problem.path, content_dir) for problem in report.problems}
    present = {spec.slug for spec in specs}
    for lesson in Lesson.objects.filter(active=True).exclude(slug__in=present):
        if lesson.source not in broken:
            lesson.active = False
            lesson.save(update_fields=["active"])
            report.retired.append(lesson.slug)
    return report


def reload_if_changed() -> None:
    """Development: pick up edited lesson files on the next page load."""
    if not settings.LESSONS_RELOAD:
        return
    report = load()
    for problem in report.problems:
        log.warning("lesson problem: %s", problem)


def _folder_of(path: Path, content_dir: Path) -> str:
    try:
        return path.relative_to(content_dir).parts[0]
    except (ValueError, IndexError):
        return ""
