"""The live view's watcher against the real API server: ordered events for a student's
changes, a picture that ends equal to the API's, no events across sandboxes, recovery from an
API server restart, and the stream reaching a subscriber's WebSocket."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.conf import settings

from sandbox.liveview.watcher import Watcher, group_name
from sandbox.models import Sandbox
from tests.cluster.conftest import Kubectl, kubectl_json

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]

DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: petclinic}
spec:
  replicas: 3
  selector: {matchLabels: {app: petclinic}}
  template:
    metadata: {labels: {app: petclinic}}
    spec: {containers: [{name: app, image: spring2go/spring-petclinic:1.0.0.RELEASE}]}
"""


class Recorder:
    def __init__(self) -> None:
        self.events: dict[int, list[dict[str, Any]]] = defaultdict(list)
        self.lock = threading.Lock()

    def __call__(self, sandbox_id: int, message: dict[str, Any]) -> None:
        with self.lock:
            self.events[sandbox_id].append(message)

    def of(self, sandbox_id: int, kind: str | None = None) -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.events[sandbox_id] if kind is None or e["object"]["kind"] == kind]

    def wait(self, predicate: Callable[[], bool], seconds: float, what: str) -> None:
        deadline = time.monotonic() + seconds
        while not predicate():
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}")
            time.sleep(0.05)


@pytest.fixture
def watcher() -> Iterator[tuple[Watcher, Recorder]]:
    recorder = Recorder()
    running = Watcher(recorder, watch_seconds=30)
    assert running.run_in_background(timeout=30)
    yield running, recorder
    running.shutdown()


def picture(events: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """Fold the stream into the current objects of one kind, by name."""
    state: dict[str, dict[str, Any]] = {}
    for event in events:
        obj = event["object"]
        if obj["kind"] != kind:
            continue
        if event["op"] == "DELETED":
            state.pop(obj["name"], None)
        else:
            state[obj["name"]] = obj
    return state


def test_it_streams_a_students_changes_in_order_and_ends_equal_to_the_api(
    make_sandbox: MakeSandbox, watcher: tuple[Watcher, Recorder], kubectl: Kubectl
) -> None:
    running, recorder = watcher
    sandbox, _ = make_sandbox()
    ns = sandbox.namespace
    recorder.wait(lambda: ns in running.namespaces, 10, "the watcher to learn the new namespace")

    kubectl("apply", "-n", ns, "-f", "-", input=DEPLOYMENT)
    kubectl("rollout", "status", "deployment/petclinic", "-n", ns, "--timeout=60s")
    kubectl("scale", "deployment/petclinic", "--replicas=5", "-n", ns)
    kubectl("rollout", "status", "deployment/petclinic", "-n", ns, "--timeout=60s")
    kubectl("set", "image", "deployment/petclinic", "app=spring2go/spring-petclinic:1.0.1.RELEASE", "-n", ns)
    kubectl("rollout", "status", "deployment/petclinic", "-n", ns, "--timeout=90s")
    victim = kubectl("get", "pods", "-n", ns, "-o", "jsonpath={.items[0].metadata.name}").stdout
    kubectl("delete", "pod", victim, "-n", ns, "--wait=false")

    def settled() -> bool:
        pods = picture(recorder.of(sandbox.pk), "Pod")
        live = [p for p in pods.values() if not p["deleting"] and p["ready"]]
        return victim not in pods and len(live) == 5

    recorder.wait(settled, 60, "the ReplicaSet to replace the deleted pod")

    deployment_events = [e["object"] for e in recorder.of(sandbox.pk, "Deployment")]
    replicas = [d["replicas"] for d in deployment_events]
    assert replicas[0] == 3
    assert 5 in replicas
    first_v2 = next(i for i, d in enumerate(deployment_events) if d["images"][0].endswith("1.0.1.RELEASE"))
    assert replicas.index(5) < first_v2  # the scale came before the image change, as it happened
    assert any(e["op"] == "DELETED" and e["object"]["name"] == victim for e in recorder.of(sandbox.pk, "Pod"))
    revisions = {rs["revision"] for rs in picture(recorder.of(sandbox.pk), "ReplicaSet").values()}
    assert revisions == {"1", "2"}

    # The folded stream ends equal to what the API says now.
    api_pods = {
        p["metadata"]["name"]: p["status"]["phase"]
        for p in kubectl_json(kubectl, "get", "pods", "-n", ns)["items"]
        if not p["metadata"].get("deletionTimestamp")
    }
    streamed = {name: p["phase"] for name, p in picture(recorder.of(sandbox.pk), "Pod").items() if not p["deleting"]}
    assert streamed == api_pods


def test_it_never_sends_a_sandbox_another_sandboxs_events(
    make_sandbox: MakeSandbox, watcher: tuple[Watcher, Recorder], kubectl: Kubectl
) -> None:
    running, recorder = watcher
    alice, _ = make_sandbox()
    bob, _ = make_sandbox()
    recorder.wait(lambda: {alice.namespace, bob.namespace} <= set(running.namespaces), 10, "both namespaces")
    kubectl("run", "alice-pod", "--image=nginx", "-n", alice.namespace)
    kubectl("run", "bob-pod", "--image=nginx", "-n", bob.namespace)
    kubectl("run", "outsider", "--image=nginx", "-n", "default")
    recorder.wait(lambda: bool(recorder.of(alice.pk, "Pod")) and bool(recorder.of(bob.pk, "Pod")), 20, "pods")
    for sandbox in (alice, bob):
        assert {e["object"]["namespace"] for e in recorder.of(sandbox.pk)} == {sandbox.namespace}
    assert all(e["object"]["name"] != "outsider" for events in recorder.events.values() for e in events)
    kubectl("delete", "pod", "outsider", "-n", "default", "--wait=false")


def restart_apiserver() -> None:
    """Kill the local kube-apiserver and start it again with the same command line."""
    pid_file = (
        settings.CLUSTER_ADMIN_KUBECONFIG.parent / "kwok" / "clusters" / "sandbox" / "pids" / "kube-apiserver.pid"
    )
    pid = int(pid_file.read_text())
    argv = Path(f"/proc/{pid}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    cwd = os.readlink(f"/proc/{pid}/cwd")
    os.kill(pid, signal.SIGKILL)
    while Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text():
        time.sleep(0.05)
    time.sleep(1)  # the watches notice the dropped connections
    log = open(Path(cwd) / "logs" / "kube-apiserver.log", "ab")  # noqa: SIM115  (handed to the server process)
    server = subprocess.Popen([a.decode() for a in argv], cwd=cwd, stdout=log, stderr=log, start_new_session=True)
    pid_file.write_text(str(server.pid))


def test_it_survives_an_api_server_restart_and_converges(
    make_sandbox: MakeSandbox, watcher: tuple[Watcher, Recorder], kubectl: Kubectl
) -> None:
    running, recorder = watcher
    sandbox, _ = make_sandbox()
    ns = sandbox.namespace
    recorder.wait(lambda: ns in running.namespaces, 10, "the namespace")
    kubectl("run", "before", "--image=nginx", "-n", ns)
    recorder.wait(lambda: "before" in picture(recorder.of(sandbox.pk), "Pod"), 20, "the first pod")
    errors_before = sum(r.errors for r in running.reflectors)

    restart_apiserver()
    deadline = time.monotonic() + 60
    while kubectl("get", "--raw=/readyz", check=False).returncode != 0:
        assert time.monotonic() < deadline, "the API server did not come back"
        time.sleep(0.5)

    kubectl("run", "after", "--image=nginx", "-n", ns)
    kubectl("delete", "pod", "before", "-n", ns, "--wait=false")
    recorder.wait(
        lambda: set(picture(recorder.of(sandbox.pk), "Pod")) == {"after"},
        90,
        "the stream to catch up after the restart",
    )
    assert sum(r.errors for r in running.reflectors) > errors_before  # it did notice the outage


def test_it_delivers_changes_to_a_subscribed_websocket(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
    import asyncio

    from django.contrib.auth.models import User

    from sandbox.realtime import handlers
    from tests.cluster.test_terminal_socket import connect
    from tests.conftest import run_async

    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)
    layer = get_channel_layer()
    heard: list[dict[str, Any]] = []

    class Listener(handlers.Handler):  # a feature that hears changes, as the lesson checks do
        async def on_cluster_change(self, event: dict[str, Any]) -> None:
            heard.append(event)

    handlers.register("probe", Listener)
    running = Watcher(lambda sandbox_id, message: async_to_sync(layer.group_send)(group_name(sandbox_id), message))
    assert running.run_in_background(timeout=30)
    try:

        async def scenario() -> None:
            communicator = await connect(owner)
            await communicator.send_json_to({"type": "cluster.subscribe"})
            snap = await communicator.receive_json_from(timeout=10)
            assert snap["type"] == "cluster.snapshot"
            assert snap["namespace"] == sandbox.namespace
            assert [o for o in snap["objects"] if o["kind"] == "Pod"] == []
            await asyncio.to_thread(kubectl, "run", "live", "--image=nginx", "-n", sandbox.namespace)
            while True:
                message = await communicator.receive_json_from(timeout=20)
                if message["type"] == "cluster.event" and message["object"]["name"] == "live":
                    break
            assert message["object"]["kind"] == "Pod"
            await communicator.disconnect()

        run_async(scenario)
        assert any(e["object"]["name"] == "live" for e in heard)
    finally:
        running.shutdown()
        handlers.unregister("probe")
