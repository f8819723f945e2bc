"""The lesson preview in Chromium, on a real server: an instructor opens a lesson folder, saves
an edit and sees it without touching the page; a save that breaks the lesson shows its problem,
and the fix brings the lesson back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from accounts.roles import Role, grant
from lessons import scaffold

pytestmark = pytest.mark.browser


@pytest.fixture
def lesson_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    # Set before live_url starts the server, which reads LESSONS_DIR from its environment.
    monkeypatch.setenv("LESSONS_DIR", str(tmp_path))
    return scaffold.create(tmp_path, "reloading")


def test_an_instructor_sees_each_save_and_each_problem(lesson_folder: Path, live_url: str, browser_page: Any) -> None:
    page = browser_page
    User.objects.create_user("ivy", password="a-long-passphrase-7")
    grant(User.objects.get(username="ivy"), Role.INSTRUCTOR)
    page.goto(f"{live_url}/accounts/login/")
    page.fill("#id_username", "ivy")
    page.fill("#id_password", "a-long-passphrase-7")
    page.click("button[type=submit]")
    page.wait_for_selector("text=Lesson preview")  # the navigation links an instructor to it
    page.goto(f"{live_url}/lessons/preview/")
    page.click("text=01-reloading")
    page.wait_for_selector("#preview-valid")
    assert page.locator('[data-step="first"] .step-body').count() == 1

    step = lesson_folder / "steps" / "first.en.md"
    step.write_text(step.read_text().replace("Every step explains one idea", "Edited while you watch"))
    page.wait_for_selector("text=Edited while you watch", timeout=10000)

    meta = lesson_folder / "lesson.yaml"
    good = meta.read_text()
    meta.write_text(good.replace("minutes: 10", "minutes: many"))
    page.wait_for_selector("#preview-problems", timeout=10000)
    assert "lesson.yaml" in page.inner_text("#preview-problems")
    assert "minutes" in page.inner_text("#preview-problems")

    meta.write_text(good)
    page.wait_for_selector("#preview-valid", timeout=10000)
    assert page.locator("text=Edited while you watch").count() == 1
