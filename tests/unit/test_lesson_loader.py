"""`lessons load`: files to rows, unchanged lessons skipped, edits keep progress, a removed
folder retires its lesson, a broken one keeps its last good version; the development reload."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from lessons import loader
from lessons.models import Lesson, StepProgress
from tests.unit.test_lesson_format import make

pytestmark = pytest.mark.django_db


@pytest.fixture
def content(tmp_path: Path, settings: Any) -> Path:
    settings.LESSONS_DIR = tmp_path
    make(tmp_path)
    return tmp_path


def test_load_sync_and_skip_unchanged(content: Path) -> None:
    report = loader.load()
    assert (report.created, report.updated, report.unchanged) == (["demo"], [], [])
    lesson = Lesson.objects.get(slug="demo")
    assert lesson.needs == {"size": "small", "extra_namespaces": [], "node_ports": 0}
    assert list(lesson.steps.values_list("key", flat=True)) == ["first"]
    assert loader.load().unchanged == ["demo"]


def test_an_edit_keeps_progress_and_a_broken_lesson_keeps_its_last_good_version(content: Path) -> None:
    loader.load()
    step = Lesson.objects.get(slug="demo").steps.get()
    user = User.objects.create_user("ann")
    StepProgress.objects.create(user=user, step=step, hints_shown=1)
    text = content / "01-demo" / "steps" / "first.en.md"
    new_text = "New text, same command.\n\n```run\nkubectl get pods\n```\n"
    text.write_text(new_text)
    assert loader.load().updated == ["demo"]
    step.refresh_from_db()
    assert step.body["en"] == new_text
    assert StepProgress.objects.get(user=user).hints_shown == 1

    (content / "01-demo" / "lesson.yaml").write_text("slug: [broken\n")
    report = loader.load()
    assert report.problems
    assert Lesson.objects.get(slug="demo").active
    assert report.retired == []


def test_a_removed_folder_retires_the_lesson(content: Path) -> None:
    loader.load()
    shutil.rmtree(content / "01-demo")
    assert loader.load().retired == ["demo"]
    assert not Lesson.objects.get(slug="demo").active


def test_the_command_reports_problems_with_file_and_line(content: Path) -> None:
    (content / "01-demo" / "lesson.yaml").write_text(
        (content / "01-demo" / "lesson.yaml").read_text().replace("minutes: 5", "minutes: -5")
    )
    with pytest.raises(CommandError, match="1 problem"):
        call_command("lessons", "validate")


def test_pages_reload_edited_lessons_in_development(content: Path, settings: Any, client: Client) -> None:
    settings.LESSONS_RELOAD = True
    client.force_login(User.objects.create_user("bob"))
    assert "1. Demo" in client.get("/lessons/").content.decode()
    lesson_file = content / "01-demo" / "lesson.yaml"
    lesson_file.write_text(lesson_file.read_text().replace("{en: Demo,", "{en: Renamed,"))
    assert "1. Renamed" in client.get("/lessons/").content.decode()
    settings.LESSONS_RELOAD = False
    lesson_file.write_text(lesson_file.read_text().replace("{en: Renamed,", "{en: Again,"))
    assert "1. Renamed" in client.get("/lessons/").content.decode()
