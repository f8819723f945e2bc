"""Redis killed and started again under a class: a Redis of its own (never the suite's shared
one), a real daphne and a real elected watcher on it, 20 students' pages over real WebSockets.

A restarted Redis here has forgotten everything: every socket's group memberships, and every
change the watcher published while it was away. The sockets must ride it out (none closes),
join their groups again by themselves and catch the page up (a new snapshot, a lesson check),
so that every page still gets live changes, each page sees the step done exactly once (never a
lost or a repeated result), and terminals answer during the outage and after it.

    pytest tests/cluster/test_fault_redis.py -s      (prints the recovery figures)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import statistics
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import websockets
import yaml
from channels_redis.core import RedisChannelLayer  # type: ignore[import-untyped]  # ships no types
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from lessons.loader import load
from lessons.models import StepProgress
from sandbox.models import Sandbox
from sandbox.realtime.layer import RECONNECTED, Membership
from tests.cluster.conftest import Kubectl
from tests.processes import ROOT, free_port, server_log, start_daphne, start_watcher, stop

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]

PAGES = 20
LESSON, STEP = "configmap", "config"  # its first step: a ConfigMap with the lesson's settings
AWAY = 3.0  # seconds Redis stays away at least, so that the outage is more than a blip
BOUND = 90.0  # a wait limit for a slow, shared machine: not a timed assert


class PrivateRedis:
    """A Redis on a port of its own, started by the project's script (docker/services/redis.sh)."""

    def __init__(self, folder: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.env = {**os.environ, "REDIS_PORT": str(self.port), "SERVICES_DIR": str(folder)}
        self.pid_file = folder / f"redis-{self.port}" / "redis.pid"

    def start(self) -> None:
        script = str(ROOT / "docker" / "services" / "redis.sh")
        subprocess.run(["bash", script, "start"], env=self.env, check=True, capture_output=True)

    def kill(self) -> None:
        """SIGKILL, as a crash: nothing is saved (the script runs it without persistence)."""
        pid = int(self.pid_file.read_text())
        os.kill(pid, signal.SIGKILL)
        while Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text():
            time.sleep(0.01)

    def stop(self) -> None:
        script = str(ROOT / "docker" / "services" / "redis.sh")
        subprocess.run(["bash", script, "stop"], env=self.env, check=False, capture_output=True)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    redis = PrivateRedis(tmp_path)
    redis.start()
    yield redis
    redis.stop()


def test_a_socket_keeps_its_groups_and_its_receive_through_a_redis_restart(private_redis: PrivateRedis) -> None:
    async def scenario() -> None:
        layer = RedisChannelLayer(
            hosts=[{"address": private_redis.url, "socket_timeout": 30, "socket_connect_timeout": 5}]
        )
        early, late = Membership(layer), Membership(layer)
        try:
            a, b = await layer.new_channel(), await layer.new_channel()
            await early.group_add("class", a)
            receiving_a = asyncio.ensure_future(early.receive(a))
            receiving_b = asyncio.ensure_future(late.receive(b))
            await asyncio.sleep(0.3)

            private_redis.kill()
            await asyncio.sleep(1.0)
            # Plain channels_redis raises here (the blocked pop loses its connection), which
            # would end the page's consumer and close its socket.
            assert not receiving_a.done()
            assert not receiving_b.done()
            await late.group_add("late", b)  # joining while Redis is away does not fail...
            private_redis.start()

            # ...each socket hears that it may have missed something, once...
            assert await asyncio.wait_for(receiving_a, 30) == RECONNECTED
            assert await asyncio.wait_for(receiving_b, 30) == RECONNECTED
            # ...and is in its groups again (the restarted Redis had forgotten them).
            await layer.group_send("class", {"type": "after"})
            await layer.group_send("late", {"type": "late"})
            assert (await asyncio.wait_for(early.receive(a), 10))["type"] == "after"
            assert (await asyncio.wait_for(late.receive(b), 10))["type"] == "late"
            with pytest.raises(TimeoutError):  # no second notice, nothing else
                await asyncio.wait_for(early.receive(a), 2)
        finally:
            early.forget()
            late.forget()
            for index in range(layer.ring_size):
                await layer.connection(index).aclose()

    asyncio.run(scenario())


# --- a class of pages through a Redis restart ------------------------------------------------


@dataclass
class Page:
    """One student's page: its socket, and every message it got with the time it came."""

    name: str
    namespace: str
    cookie: str
    got: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    closed: str = ""
    ws: Any = None
    listener: asyncio.Task[None] | None = None

    async def open(self, port: int) -> None:
        self.ws = await websockets.connect(
            f"ws://127.0.0.1:{port}/ws/sandbox/",
            additional_headers={"Cookie": self.cookie, "Origin": f"http://127.0.0.1:{port}"},
            max_size=None,
        )
        self.listener = asyncio.create_task(self.listen())
        await self.next(lambda m: m["type"] == "hello")

    async def listen(self) -> None:
        try:
            async for raw in self.ws:
                self.got.append((time.monotonic(), json.loads(raw)))
                self.arrived.set()
        except websockets.ConnectionClosed as closed:
            self.closed = f"closed: {closed}"
        else:
            self.closed = "closed by the server"
        self.arrived.set()

    async def next(
        self, match: Callable[[dict[str, Any]], bool], after: float = 0.0, timeout: float = BOUND
    ) -> tuple[float, dict[str, Any]]:
        """The first message since `after` (time.monotonic()) that matches."""
        deadline = time.monotonic() + timeout
        while True:
            for at, message in self.got:
                if at >= after and match(message):
                    return at, message
            if self.closed:
                raise AssertionError(f"{self.name}'s socket {self.closed}")
            left = deadline - time.monotonic()
            if left <= 0:
                last = json.dumps(self.got[-1][1])[:2000] if self.got else ""
                raise AssertionError(
                    f"{self.name}: no matching message within {timeout}s; got {self.kinds()}; the last: {last}"
                )
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), left)

    def kinds(self) -> list[str]:
        return [message["type"] for _, message in self.got][-30:]

    async def run(self, line: str) -> tuple[str, int, float]:
        """Type a line into the terminal: its output, exit status and when it ended."""
        sent = time.monotonic()
        await self.ws.send(json.dumps({"type": "terminal.run", "line": line}))
        ended, exit_message = await self.next(lambda m: m["type"] == "terminal.exit", after=sent)
        output = "".join(m["data"] for at, m in self.got if sent <= at <= ended and m["type"] == "terminal.output")
        return output, int(exit_message["status"]), ended

    def step_statuses(self) -> list[str]:
        """The step's status in each lesson.state, in order."""
        return [
            next(s["status"] for s in m["steps"] if s["key"] == STEP)
            for _, m in self.got
            if m["type"] == "lesson.state" and m.get("lesson") == LESSON
        ]

    async def step_done(self, after: float = 0.0) -> float:
        at, _ = await self.next(lambda m: is_done(m), after=after)
        return at


def is_done(message: dict[str, Any]) -> bool:
    return message["type"] == "lesson.state" and any(
        s["key"] == STEP and s["status"] == "done" for s in message.get("steps", [])
    )


def is_event_for(name: str, namespace: str) -> Callable[[dict[str, Any]], bool]:
    def match(message: dict[str, Any]) -> bool:
        obj = message.get("object") or {}
        return (
            message["type"] == "cluster.event"
            and obj.get("kind") == "ConfigMap"
            and obj.get("name") == name
            and obj.get("namespace") == namespace
        )

    return match


def configmaps(namespaces: list[str], name: str, data: dict[str, str]) -> str:
    """One manifest with a ConfigMap in each namespace: one kubectl for the whole class."""
    items = [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns}, "data": data}
        for ns in namespaces
    ]
    return yaml.safe_dump({"apiVersion": "v1", "kind": "List", "items": items})


def lesson_config() -> dict[str, str]:
    path = ROOT / "lessons" / "content" / "10-configmap" / "manifests" / "petclinic-config.yaml"
    data: dict[str, str] = yaml.safe_load(path.read_text())["data"]
    return data


def figures(values: list[float]) -> str:
    ordered = sorted(values)
    return (
        f"p50 {statistics.median(ordered):.2f}s, p95 {ordered[max(0, round(0.95 * len(ordered)) - 1)]:.2f}s, "
        f"max {ordered[-1]:.2f}s"
    )


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


def test_twenty_pages_ride_out_a_redis_restart_with_nothing_lost(
    private_redis: PrivateRedis, make_sandbox: MakeSandbox, kubectl: Kubectl
) -> None:
    if connection.vendor != "postgresql":
        pytest.fail("this test's web server shares the PostgreSQL test database (run it through `make test`)")
    load()
    pages = []
    for index in range(PAGES):
        sandbox, _ = make_sandbox(f"redis-fault-{index}")
        client = Client()
        client.force_login(User.objects.get(sandboxes=sandbox))
        pages.append(Page(f"student {index}", sandbox.namespace, f"sessionid={client.cookies['sessionid'].value}"))
    # Three kinds of page (a sensible mix): the step's change made by someone else while Redis is
    # away (its event is lost: only the catch-up can tell the page), typed in the page's own
    # terminal while Redis is away, and typed after Redis is back.
    mix = (pages[:7], pages[7:14], pages[14:])

    port = free_port()
    env = {
        **os.environ,
        "CHANNEL_LAYER": "redis",
        "REDIS_URL": private_redis.url,
        "CELERY_BROKER_URL": private_redis.url,
        "DATABASE_URL": database_url(),
        "CLUSTER_KUBECONFIG": str(settings.CLUSTER_KUBECONFIG),
        "LOG_LEVEL": "WARNING",
    }
    server = start_daphne(port, env)
    watcher = start_watcher(env, elected=True)  # as `make run` runs it: its lock is in this Redis
    try:
        said = asyncio.run(class_through_a_restart(port, private_redis, pages, mix, kubectl))
    finally:
        stop(server, watcher)
    # Warnings while Redis was away, yes; no error, and no socket ended by an exception.
    log = server_log(server)
    assert " ERROR " not in log, log[-3000:]
    assert "Exception inside application" not in log, log[-3000:]

    # Exactly one completion of the step per student, made once.
    for page in pages:
        user = User.objects.get(username=page.name.replace("student ", "redis-fault-"))
        rows = StepProgress.objects.filter(user=user, step__lesson__slug=LESSON, step__key=STEP)
        assert rows.count() == 1
        assert rows.get().done_at is not None
    print(said)


async def class_through_a_restart(
    port: int, redis: PrivateRedis, pages: list[Page], mix: tuple[list[Page], ...], kubectl: Kubectl
) -> str:
    away_other, away_typed, after_typed = mix

    async def sh(*args: str, input: str | None = None) -> None:
        await asyncio.to_thread(kubectl, *args, input=input)

    async def ready(page: Page) -> None:
        await page.open(port)
        sent = time.monotonic()
        await page.ws.send(json.dumps({"type": "cluster.subscribe"}))
        await page.next(lambda m: m["type"] == "cluster.snapshot", after=sent)
        await page.ws.send(json.dumps({"type": "lesson.open", "slug": LESSON, "language": "en"}))
        await page.next(lambda m: m["type"] == "lesson.state", after=sent)
        output, status, _ = await page.run("kubectl get configmaps")  # the terminal session begins
        assert status == 0, output

    try:
        await asyncio.gather(*(ready(page) for page in pages))
        # Live changes reach every page before the fault (the watcher has listed everything).
        changed = time.monotonic()
        await sh("apply", "-f", "-", input=configmaps([p.namespace for p in pages], "before", {"a": "b"}))
        seen = await asyncio.gather(
            *(page.next(is_event_for("before", page.namespace), after=changed) for page in pages)
        )
        # The check that this change starts has run (otherwise, running while Redis is away, it
        # could find the step's change below by itself, and the catch-up would not be tested).
        await asyncio.gather(
            *(
                page.next(lambda m: m["type"] == "lesson.state", after=at)
                for page, (at, _) in zip(pages, seen, strict=True)
            )
        )
        assert not any(is_done(m) for page in pages for _, m in page.got)

        # Redis crashes. Meanwhile the step's change is made for some pages by someone else, and
        # typed in the terminal by others: their terminals answer, the checks read the API server.
        killed = time.monotonic()
        redis.kill()
        await sh(
            "apply", "-f", "-", input=configmaps([p.namespace for p in away_other], "petclinic-config", lesson_config())
        )
        typed = await asyncio.gather(*(page.run("kubectl apply -f petclinic-config.yaml") for page in away_typed))
        assert all(status == 0 for _, status, _ in typed), typed
        await asyncio.sleep(max(0.0, AWAY - (time.monotonic() - killed)))
        redis.start()
        back = time.monotonic()

        # Every page is caught up without asking: a new snapshot (its group joined again first).
        caught_up = await asyncio.gather(
            *(page.next(lambda m: m["type"] == "cluster.snapshot", after=back) for page in pages)
        )
        for _, snapshot in caught_up[: len(away_other)]:
            assert "petclinic-config" in {o["name"] for o in snapshot["objects"] if o["kind"] == "ConfigMap"}
        # The change made by someone else while Redis was away is checked by itself.
        other_done = await asyncio.gather(*(page.step_done() for page in away_other))
        typed_done = await asyncio.gather(*(page.step_done() for page in away_typed))
        # Typed after Redis is back: the terminal session still answers, the check follows.
        lines = await asyncio.gather(*(page.run("kubectl apply -f petclinic-config.yaml") for page in after_typed))
        assert all(status == 0 for _, status, _ in lines), lines
        after_done = await asyncio.gather(
            *(page.step_done(after=ended) for page, (_, _, ended) in zip(after_typed, lines, strict=True))
        )

        # Live changes reach every page after the restart.
        changed = time.monotonic()
        await sh("apply", "-f", "-", input=configmaps([p.namespace for p in pages], "after", {"a": "b"}))
        live = await asyncio.gather(
            *(page.next(is_event_for("after", page.namespace), after=changed) for page in pages)
        )
        answers = await asyncio.gather(*(page.run("kubectl get configmap after") for page in pages))
        assert all(status == 0 and "after" in output for output, status, _ in answers), answers

        for page in pages:
            assert not page.closed, f"{page.name}'s socket {page.closed}"
            statuses = page.step_statuses()
            # The step turns done once and stays done: no lost and no repeated result.
            first_done = statuses.index("done")
            assert all(s == "current" for s in statuses[:first_done]), statuses
            assert all(s == "done" for s in statuses[first_done:]), statuses
        since_back = [at - back for at, _ in caught_up]
        typed_away = [at - ended for at, (_, _, ended) in zip(typed_done, typed, strict=True)]
        typed_after = [at - ended for at, (_, _, ended) in zip(after_done, lines, strict=True)]
        return "\n".join(
            [
                "",
                f"  Redis away {back - killed:.1f}s (SIGKILL; docker/services/redis.sh started it), {len(pages)} pages",
                f"  each page caught up (groups joined again, new snapshot) after it was back: {figures(since_back)}",
                f"  step done, changed by another client while Redis was away, after it was back: "
                f"{figures([at - back for at in other_done])}",
                f"  step done, typed while Redis was away, after the line ended: {figures(typed_away)}",
                f"  step done, typed after Redis was back, after the line ended: {figures(typed_after)}",
                f"  a live change after the restart -> on every page: {figures([at - changed for at, _ in live])}",
            ]
        )
    finally:
        for page in pages:
            if page.ws is not None:
                await page.ws.close()
            if page.listener is not None:
                page.listener.cancel()
