"""A student who sends terminal lines faster than the limit sees why, and gets the prompt back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sandbox.models import Sandbox
from tests.browser.conftest import login, with_password

pytestmark = pytest.mark.browser
# At least N matches of a pattern in the terminal (\s: xterm.js renders spaces as no-break spaces).
COUNT = """([pattern, n]) =>
    (document.querySelector('.xterm-rows').innerText.match(new RegExp(pattern, 'g')) || []).length >= n"""


@pytest.fixture
def two_lines_a_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    """For the server that live_url starts next (it reads its settings from the environment)."""
    monkeypatch.setenv("SOCKET_RATE_TERMINAL_RUN", "2/60")


def test_the_page_says_when_lines_come_too_fast_and_the_terminal_carries_on(
    two_lines_a_minute: None, make_sandbox: Callable[..., tuple[Sandbox, str]], live_url: str, browser_page: Any
) -> None:
    make_sandbox(username="dora")
    password = with_password("dora")
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    login(page, live_url, "dora", password)
    page.wait_for_selector(".xterm-rows", timeout=15000)
    rows = page.locator(".xterm-rows")
    page.locator("#terminal").click()
    for answered in (1, 2):  # one after the other: keys typed while a line runs go to it
        page.keyboard.type("help")
        page.keyboard.press("Enter")
        page.wait_for_function(COUNT, arg=["This\\sterminal\\sruns", answered], timeout=20000)
    page.keyboard.type("help")
    page.keyboard.press("Enter")
    notice = page.locator("#socket-notice")
    notice.get_by_text("Too many terminal lines. Try again in").wait_for(timeout=20000)
    rows.get_by_text("Too many terminal lines").wait_for(timeout=20000)
    # The prompt came back: the next line is answered (refused again), not left waiting.
    page.keyboard.type("help")
    page.keyboard.press("Enter")
    page.wait_for_function(COUNT, arg=["Too\\smany\\sterminal\\slines", 2], timeout=20000)
    assert errors == []
