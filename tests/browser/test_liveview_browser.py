"""The live view shows a rolling update as it happens, in a real browser."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sandbox.models import Sandbox
from tests.browser.conftest import login, with_password

pytestmark = pytest.mark.browser


def test_it_shows_a_rolling_update_live(
    make_sandbox: Callable[..., tuple[Sandbox, str]], live_url: str, browser_page: Any, tmp_path: Any
) -> None:
    make_sandbox(username="dave")
    password = with_password("dave")
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    login(page, live_url, "dave", password)
    page.get_by_text("Nothing here yet").wait_for(timeout=15000)

    def type_line(line: str) -> None:
        page.locator("#terminal").click()
        page.keyboard.type(line)
        page.keyboard.press("Enter")

    type_line("kubectl create deployment web --image=spring2go/spring-petclinic:1.0.0.RELEASE --replicas=3")
    page.wait_for_function(
        "() => document.querySelectorAll('#live-view .workload-replicaset .pod-ready').length === 3", timeout=30000
    )
    type_line("kubectl set image deployment/web spring-petclinic=spring2go/spring-petclinic:1.0.1.RELEASE")
    # The second ReplicaSet (revision 2) appears beside the first while pods move over...
    page.wait_for_function(
        "() => document.querySelectorAll('#live-view .workload-replicaset').length === 2", timeout=30000
    )
    # ...and ends with every ready pod in revision 2.
    page.wait_for_function(
        """() => {
            const sets = [...document.querySelectorAll('#live-view .workload-replicaset')];
            const newest = sets.find((s) => s.querySelector('.badge')?.textContent === 'rev 2');
            return newest && newest.querySelectorAll('.pod-ready').length === 3
                && document.querySelectorAll('#live-view .workload-replicaset .pod-ready').length === 3;
        }""",
        timeout=60000,
    )
    page.screenshot(path=str(tmp_path / "liveview.png"), full_page=True)
    assert errors == []


def test_it_shows_why_a_pod_does_not_run(
    make_sandbox: Callable[..., tuple[Sandbox, str]], live_url: str, browser_page: Any, tmp_path: Any
) -> None:
    # The real node pulls nothing: an image nobody built here fails as on a cluster with no network.
    make_sandbox(username="erin")
    password = with_password("erin")
    page = browser_page
    login(page, live_url, "erin", password)
    page.get_by_text("Nothing here yet").wait_for(timeout=15000)
    page.locator("#terminal").click()
    page.keyboard.type("kubectl run web --image=nginx:1.27")
    page.keyboard.press("Enter")
    chip = page.locator('#live-view .pod-problem[data-name="web"]')
    chip.wait_for(timeout=60000)
    assert chip.locator(".pod-problem-reason").inner_text().strip() in ("ErrImagePull", "ImagePullBackOff")
    assert "nginx" in (chip.get_attribute("title") or "")
    page.screenshot(path=str(tmp_path / "liveview-problem.png"), full_page=True)
