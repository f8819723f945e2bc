"""The pages' snapshots and the lesson checks read the shared watcher's caches, over the real
Redis channel layer, from a real `manage.py watch_sandboxes` process: what it answers equals
the API server's lists, a change made just before a subscription is not lost, checks give the
same results as from the API, no list per kind reaches the API server (this process's own
request counter), and without a watcher the API server is read instead."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from lessons import checks, engine, loader
from lessons.models import Lesson, Step
from sandbox import k8s
from sandbox.liveview import ask, events
from sandbox.liveview.snapshot import snapshot
from sandbox.models import Sandbox
from tests.cluster.conftest import Kubectl
from tests.cluster.test_terminal_socket import connect
from tests.conftest import run_async
from tests.processes import start_watcher, stop

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]
Raw = dict[str, Any]

WORKLOAD = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: petclinic}
spec:
  replicas: 2
  selector: {matchLabels: {app: petclinic}}
  template:
    metadata: {labels: {app: petclinic}}
    spec: {containers: [{name: app, image: spring2go/spring-petclinic:1.0.0.RELEASE}]}
---
apiVersion: v1
kind: Service
metadata: {name: petclinic}
spec:
  selector: {app: petclinic}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {greeting: hello}
"""


def versions(objects: list[Raw]) -> set[tuple[str, str, str]]:
    """(kind, name, resourceVersion) of compact objects."""
    return {(o["kind"], o["name"], o["resourceVersion"]) for o in objects}


def raw_versions(world: dict[tuple[str, str], list[Raw]]) -> set[tuple[str, str, str, str]]:
    return {
        (kind, ns, o["metadata"]["name"], o["metadata"]["resourceVersion"])
        for (kind, ns), items in world.items()
        for o in items
    }


def asked(question: Callable[[], Any]) -> Any:
    """One question to the watcher, whatever an earlier timeout of this process said."""
    ask._quiet_until = 0.0
    return run_async(question)


@pytest.fixture(autouse=True)
def patient(monkeypatch: pytest.MonkeyPatch) -> None:
    """A busy machine (a whole test suite at once) may take the watcher past its 1 s: these tests
    are about where the answers come from, not how fast, so they wait longer for them."""
    monkeypatch.setattr(settings, "LIVEVIEW_WATCHER_TIMEOUT_MS", 15000)


@pytest.fixture(scope="module")
def watcher_process() -> Iterator[None]:
    """A real watcher, answering once it has listed every kind."""
    process = start_watcher(os.environ)
    try:
        deadline = time.monotonic() + 90
        while asked(lambda: ask.world([settings.SANDBOX_NAMESPACE_PREFIX + "none"], ["Pod"])) is None:
            assert process.poll() is None, "the watcher exited"
            assert time.monotonic() < deadline, "the watcher did not answer"
            time.sleep(0.5)
        yield
    finally:
        stop(process)


def until_equal(read_cache: Callable[[], Any], read_api: Callable[[], Any], what: str) -> tuple[Any, Any]:
    """Both reads once the watcher has caught up with the API server (its watch lags by a few
    milliseconds behind a change)."""
    deadline = time.monotonic() + 60
    while True:
        api = read_api()
        cached = read_cache()
        if cached == api:
            return cached, api
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: the cache never caught up\ncache {cached}\napi   {api}")
        time.sleep(0.25)


def test_the_snapshot_from_the_cache_equals_a_fresh_list_and_costs_no_request(
    watcher_process: None, make_sandbox: MakeSandbox, kubectl: Kubectl
) -> None:
    sandbox, _ = make_sandbox()
    ns = sandbox.namespace
    kubectl("apply", "-n", ns, "-f", "-", input=WORKLOAD)
    kubectl("rollout", "status", "deployment/petclinic", "-n", ns, "--timeout=60s")

    def by_key(objects: list[Raw]) -> list[Raw]:
        return sorted(objects, key=lambda o: (o["kind"], o["name"]))

    # Field for field, not only names and resourceVersions: the same compact objects.
    cached, api = until_equal(lambda: by_key(asked(lambda: ask.snapshot(ns))), lambda: by_key(snapshot(ns)), "snapshot")
    assert versions(cached) == versions(api)
    assert {"Deployment", "ReplicaSet", "Pod", "Service", "ConfigMap", "EndpointSlice"} <= {o["kind"] for o in cached}

    before = k8s.request_count()
    assert asked(lambda: ask.snapshot(ns)) is not None
    assert k8s.request_count() == before  # no list per kind, nor any other request


def test_a_change_just_before_subscribing_is_in_the_snapshot_or_arrives_as_an_event(
    watcher_process: None, make_sandbox: MakeSandbox, kubectl: Kubectl
) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], int]:
        communicator = await connect(owner)
        await asyncio.to_thread(kubectl, "run", "just-now", "--image=nginx", "-n", sandbox.namespace)
        before = k8s.request_count()
        await communicator.send_json_to({"type": "cluster.subscribe"})
        snap = await communicator.receive_json_from(timeout=10)
        requests = k8s.request_count() - before
        later: list[dict[str, Any]] = []
        if not any(o["kind"] == "Pod" and o["name"] == "just-now" for o in snap["objects"]):
            while not any(m["object"]["name"] == "just-now" for m in later):
                message = await communicator.receive_json_from(timeout=20)
                if message["type"] == "cluster.event":
                    later.append(message)
        await communicator.disconnect()
        return snap, later, requests

    ask._quiet_until = 0.0
    snap, later, requests = run_async(scenario)
    assert snap["type"] == "cluster.snapshot"
    assert snap["namespace"] == sandbox.namespace
    assert requests == 0  # the subscription listed nothing from the API server
    pods = [o for o in snap["objects"] if o["kind"] == "Pod"] + [m["object"] for m in later]
    assert "just-now" in {p["name"] for p in pods}


def all_steps() -> list[Step]:
    assert [str(p) for p in loader.load().problems] == []
    return [step for lesson in Lesson.objects.filter(active=True) for step in lesson.steps.all()]


def test_lesson_checks_from_the_cache_say_what_they_say_from_the_api(
    watcher_process: None, make_sandbox: MakeSandbox, kubectl: Kubectl
) -> None:
    sandbox, _ = make_sandbox()
    ns = sandbox.namespace
    kubectl("apply", "-n", ns, "-f", "-", input=WORKLOAD)
    kubectl("rollout", "status", "deployment/petclinic", "-n", ns, "--timeout=60s")
    victim = kubectl("get", "pods", "-n", ns, "-o", "jsonpath={.items[0].metadata.name}").stdout
    kubectl("delete", "pod", victim, "-n", ns)  # a self-healing ReplicaSet, for its checks
    kubectl("rollout", "status", "deployment/petclinic", "-n", ns, "--timeout=60s")
    steps = all_steps()
    kinds = sorted({kind for step in steps for check in step.checks for kind in checks.kinds_read(check)})
    assert set(kinds) <= set(events.KINDS)  # every kind the lessons read, the watcher caches

    def api_world() -> dict[tuple[str, str], list[Raw]]:
        with k8s.as_checker():
            return {
                (kind, n): k8s.list_raw(kind, field_selector=f"metadata.namespace={n}")[0]
                for kind in kinds
                for n in sandbox.all_namespaces()
            }

    def cache_world() -> dict[tuple[str, str], list[Raw]]:
        world = asked(lambda: ask.world(sandbox.all_namespaces(), kinds))
        assert world is not None
        return dict(world)

    # Both read at one moment, once the watcher has caught up (a few milliseconds after a change).
    deadline = time.monotonic() + 60
    while raw_versions(fresh := api_world()) != raw_versions(cached := cache_world()):
        assert time.monotonic() < deadline, "the cache never caught up with the API server"
        time.sleep(0.25)

    results_cache, results_api = [], []
    before = k8s.request_count()
    for step in steps:
        results_cache.append(engine.step_failures(step, sandbox, engine.ClusterWorld(sandbox, cache=dict(cached))))
    # The checks listed nothing themselves; only `http` checks made their one request each (a
    # page is fetched, not read from any cache).
    fetches = sum(1 for step in steps for check in step.checks if "http" in check)
    assert k8s.request_count() - before == fetches
    for step in steps:
        results_api.append(engine.step_failures(step, sandbox, engine.ClusterWorld(sandbox, cache=dict(fresh))))
    assert results_cache == results_api
    assert any(failures == [] for failures in results_cache)  # some checks pass here...
    assert any(failures for failures in results_cache)  # ...and others do not


def test_a_lesson_opened_on_a_subscribed_page_is_checked_without_listing(
    watcher_process: None, make_sandbox: MakeSandbox
) -> None:
    assert [str(p) for p in loader.load().problems] == []
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)

    async def scenario() -> tuple[dict[str, Any], int]:
        communicator = await connect(owner)
        await communicator.send_json_to({"type": "cluster.subscribe"})
        assert (await communicator.receive_json_from(timeout=10))["type"] == "cluster.snapshot"
        before = k8s.request_count()
        await communicator.send_json_to({"type": "lesson.open", "slug": "pod", "language": "en"})
        while (message := await communicator.receive_json_from(timeout=20))["type"] != "lesson.state":
            pass
        requests = k8s.request_count() - before
        await communicator.disconnect()
        return message, requests

    ask._quiet_until = 0.0
    state, requests = run_async(scenario)
    assert state["steps"][0]["failures"] == [f"Pod petclinic does not exist yet in namespace {sandbox.namespace}."]
    assert requests == 0


def test_without_a_watcher_the_page_and_the_checks_read_the_api_server(
    make_sandbox: MakeSandbox, kubectl: Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert [str(p) for p in loader.load().problems] == []
    # Nobody answers on this channel: as if no watcher were running.
    monkeypatch.setattr(ask, "request_channel", lambda: "liveview.requests.nobody-listens")
    monkeypatch.setattr(settings, "LIVEVIEW_WATCHER_TIMEOUT_MS", 300)
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)
    kubectl("run", "petclinic", "--image=nginx", "--labels=app=petclinic", "-n", sandbox.namespace)

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], int]:
        communicator = await connect(owner)
        before = k8s.request_count()
        await communicator.send_json_to({"type": "cluster.subscribe"})
        snap = await communicator.receive_json_from(timeout=10)
        await communicator.send_json_to({"type": "lesson.open", "slug": "pod", "language": "en"})
        while (message := await communicator.receive_json_from(timeout=20))["type"] != "lesson.state":
            pass
        requests = k8s.request_count() - before
        await communicator.disconnect()
        return snap, message, requests

    ask._quiet_until = 0.0
    try:
        snap, state, requests = run_async(scenario)
    finally:
        ask._quiet_until = 0.0
    assert "petclinic" in {o["name"] for o in snap["objects"] if o["kind"] == "Pod"}
    assert state["steps"][0]["failures"] != [
        f"Pod petclinic does not exist yet in namespace {sandbox.namespace}."
    ]  # the check saw the pod, read from the API server
    assert requests >= len(events.KINDS)  # one list per kind for the snapshot, and the check's
