"""Shadowing in real Chromium: an instructor watches a student's terminal from the class, sees
the scrollback and then the output as it happens; the student's page names her; her suggested
line lands in the student's prompt and runs only when the student presses Enter."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User

from classroom.models import Member, MemberRole
from sandbox.models import Sandbox
from sandbox.terminal.models import CommandAudit
from tests.browser.conftest import login, with_password
from tests.cluster.test_terminal_shadow import no_earlier_scrollback
from tests.unit import classes

__all__ = ["no_earlier_scrollback"]  # an autouse fixture, imported for its effect

pytestmark = pytest.mark.browser


def sign_in(page: Any, live_url: str, username: str, password: str) -> None:
    page.goto(f"{live_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_load_state()


def test_an_instructor_watches_and_suggests_and_the_student_decides(
    make_sandbox: Callable[..., tuple[Sandbox, str]], live_url: str, browser_page: Any, tmp_path: Any
) -> None:
    world = classes.world()
    sandbox, _ = make_sandbox(username="sam")
    student = User.objects.get(username="sam")
    Member.objects.create(classroom=world.classroom, user=student, role=MemberRole.STUDENT)
    student_password, staff_password = with_password("sam"), with_password("ines")
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    login(page, live_url, "sam", student_password)
    rows = page.locator("#terminal .xterm-rows")
    rows.wait_for(timeout=15000)
    page.locator("#terminal").click()
    page.keyboard.type("echo typed-before-anyone-watched")
    page.keyboard.press("Enter")
    rows.get_by_text("typed-before-anyone-watched").last.wait_for(timeout=20000)

    staff = page.context.browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    staff.on("pageerror", lambda err: errors.append(str(err)))
    sign_in(staff, live_url, "ines", staff_password)
    staff.goto(f"{live_url}/classes/{world.classroom.pk}/students/{student.pk}/watch/")
    watched = staff.locator("#shadow-terminal .xterm-rows")
    watched.get_by_text("typed-before-anyone-watched").first.wait_for(timeout=15000)  # the scrollback
    page.locator("#watching:text('ines')").wait_for(timeout=15000)  # the student sees who watches

    page.locator("#terminal").click()
    page.keyboard.type("echo while-she-watches")
    page.keyboard.press("Enter")
    watched.get_by_text("while-she-watches").first.wait_for(timeout=15000)

    # Typing in the watch view goes nowhere: it takes no input.
    staff.locator("#shadow-terminal").click()
    staff.keyboard.type("echo typed-by-staff")
    staff.keyboard.press("Enter")

    staff.fill("#suggest-line", "kubectl get pods")
    staff.click("#suggest-form button[type=submit]")
    staff.locator("#suggest-status:text('Suggested')").wait_for(timeout=10000)
    rows.get_by_text("ines suggests this line").wait_for(timeout=10000)
    page.wait_for_function(
        "() => window.sandboxTerminal.line === 'kubectl get pods' && !window.sandboxTerminal.running", timeout=10000
    )
    assert not CommandAudit.objects.filter(sandbox=sandbox, line="kubectl get pods").exists()

    page.locator("#terminal").click()
    page.keyboard.press("Enter")  # the student decides
    rows.get_by_text("No resources found").wait_for(timeout=20000)
    watched.get_by_text("No resources found").wait_for(timeout=15000)
    page.screenshot(path=str(tmp_path / "student.png"))
    staff.screenshot(path=str(tmp_path / "staff.png"))
    staff.context.close()

    lines = list(CommandAudit.objects.filter(sandbox=sandbox).order_by("started_at").values_list("line", flat=True))
    assert lines == ["echo typed-before-anyone-watched", "echo while-she-watches", "kubectl get pods"]
    assert errors == []
