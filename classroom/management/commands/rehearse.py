"""`manage.py rehearse CLASS --students N [--parallel P]`: rehearse a class before it starts
(classroom.rehearsal); exits non-zero when a simulated student could not finish the lesson or
the class does not fit."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from classroom import rehearsal
from classroom.models import Classroom


class Command(BaseCommand):
    help = "Run N simulated students through a class's first lesson and report whether the cluster has room."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("classroom", help="the class's id or exact name")
        parser.add_argument("--students", type=int, default=10, help="how many simulated students (1-500)")
        parser.add_argument("--parallel", type=int, default=10, help="how many work at the same moment")

    def handle(self, *args: Any, classroom: str, students: int, parallel: int, **options: Any) -> None:
        if not 1 <= parallel <= 100:
            raise CommandError("--parallel takes 1 to 100")
        found = (
            Classroom.objects.filter(pk=int(classroom))
            if classroom.isdigit()
            else Classroom.objects.filter(name=classroom)
        )
        target = found.first()
        if target is None:
            raise CommandError(f"there is no class {classroom!r} (give its id or exact name)")
        try:
            report = rehearsal.rehearse(target, students, parallel=parallel)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        target.rehearsal = report.as_json()
        target.save(update_fields=["rehearsal"])
        for line in rehearsal.summary(report):
            self.stdout.write(line)
        if report.steps_failed:
            raise CommandError("some simulated students could not complete the lesson")
        if not report.room:
            raise CommandError("the cluster has no room for the class")
