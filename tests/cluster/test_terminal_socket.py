"""The terminal end to end over a real WebSocket (Channels' communicator against the ASGI app),
running real kubectl against the real API server in the student's sandbox."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client

from config.asgi import application
from sandbox.models import Sandbox
from sandbox.terminal import workspace
from sandbox.terminal.models import CommandAudit
from tests.conftest import SAME_ORIGIN, run_async

pytestmark = pytest.mark.django_db(transaction=True)

MakeSandbox = Callable[..., tuple[Sandbox, str]]
POD = (
    "apiVersion: v1\nkind: Pod\nmetadata: {name: petclinic, labels: {app: petclinic}}\n"
    "spec: {containers: [{name: app, image: spring2go/spring-petclinic:1.0.0.RELEASE}]}\n"
)


def cookie_for(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def connect(user: User) -> WebsocketCommunicator:
    cookie = await sync_to_async(cookie_for)(user)
    communicator = WebsocketCommunicator(
        application,
        "/ws/sandbox/",
        headers=[(b"cookie", cookie), *SAME_ORIGIN],
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    hello = await communicator.receive_json_from(timeout=10)
    assert hello["type"] == "hello"
    return communicator


async def run(communicator: WebsocketCommunicator, line: str, timeout: float = 60) -> tuple[str, int]:
    await communicator.send_json_to({"type": "terminal.run", "line": line})
    output = []
    while True:
        message: dict[str, Any] = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == "terminal.output":
            output.append(message["data"])
        elif message["type"] == "terminal.exit":
            return "".join(output), int(message["status"])


def test_it_runs_kubectl_and_streams_the_answer(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)
    workspace.save(sandbox, "petclinic-pod.yml", POD)

    async def scenario() -> None:
        communicator = await connect(owner)
        output, status = await run(communicator, "kubectl apply -f petclinic-pod.yml")
        assert status == 0
        assert "pod/petclinic created" in output
        output, status = await run(communicator, "kubectl get pods | grep petclinic")
        assert status == 0
        assert "petclinic" in output
        output, status = await run(communicator, "kubectl get pods --kubeconfig=/etc/kubernetes/admin.conf")
        assert status == 2
        assert "your own sandbox credentials" in output
        await communicator.disconnect()

    run_async(scenario)
    lines = list(CommandAudit.objects.filter(sandbox=sandbox).order_by("started_at").values_list("line", "outcome"))
    assert lines == [
        ("kubectl apply -f petclinic-pod.yml", "ran"),
        ("kubectl get pods | grep petclinic", "ran"),
        ("kubectl get pods --kubeconfig=/etc/kubernetes/admin.conf", "denied"),
    ]


def test_it_interrupts_a_watch_with_ctrl_c(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)

    async def scenario() -> None:
        communicator = await connect(owner)
        await communicator.send_json_to({"type": "terminal.run", "line": "kubectl get pods -w"})
        await asyncio.sleep(1.5)
        await communicator.send_json_to({"type": "terminal.run", "line": "kubectl get pods"})
        busy = await communicator.receive_json_from(timeout=10)
        while busy["type"] == "terminal.output":
            busy = await communicator.receive_json_from(timeout=10)
        assert busy["type"] == "terminal.busy"
        await communicator.send_json_to({"type": "terminal.interrupt"})
        while (message := await communicator.receive_json_from(timeout=10))["type"] != "terminal.exit":
            pass
        assert message["status"] != 0
        await communicator.disconnect()

    run_async(scenario)
    assert CommandAudit.objects.get(sandbox=sandbox, line="kubectl get pods -w").outcome == "interrupted"


def test_it_stops_the_command_when_the_student_disconnects(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)

    async def scenario() -> None:
        communicator = await connect(owner)
        await communicator.send_json_to({"type": "terminal.run", "line": "kubectl get pods -w"})
        await asyncio.sleep(1.5)
        await communicator.disconnect()

    run_async(scenario)
    audit = CommandAudit.objects.get(sandbox=sandbox, line="kubectl get pods -w")
    assert audit.outcome == "interrupted"


def test_it_refuses_anonymous_sockets_and_bad_messages(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)

    async def scenario() -> None:
        anonymous = WebsocketCommunicator(application, "/ws/sandbox/", headers=[*SAME_ORIGIN])
        connected, code = await anonymous.connect(timeout=10)
        assert not connected
        assert code == 4401

        communicator = await connect(owner)
        await communicator.send_to(text_data="not json")
        assert (await communicator.receive_json_from())["message"] == "messages must be JSON"
        await communicator.send_to(text_data=json.dumps({"type": "terminal.run", "line": 42}))
        assert "needs a string" in (await communicator.receive_json_from())["message"]
        await communicator.send_to(text_data=json.dumps({"type": "shell.exec"}))
        assert "unknown message type" in (await communicator.receive_json_from())["message"]
        await communicator.send_to(text_data="x" * 70_000)
        assert "too large" in (await communicator.receive_json_from())["message"]
        await communicator.send_json_to({"type": "ping"})
        assert (await communicator.receive_json_from())["type"] == "pong"
        await communicator.disconnect()

    run_async(scenario)


def test_it_opens_kubectl_edit_in_the_browser_editor(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)
    events: list[dict[str, Any]] = []

    async def scenario() -> None:
        communicator = await connect(owner)
        _, status = await run(communicator, "kubectl create deployment web --image=nginx")
        assert status == 0
        await communicator.send_json_to({"type": "terminal.run", "line": "kubectl edit deployment web"})
        while (message := await communicator.receive_json_from(timeout=30))["type"] != "terminal.exit":
            events.append(message)
        assert message["status"] == 0
        content = await sync_to_async(lambda: workspace.files(sandbox)["edit-deployment-web.yaml"])()
        edited = yaml.safe_load(content)
        assert "resourceVersion" not in edited["metadata"]
        assert "status" not in edited
        # The object changes while the student edits (as a controller's status update would):
        # applying the file still works, as `kubectl edit` itself would have.
        _, status = await run(communicator, "kubectl label deployment web edited-meanwhile=yes")
        assert status == 0
        await sync_to_async(workspace.save)(
            sandbox, "edit-deployment-web.yaml", content.replace("replicas: 1", "replicas: 2", 1)
        )
        output, status = await run(communicator, "kubectl apply -f edit-deployment-web.yaml")
        assert status == 0
        assert "deployment.apps/web configured" in output
        output, _ = await run(communicator, "kubectl get deployment web -o jsonpath={.spec.replicas}")
        assert output.strip().endswith("2")
        await communicator.disconnect()

    run_async(scenario)
    assert {"type": "editor.open", "name": "edit-deployment-web.yaml"} in events
    assert any("Opened edit-deployment-web.yaml in the editor" in e.get("data", "") for e in events)
