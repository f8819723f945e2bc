"""`manage.py lessons validate|load|test|new [SLUG ...]`: the lesson author's tools.

new SLUG   write a new, valid bilingual lesson folder after the last one, to edit from there
validate   check every lesson folder; each problem is printed as file:line: message
load       validate, then sync the valid lessons into the database
test       load, then prove each lesson (or the named ones) can be completed on the
           cluster: a fresh sandbox per lesson, every step's checks fail before its
           solution runs through the terminal runner and pass after"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from lessons import ci, format, images, loader, scaffold
from lessons.models import Lesson


class Command(BaseCommand):
    help = "Validate, load or test the lessons in LESSONS_DIR."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["validate", "load", "test", "new"])
        parser.add_argument("slugs", nargs="*", help="test only these lessons; for new, the new lesson's slug")

    def handle(self, *args: Any, action: str, slugs: list[str], **options: Any) -> None:
        from django.conf import settings

        if action == "new":
            if len(slugs) != 1:
                raise CommandError("`lessons new` takes one SLUG, e.g. `lessons new health-probes`")
            try:
                folder = scaffold.create(Path(settings.LESSONS_DIR), slugs[0])
            except scaffold.ScaffoldError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(
                f"created {folder}: edit lesson.yaml, steps/ and manifests/, then `lessons test {slugs[0]}`"
            )
            return
        if action == "validate":
            lessons, problems = format.load_all(settings.LESSONS_DIR)
            self._problems(problems)
            for warning in images.warnings(lessons, local_image_names()):
                self.stderr.write(f"warning: {warning}")
            steps = sum(len(lesson.steps) for lesson in lessons)
            self.stdout.write(f"{len(lessons)} lessons, {steps} steps: valid")
            return
        report = loader.load()
        self._problems(report.problems)
        self.stdout.write(
            f"lessons: {len(report.created)} new, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged, {len(report.retired)} retired"
        )
        if action == "test":
            self._test(slugs)

    def _problems(self, problems: list[format.Problem]) -> None:
        for problem in problems:
            self.stderr.write(str(problem))
        if problems:
            raise CommandError(f"{len(problems)} problem(s) in the lessons")

    def _test(self, slugs: list[str]) -> None:
        lessons = Lesson.objects.filter(active=True)
        if slugs:
            unknown = set(slugs) - set(lessons.filter(slug__in=slugs).values_list("slug", flat=True))
            if unknown:
                raise CommandError(f"no lesson named {', '.join(sorted(unknown))}")
            lessons = lessons.filter(slug__in=slugs)
        failed = []
        total = 0.0
        for lesson in lessons:
            self.stdout.write(f"{lesson.slug}:")

            def show(step: ci.StepReport) -> None:
                mark = "ok" if step.ok else "FAILED"
                self.stdout.write(f"  {step.key:<24} {mark:<6} {step.seconds:5.1f}s  {step.problem}")
                sys.stdout.flush()

            report = ci.run_lesson(lesson, on_step=show)
            total += report.seconds
            self.stdout.write(f"  {len(report.steps)} steps in {report.seconds:.1f}s {report.problem}")
            if not report.ok:
                failed.append(lesson.slug)
        self.stdout.write(f"{lessons.count()} lessons in {total:.1f}s")
        if failed:
            raise CommandError(f"lessons that cannot be completed: {', '.join(failed)}")


def local_image_names() -> set[str]:
    """The images the local real node has: those sandbox/cluster/images.py builds."""
    from sandbox.cluster.images import IMAGES

    return {name for image in IMAGES for name in image.names}
