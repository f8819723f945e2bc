"""The API server killed and started again while a student's lesson checks run: a real daphne
and a real watcher, the student's page over a real WebSocket, the local kube-apiserver process
killed with SIGKILL and started again as kwokctl started it.

The page must say at once that the cluster cannot be reached and that the step is checked
again (not that the student's Pod failed), the check must be tried again with growing pauses
while the API server is away, and the step must complete by itself once it is back; the
watcher must pick up changes again.

    pytest tests/cluster/test_fault_apiserver.py -s      (prints the recovery figures)
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from lessons.models import Lesson, Step, StepProgress
from sandbox.liveview import ask
from sandbox.models import Sandbox
from tests.cluster.conftest import Kubectl, apiserver_down, apiserver_ready, wait_for
from tests.cluster.test_fault_redis import Page, database_url, is_event_for
from tests.cluster.test_watcher_cache import asked
from tests.processes import free_port, server_log, start_daphne, start_watcher, stop

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("real_node")]
MakeSandbox = Callable[..., tuple[Sandbox, str]]

SLUG, STEP = "api-server-fault", "greet"
AWAY = 4.0  # seconds the API server stays away at least: long enough for two tries again


def make_lesson() -> Lesson:
    """One step whose check runs a command in the student's Pod: only the API server can
    answer it (an object check is answered from the watcher's cache, which outlives an outage)."""
    lesson = Lesson.objects.create(
        slug=SLUG,
        title={"en": "API server fault", "zh-hans": "API 服务器故障"},
        summary={"en": "A test lesson.", "zh-hans": "测试课程。"},
    )
    Step.objects.create(
        lesson=lesson,
        position=1,
        key=STEP,
        title={"en": "Greet", "zh-hans": "问候"},
        body={"en": "Create the ConfigMap.", "zh-hans": "创建 ConfigMap。"},
        checks=[
            {"exists": {"kind": "ConfigMap", "name": "greeting"}},
            {"exec": {"pod": "box", "command": ["sh", "-c", "echo $GREETING"], "contains": "hello"}},
        ],
    )
    return lesson


def step_status(message: dict[str, Any]) -> str:
    return str(next(s["status"] for s in message["steps"] if s["key"] == STEP))


def test_checks_wait_out_an_api_server_restart_and_complete_the_step_by_themselves(
    make_sandbox: MakeSandbox, kubectl: Kubectl
) -> None:
    if connection.vendor != "postgresql":
        pytest.fail("this test's web server shares the PostgreSQL test database (run it through `make test`)")
    make_lesson()
    sandbox, _ = make_sandbox("api-fault")
    ns = sandbox.namespace
    kubectl("run", "box", "--image=busybox:1.35", "--env=GREETING=hello", "-n", ns, "--", "sleep", "3600")
    kubectl("wait", "--for=condition=Ready", "pod/box", "-n", ns, "--timeout=90s")
    client = Client()
    client.force_login(User.objects.get(sandboxes=sandbox))
    page = Page("the student", ns, f"sessionid={client.cookies['sessionid'].value}")

    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "LOG_LEVEL": "WARNING",
        # Room for the API server to be killed between a change reaching the page and the check
        # it starts (the check must run while the API server is away).
        "LESSONS_CHECK_DEBOUNCE_MS": "1500",
    }
    server = start_daphne(port, env)
    watcher = start_watcher(env)
    try:
        # The watcher has listed everything (a change before that would come in its list, not as
        # an event the page hears).
        wait_for(lambda: asked(lambda: ask.snapshot(ns)) is not None, 90, "the watcher answering")
        said = asyncio.run(checks_through_a_restart(port, page, ns, kubectl))
    finally:
        stop(server, watcher)
        assert apiserver_ready(), "the API server is not healthy after the test"
    log = server_log(server)
    assert " ERROR " not in log, log[-3000:]
    user = User.objects.get(sandboxes=sandbox)
    assert StepProgress.objects.filter(user=user, step__lesson__slug=SLUG, done_at__isnull=False).count() == 1
    print(said)


async def checks_through_a_restart(port: int, page: Page, ns: str, kubectl: Kubectl) -> str:
    async def sh(*args: str) -> None:
        await asyncio.to_thread(kubectl, *args)

    try:
        await page.open(port)
        sent = time.monotonic()
        await page.ws.send(json.dumps({"type": "cluster.subscribe"}))
        await page.next(lambda m: m["type"] == "cluster.snapshot", after=sent)
        await page.ws.send(json.dumps({"type": "lesson.open", "slug": SLUG, "language": "en"}))
        _, state = await page.next(lambda m: m["type"] == "lesson.state", after=sent)
        assert step_status(state) == "current"  # no ConfigMap yet

        # The step's change reaches the page; the check it starts runs after the API server died.
        changed = time.monotonic()
        await sh("create", "configmap", "greeting", "-n", ns, "--from-literal=a=b")
        seen, _ = await page.next(is_event_for("greeting", ns), after=changed)
        with apiserver_down() as down:
            assert seen + 1.0 > time.monotonic(), "the API server went down too late for this test"
            told, error = await page.next(
                lambda m: m["type"] == "lesson.error" and m.get("code") == "cluster_unreachable", after=seen, timeout=20
            )
            assert "cannot be reached" in error["message"]
            await asyncio.sleep(max(0.0, AWAY - (time.monotonic() - down.killed_at)))
        # Once it is back, the step completes with nobody clicking.
        done, state = await page.next(
            lambda m: m["type"] == "lesson.state" and step_status(m) == "done", after=down.killed_at
        )
        retries = [m for at, m in page.got if m.get("code") == "cluster_unreachable" and at >= seen]
        pauses = [m["retry_after"] for m in retries]
        assert len(retries) >= 2, pauses  # tried again while the API server was away...
        assert pauses == sorted(pauses), pauses  # ...less and less often
        assert pauses[-1] > pauses[0], pauses
        assert done >= down.ready_at - 0.5  # (the API server's first answers may come before /readyz)
        statuses = [step_status(m) for _, m in page.got if m["type"] == "lesson.state"]
        first_done = statuses.index("done")
        assert statuses[first_done:] == ["done"] * (len(statuses) - first_done), statuses  # done once, for good

        # The watcher picks up changes again (its watches were cut).
        changed = time.monotonic()
        await sh("create", "configmap", "after", "-n", ns, "--from-literal=a=b")
        live, _ = await page.next(is_event_for("after", ns), after=changed)
        output, status, _ = await page.run("kubectl get configmap after")
        assert status == 0, output
        assert "after" in output
        assert not page.closed
        return "\n".join(
            [
                "",
                f"  API server killed (SIGKILL) and started again: away {down.ready_at - down.killed_at:.1f}s "
                f"(started after {down.started_at - down.killed_at:.1f}s, "
                f"ready {down.ready_at - down.started_at:.1f}s later)",
                f"  the page told 'cannot be reached, checked again' {told - down.killed_at:.2f}s after the kill; "
                f"tries again after {', '.join(f'{p:g}' for p in pauses)} s",
                f"  step done by itself {done - down.ready_at:.2f}s after the API server was ready",
                f"  a change after the restart on the page (the watcher watching again): {live - changed:.2f}s, "
                f"{live - down.ready_at:.1f}s after the API server was ready",
            ]
        )
    finally:
        if page.ws is not None:
            await page.ws.close()
        if page.listener is not None:
            page.listener.cancel()
