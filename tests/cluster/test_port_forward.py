"""`kubectl port-forward` in the terminal gives a link through the platform; the link carries
HTTP to the student's pod through the API server's port-forward, for its owner only."""

from __future__ import annotations

import errno
import importlib.util
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sandbox.models import Sandbox
from sandbox.terminal.session import Session
from tests.cluster.conftest import Kubectl
from tests.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]
STAND_IN = Path(__file__).resolve().parents[2] / "docker" / "localcluster" / "stand_in_app.py"


@pytest.fixture(scope="module")
def stand_in() -> Iterator[None]:
    """The stand-in application kwok forwards every pod port to (see kwokctl.yaml)."""
    spec = importlib.util.spec_from_file_location("stand_in_app", STAND_IN)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        server = module.serve()
    except OSError as exc:  # `make run` already serves it on this machine: use that one
        if exc.errno != errno.EADDRINUSE:
            raise
        yield
        return
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield
    server.shutdown()


class Collect:
    def __init__(self) -> None:
        self.text = ""

    async def write(self, data: bytes) -> None:
        self.text += data.decode()


def test_it_forwards_the_owners_requests_to_the_pod(
    make_sandbox: MakeSandbox, kubectl: Kubectl, stand_in: None
) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)
    kubectl("run", "petclinic", "--image=spring2go/spring-petclinic:1.0.0.RELEASE", "-n", sandbox.namespace)
    kubectl("wait", "--for=condition=Ready", "pod/petclinic", "-n", sandbox.namespace, "--timeout=30s")

    async def scenario() -> tuple[int, str]:
        session = Session(owner, sandbox)
        out = Collect()
        try:
            return await session.run_line("kubectl port-forward petclinic 8080:8080", out), out.text
        finally:
            await session.close()

    status, text = run_async(scenario)
    assert status == 0
    assert "/sandbox/forward/petclinic/8080/" in text

    client = Client()
    client.force_login(owner)
    response = client.get("/sandbox/forward/petclinic/8080/owners?lastName=Davis")
    assert response.status_code == 200
    body = response.content.decode()
    assert "stand-in application" in body
    assert "/owners?lastName=Davis" in body
    assert response["Content-Security-Policy"] == "sandbox"  # the pod's page cannot script the platform
    assert "stand-in" not in response.cookies  # nor set cookies on it
    assert client.post("/sandbox/forward/petclinic/8080/").status_code == 405


def test_it_keeps_other_students_and_outsiders_out(make_sandbox: MakeSandbox, kubectl: Kubectl, stand_in: None) -> None:
    alice, _ = make_sandbox()
    bob, _ = make_sandbox()
    kubectl("run", "private", "--image=nginx", "-n", alice.namespace)
    kubectl("wait", "--for=condition=Ready", "pod/private", "-n", alice.namespace, "--timeout=30s")

    outsider = Client()
    assert outsider.get("/sandbox/forward/private/80/").status_code == 302  # to the login page

    other = Client()
    other.force_login(User.objects.get(sandboxes=bob))
    response = other.get("/sandbox/forward/private/80/")
    assert response.status_code == 404  # bob's link resolves in bob's namespace, where there is no such pod
    assert bob.namespace in response.content.decode()

    owner = Client()
    owner.force_login(User.objects.get(sandboxes=alice))
    assert owner.get("/sandbox/forward/Not_A_Pod/80/").status_code == 404
    assert owner.get("/sandbox/forward/missing/80/").status_code == 404
