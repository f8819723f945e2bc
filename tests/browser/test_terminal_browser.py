"""A student logs in, opens the sandbox page and runs kubectl in the browser terminal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sandbox.models import Sandbox
from sandbox.terminal import workspace
from tests.browser.conftest import login, with_password

pytestmark = pytest.mark.browser

POD = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: petclinic}\n"
    "spec: {containers: [{name: app, image: spring2go/spring-petclinic:1.0.0.RELEASE}]}\n"
)


def test_it_runs_kubectl_in_the_browser_terminal(
    make_sandbox: Callable[..., tuple[Sandbox, str]], live_url: str, browser_page: Any, tmp_path: Any
) -> None:
    sandbox, _ = make_sandbox(username="carol")
    password = with_password("carol")
    workspace.save(sandbox, "petclinic-pod.yml", POD)
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    login(page, live_url, "carol", password)
    page.wait_for_selector(".xterm-rows", timeout=15000)

    rows = page.locator(".xterm-rows")
    page.locator("#terminal").click()
    page.keyboard.type("kubectl get pods")
    page.keyboard.press("Enter")
    rows.get_by_text("No resources found").wait_for(timeout=20000)

    page.keyboard.type("kubectl apply -f petclinic-pod.yml")
    page.keyboard.press("Enter")
    rows.get_by_text("pod/petclinic created").wait_for(timeout=20000)

    page.keyboard.type("kubectl get pods --server=https://evil.example")
    page.keyboard.press("Enter")
    rows.get_by_text("your own sandbox credentials").wait_for(timeout=20000)

    page.keyboard.press("ArrowUp")  # history: the refused line comes back for editing
    page.keyboard.press("Control+u")
    # The container really starts on the node: wait for it as a student would.
    page.keyboard.type("kubectl wait --for=condition=Ready pod/petclinic --timeout=60s")
    page.keyboard.press("Enter")
    rows.get_by_text("pod/petclinic condition met").wait_for(timeout=70000)
    page.keyboard.type("kubectl get pods")
    page.keyboard.press("Enter")
    page.wait_for_function(
        "() => (document.querySelector('.xterm-rows').innerText.match(/Running/g) || []).length >= 1", timeout=20000
    )
    # The workspace file is listed and opens in the editor.
    page.get_by_role("button", name="petclinic-pod.yml").click()
    page.wait_for_function("() => document.getElementById('file-content').value.includes('petclinic')")
    page.screenshot(path=str(tmp_path / "terminal.png"))
    assert errors == []
