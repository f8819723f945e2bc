"""In a real browser: a student who starts a sandbox in a full class sees their place in line,
sees it move up while they wait, and can leave the line."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from sandbox import admission
from sandbox.models import Sandbox, State
from tests.browser.conftest import browser_page, live_url

__all__ = ["browser_page", "live_url"]

pytestmark = pytest.mark.browser

PASSWORD = "a-long-passphrase-7"


@pytest.fixture
def class_of_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings for the server process (it reads its environment): one place, no warm pool."""
    monkeypatch.setenv("SANDBOX_MAX_LIVE", "1")
    monkeypatch.setenv("SANDBOX_POOL_SIZE", "0")


def test_the_page_shows_the_place_in_line_updates_it_and_leaves(
    class_of_one: None, live_url: str, browser_page: Any, settings: Any, tmp_path: Any
) -> None:
    settings.SANDBOX_MAX_LIVE = 1
    # The one place is taken (a row is enough: nothing here reaches the cluster), and one
    # student is already waiting.
    Sandbox.objects.create(owner=User.objects.create_user("ana"), namespace="hl-taken", state=State.READY)
    first = User.objects.create_user("ben")
    with pytest.raises(admission.StartRefused):
        admission.request_start(first)
    User.objects.create_user("cid", password=PASSWORD)

    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live_url}/accounts/login/")
    page.fill("#id_username", "cid")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{live_url}/sandbox/")
    page.wait_for_selector("#sandbox-start:visible", timeout=15000)
    page.click("#sandbox-start")
    page.wait_for_selector("#sandbox-state:text('you are number 2 in line')", timeout=15000)
    assert page.is_visible("#sandbox-leave")
    assert page.is_hidden("#sandbox-start")

    # The student ahead leaves: the page's next poll shows the new place.
    admission.leave(first)
    page.wait_for_selector("#sandbox-state:text('you are number 1 in line')", timeout=15000)
    page.screenshot(path=str(tmp_path / "in-line.png"))

    page.click("#sandbox-leave")
    page.wait_for_selector("#sandbox-state:text('You have no sandbox yet.')", timeout=15000)
    assert page.is_visible("#sandbox-start")
    assert admission.waiting_status(User.objects.get(username="cid")) is None
    assert errors == []
