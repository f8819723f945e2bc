"""The student's journey through a lesson in a real browser, with a real worker provisioning
the sandbox: sign up, pick a lesson, watch the sandbox come up, click a command, see the pod
in the live view and the step complete by itself, then switch the interface to Chinese."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from lessons import loader
from sandbox import provisioning
from sandbox.models import LIVE_STATES, Sandbox
from tests.processes import start_celery_worker, stop

pytestmark = pytest.mark.browser


@pytest.fixture
def worker(live_url: str) -> Iterator[None]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CLUSTER_KUBECONFIG": str(settings.CLUSTER_KUBECONFIG),
    }
    process = start_celery_worker(env, name="journey")
    yield
    stop(process)
    for sandbox in Sandbox.objects.filter(state__in=LIVE_STATES):
        provisioning.destroy(sandbox.pk)


def test_a_student_completes_a_step_by_clicking_its_command(
    live_url: str, worker: None, browser_page: Any, tmp_path: Any
) -> None:
    report = loader.load()
    assert not report.problems
    page = browser_page
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))

    page.goto(f"{live_url}/accounts/signup/")
    page.fill("#id_username", "journey")
    page.fill("#id_password1", "a-long-passphrase-7")
    page.fill("#id_password2", "a-long-passphrase-7")
    page.click("button[type=submit]")

    # The lesson list, in curriculum order, then the Pod lesson.
    page.get_by_role("link", name="2. Your first Pod").click()
    page.wait_for_selector("#lesson h1:text('Your first Pod')")

    page.click("#sandbox-start")
    # Provisioning shows progress, then Ready; the live view then subscribes by itself.
    page.wait_for_selector("#sandbox-state:text('Ready')", timeout=60000)
    page.get_by_text("Nothing here yet").wait_for(timeout=15000)
    # The lesson's manifest was handed out to the workspace.
    page.wait_for_selector("#files .files-list button:text('petclinic-pod.yaml')", timeout=15000)

    step = page.locator("#step-apply")
    assert "step-current" in (step.get_attribute("class") or "")
    step.locator("button.run[data-run='kubectl apply -f petclinic-pod.yaml']").click()
    page.wait_for_selector("#live-view .pod:has-text('petclinic')", timeout=30000)
    # Nobody pressed Check: the change in the sandbox completed the step.
    page.wait_for_selector("#step-apply.step-done", timeout=30000)
    assert page.locator("#step-apply [data-status]").inner_text() == "Done"
    assert "step-current" in (page.locator("#step-inspect").get_attribute("class") or "")

    # The interface in Chinese: the lesson text and the step states follow.
    page.select_option("#language", "zh-hans")
    page.wait_for_selector("#lesson h1:text('第一个 Pod')", timeout=15000)
    page.wait_for_selector("#step-apply.step-done", timeout=15000)
    assert page.locator("#step-apply [data-status]").inner_text() == "完成"
    assert "编辑器" in page.locator("#step-apply").inner_text()
    page.screenshot(path=str(tmp_path / "journey.png"), full_page=True)
    assert errors == []
