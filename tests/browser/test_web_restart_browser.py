"""The student's page while the web process is SIGKILLed and started again (as its supervisor
does): the terminal keeps what was typed and printed, says once that it is reconnecting, gets
a new prompt when the server is back, and the next command runs."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from sandbox.models import Sandbox
from tests.browser.conftest import login, with_password
from tests.processes import free_port, start_daphne, start_watcher, stop

pytestmark = pytest.mark.browser

ROWS = "() => document.querySelector('.xterm-rows').innerText"


@pytest.fixture
def restartable(transactional_db: None) -> Iterator[dict[str, Any]]:
    """Like live_url, with the web process in the test's hands."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CLUSTER_KUBECONFIG": str(settings.CLUSTER_KUBECONFIG),
        "CHANNEL_LAYER": "redis",
        "SERVE_STATIC": "1",
    }
    port = free_port()
    state: dict[str, Any] = {"env": env, "port": port, "url": f"http://127.0.0.1:{port}"}
    watcher = start_watcher(env)
    state["server"] = start_daphne(port, env)
    yield state
    stop(state["server"], watcher)


def test_the_page_gets_a_new_prompt_after_the_web_process_is_killed(
    make_sandbox: Callable[..., tuple[Sandbox, str]], restartable: dict[str, Any], browser_page: Any
) -> None:
    make_sandbox(username="dora")
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    login(page, restartable["url"], "dora", with_password("dora"))
    page.wait_for_selector(".xterm-rows", timeout=15000)
    page.locator("#terminal").click()
    page.keyboard.type("kubectl get pods")
    page.keyboard.press("Enter")
    page.locator(".xterm-rows").get_by_text("No resources found").wait_for(timeout=20000)
    page.keyboard.type("kubectl get pods -w")
    page.keyboard.press("Enter")
    time.sleep(1.5)  # the watch is running (nothing arrives in an empty namespace)

    # Killed while a command runs: the page gets a new prompt when the server is back.
    killed_at = restart(restartable)
    page.wait_for_function(f"() => /reconnecting…\\s*\\$\\s*$/.test(({ROWS})().trimEnd() + ' ')", timeout=30000)
    back = time.monotonic() - killed_at
    print(f"\n  the page had a new prompt {back:.1f} s after the kill (daphne's start included)")
    text = page.evaluate(ROWS)
    assert "kubectl get pods -w" in text  # what was typed and printed is still there
    assert "No resources found" in text
    assert text.count("reconnecting") == 1  # once, not once per try

    # Killed while the student is typing: the prompt comes back with what was typed so far.
    page.keyboard.type("kubectl get")
    restart(restartable)
    page.wait_for_function(
        f"() => (t => t.split('reconnecting').length === 3 && /reconnecting…\\s*\\$\\s+kubectl\\s+get$/.test(t))"
        f"(({ROWS})().trimEnd())",
        timeout=30000,
    )
    page.keyboard.type(" pods")
    page.keyboard.press("Enter")
    page.wait_for_function(f"() => ({ROWS})().split('No resources found').length === 3", timeout=20000)
    assert errors == []


def restart(state: dict[str, Any]) -> float:
    """SIGKILL the web process, wait for nothing, start it again on its port (as a supervisor
    does); the moment of the kill."""
    killed_at = time.monotonic()
    state["server"].send_signal(signal.SIGKILL)
    state["server"].wait()
    state["server"] = start_daphne(state["port"], state["env"])
    return killed_at
