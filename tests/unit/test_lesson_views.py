"""The lesson pages without a cluster: who may see them, and what they render."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from lessons import loader
from lessons.models import Lesson
from tests.unit.test_lesson_format import make

pytestmark = pytest.mark.django_db


@pytest.fixture
def lesson(tmp_path: Path, settings: Any) -> None:
    settings.LESSONS_DIR = tmp_path
    make(
        tmp_path,
        files={
            "steps/first.en.md": "In {{ namespace }}:\n\n```run\nkubectl get pods\n```\n\n"
            "<img src=x onerror=alert(1)>\n"
        },
    )
    assert not loader.load().problems


def test_anonymous_visitors_are_sent_to_log_in(client: Client, lesson: None) -> None:
    response = client.get("/lessons/demo/")
    assert response.status_code == 302
    assert "/accounts/login/" in response["Location"]


def test_the_page_renders_steps_buttons_and_placeholders(client: Client, lesson: None) -> None:
    client.force_login(User.objects.create_user("carol"))
    page = client.get("/lessons/demo/").content.decode()
    assert 'data-step="first"' in page
    assert 'data-run="kubectl get pods"' in page
    assert "In &lt;your namespace&gt;:" in page  # no sandbox yet
    assert "<img" not in page.split('id="lesson"')[1]
    assert 'data-start-url="/lessons/demo/start"' in page
    assert client.get("/lessons/nope/").status_code == 404


def test_starting_needs_a_post(client: Client, lesson: None) -> None:
    client.force_login(User.objects.create_user("dan"))
    assert client.get("/lessons/demo/start").status_code == 405


def test_admins_see_lessons_steps_and_progress(client: Client, lesson: None, admin_user: User) -> None:
    client.force_login(admin_user)
    assert "demo" in client.get("/admin/lessons/lesson/").content.decode()
    lesson_id = Lesson.objects.get(slug="demo").pk
    assert "first" in client.get(f"/admin/lessons/lesson/{lesson_id}/change/").content.decode()
    assert client.get("/admin/lessons/stepprogress/").status_code == 200
