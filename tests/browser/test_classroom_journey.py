"""A class from the instructor's browser to the students' and back (issue 11), in real Chromium
with a real worker provisioning the sandboxes: the instructor creates a class; two students
join it (one by the link, one by the code) and start its first lesson; one completes a step and
the dashboard, left open, shows it without a reload; the instructor watches the other student's
terminal and suggests a line; it waits in the student's prompt until the student presses Enter,
and then the dashboard shows that step done too. The same journey runs again with the interface
in Chinese, chosen with the language selector."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from accounts.roles import Role, grant
from classroom.models import Classroom, Member, MemberRole
from lessons import loader
from lessons.models import Lesson, StepProgress
from sandbox.terminal.models import CommandAudit
from tests.browser.conftest import with_password
from tests.browser.test_lesson_journey import worker
from tests.cluster.test_terminal_shadow import no_earlier_scrollback

__all__ = ["no_earlier_scrollback", "worker"]  # fixtures, imported for use here

pytestmark = pytest.mark.browser

LESSON = "architecture"  # its first step is done by one command: kubectl get nodes
LINE = "kubectl get nodes"
# Two sandboxes provisioned one after the other by one worker on a busy 2-core machine.
SANDBOX_WAIT = 180_000
WAIT = 30_000


@dataclass(frozen=True)
class Words:
    """What the pages say, in one language (the Chinese from locale/ and the lesson's YAML)."""

    language: str
    live: str
    students: str
    lesson: str
    first_step: str
    second_step: str
    ready: str
    done: str
    watching_heading: str
    suggested: str
    suggests: str
    student_watched: str


ENGLISH = Words(
    language="en",
    live="Live",
    students="Students",
    lesson="How a Kubernetes cluster is built",
    first_step="Meet the worker nodes",
    second_step="Look inside a node",
    ready="Ready",
    done="Done",
    watching_heading="Watching bella",
    suggested="Suggested. It runs only if the student presses Enter.",
    suggests="irene suggests this line",
    student_watched="Watching your terminal: irene",
)
CHINESE = Words(
    language="zh-hans",
    live="实时",
    students="学生",
    lesson="Kubernetes 集群是怎样构成的",
    first_step="认识工作节点",
    second_step="查看节点内部",
    ready="就绪",
    done="完成",
    watching_heading="正在查看 bella",
    suggested="已建议。只有学生按下 Enter 才会运行。",
    suggests="irene 建议了这一行",
    student_watched="正在查看你的终端\uff1airene",  # a full-width colon
)


def sign_in(context: Any, live_url: str, username: str, password: str, language: str) -> Any:
    """A new page of `context`, signed in, in `language` (picked with the page's selector)."""
    page = context.new_page()
    page.goto(f"{live_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("main button[type=submit]")
    page.wait_for_selector("header .who", timeout=WAIT)
    if language != "en":
        with page.expect_navigation(timeout=WAIT):
            page.select_option("#language", language)
        page.wait_for_selector(f"html[lang='{language}']", timeout=WAIT)
    return page


def terminal_text(page: Any) -> str:
    """The student's terminal as xterm holds it (the screen and the scrollback): reading the
    buffer, not the DOM, keeps wide (Chinese) characters in one piece."""
    text: str = page.evaluate(
        """() => {
          const buffer = window.sandboxTerminal.term.buffer.active;
          const lines = [];
          for (let i = 0; i < buffer.length; i++) lines.push(buffer.getLine(i).translateToString(true));
          return lines.join("\\n");
        }"""
    )
    return text


def wait_in_terminal(page: Any, text: str) -> None:
    page.wait_for_function(
        """(text) => {
          const buffer = window.sandboxTerminal && window.sandboxTerminal.term.buffer.active;
          if (!buffer) return false;
          for (let i = 0; i < buffer.length; i++) {
            if (buffer.getLine(i).translateToString(true).includes(text)) return true;
          }
          return false;
        }""",
        arg=text,
        timeout=WAIT,
    )


def start_lesson(page: Any, live_url: str) -> None:
    page.goto(f"{live_url}/lessons/{LESSON}/")
    page.wait_for_selector("#step-nodes.step-pending, #step-nodes.step-current", timeout=WAIT)
    page.locator("#sandbox-start").click(timeout=WAIT)


def where(words: Words, step: str) -> str:
    """The dashboard's "Lesson and step" cell."""
    return f"{words.lesson} \u203a {step}"


def roster_row(dashboard: Any, name: str) -> Any:
    return dashboard.locator("#roster tr", has=dashboard.get_by_role("link", name=name, exact=True))


@pytest.mark.parametrize("words", [ENGLISH, CHINESE], ids=["en", "zh-hans"])
def test_an_instructor_runs_a_class_from_the_browser(
    live_url: str, worker: None, browser_page: Any, tmp_path: Any, words: Words
) -> None:
    report = loader.load()
    assert not report.problems
    lesson = Lesson.objects.get(slug=LESSON)
    total = lesson.steps.count()
    instructor = User.objects.create_user("irene")
    grant(instructor, Role.INSTRUCTOR)
    for name in ("amir", "bella"):
        grant(User.objects.create_user(name), Role.STUDENT)
    passwords = {name: with_password(name) for name in ("irene", "amir", "bella")}

    browser = browser_page.context.browser
    errors: list[str] = []
    pages: dict[str, Any] = {}
    for name in ("irene", "amir", "bella"):  # three people, three browser contexts (cookies apart)
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        context.on("weberror", lambda error: errors.append(str(error.error)))
        pages[name] = sign_in(context, live_url, name, passwords[name], words.language)
    dashboard, amir, bella = pages["irene"], pages["amir"], pages["bella"]

    # --- the instructor creates the class -------------------------------------------------------
    dashboard.goto(f"{live_url}/classes/")
    dashboard.locator("main a[href='/classes/new/']").click()
    now = timezone.localtime()
    dashboard.fill("#id_name", "Kubernetes Saturday")
    dashboard.fill("#id_starts_at", (now - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M"))
    dashboard.fill("#id_ends_at", (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    dashboard.fill(f"#id_lesson-{lesson.pk}", "1")
    dashboard.click("main form.class-form button[type=submit]")
    dashboard.wait_for_selector("#class-dashboard", timeout=WAIT)
    classroom = Classroom.objects.get(name="Kubernetes Saturday")
    assert [item.slug for item in classroom.lessons()] == [LESSON]
    assert dashboard.locator("#roster-title").inner_text() == words.students
    dashboard.wait_for_selector(f"#connection:text-is('{words.live}')", timeout=WAIT)
    # Marks this very document: still there at the end means every change arrived without a reload.
    dashboard.evaluate("() => { window.journeyMark = 'not reloaded'; }")
    join_link = dashboard.locator("main details input[readonly]").input_value()
    join_code = dashboard.locator("#join-code").text_content() or ""  # in a closed <details>

    # --- two students join: Amir by the link, Bella by typing the code ---------------------------
    amir.goto(join_link)
    assert amir.input_value("#id_code") == join_code
    amir.click("main form button[type=submit]")
    amir.wait_for_url(f"{live_url}/classes/{classroom.pk}/", timeout=WAIT)
    bella.goto(f"{live_url}/classes/join/")
    bella.fill("#id_code", join_code)
    bella.click("main form button[type=submit]")
    bella.wait_for_url(f"{live_url}/classes/{classroom.pk}/", timeout=WAIT)
    students = Member.objects.filter(classroom=classroom, role=MemberRole.STUDENT)
    assert set(students.values_list("user__username", flat=True)) == {"amir", "bella"}

    # Both start the course's lesson; one worker prepares both sandboxes.
    start_lesson(amir, live_url)
    start_lesson(bella, live_url)
    for student in (amir, bella):
        student.wait_for_selector("#sandbox-panel[data-state='ready']", timeout=SANDBOX_WAIT)
        assert student.locator("#sandbox-state").inner_text() == words.ready
        student.wait_for_selector("#step-nodes.step-current", timeout=WAIT)
        student.wait_for_selector("#terminal .xterm-rows", timeout=WAIT)

    # The dashboard lists both, on the lesson's first step, without being reloaded.
    for name in ("amir", "bella"):
        row = roster_row(dashboard, name)
        row.locator(f"td:text-is('{where(words, words.first_step)}')").wait_for(timeout=WAIT)
        row.locator(f"td:text-is('{words.ready}')").wait_for(timeout=WAIT)
        assert row.locator(f"td:text-is('0 / {total}')").count() == 1

    # --- Amir completes the first step; the dashboard shows it live ------------------------------
    amir.locator("#terminal").click()
    amir.keyboard.type(LINE)
    amir.keyboard.press("Enter")
    amir.wait_for_selector("#step-nodes.step-done", timeout=WAIT)
    assert amir.locator("#step-nodes [data-status]").inner_text() == words.done
    amir_row = roster_row(dashboard, "amir")
    amir_row.locator(f"td:text-is('1 / {total}')").wait_for(timeout=WAIT)
    amir_row.locator(f"td:text-is('{where(words, words.second_step)}')").wait_for(timeout=WAIT)
    amir_row.locator(f"td.lines code:text-is('{LINE}')").wait_for(timeout=WAIT)
    bella_row = roster_row(dashboard, "bella")
    assert bella_row.locator(f"td:text-is('0 / {total}')").count() == 1

    # --- the instructor watches Bella (in a second tab: the dashboard stays open) -----------------
    bella_user = User.objects.get(username="bella")
    watch = dashboard.context.new_page()
    watch.goto(live_url + (bella_row.get_by_role("link", name="bella", exact=True).get_attribute("href") or ""))
    watch.locator(f"main a[href='/classes/{classroom.pk}/students/{bella_user.pk}/watch/']").click()
    watch.wait_for_selector(f"main h1:text-is('{words.watching_heading}')", timeout=WAIT)
    # Bella's page names who watches her.
    bella.wait_for_selector(f"#watching:text-is('{words.student_watched}')", timeout=WAIT)
    watch.wait_for_selector("#shadow-steps tr[data-step='nodes']:not(.step-done)", timeout=WAIT)

    # She suggests the line: it stands in Bella's prompt, and nothing runs.
    watch.fill("#suggest-line", LINE)
    watch.click("#suggest-form button[type=submit]")
    watch.wait_for_selector(f"#suggest-status:text-is('{words.suggested}')", timeout=WAIT)
    bella.wait_for_function(
        "(line) => window.sandboxTerminal.line === line && !window.sandboxTerminal.running", arg=LINE, timeout=WAIT
    )
    wait_in_terminal(bella, words.suggests)
    assert not CommandAudit.objects.filter(user=bella_user).exists()
    assert not StepProgress.objects.filter(user=bella_user, done_at__isnull=False).exists()
    assert "step-current" in (bella.locator("#step-nodes").get_attribute("class") or "")

    # --- Bella presses Enter: the line runs as hers, and every page follows ----------------------
    bella.locator("#terminal").click()
    bella.keyboard.press("Enter")
    bella.wait_for_selector("#step-nodes.step-done", timeout=WAIT)
    assert bella.locator("#step-nodes [data-status]").inner_text() == words.done
    # The watcher saw the line run in Bella's terminal, and her progress changed on the watch page.
    watch.locator("#shadow-terminal .xterm-rows").get_by_text(LINE).first.wait_for(timeout=WAIT)
    watch.wait_for_selector("#shadow-steps tr[data-step='nodes'].step-done", timeout=WAIT)
    bella_row.locator(f"td:text-is('1 / {total}')").wait_for(timeout=WAIT)
    bella_row.locator(f"td:text-is('{where(words, words.second_step)}')").wait_for(timeout=WAIT)
    assert dashboard.evaluate("() => window.journeyMark") == "not reloaded"
    assert list(CommandAudit.objects.filter(user=bella_user).values_list("line", flat=True)) == [LINE]
    assert LINE in terminal_text(bella)

    for name, page in (("dashboard", dashboard), ("amir", amir), ("bella", bella), ("watch", watch)):
        page.screenshot(path=str(tmp_path / f"{words.language}-{name}.png"), full_page=True)
    assert errors == []
