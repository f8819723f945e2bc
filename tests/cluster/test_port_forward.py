"""`kubectl port-forward` in the terminal gives a link through the platform; the link carries
HTTP to the student's pod through the API server's port-forward, for its owner only."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sandbox.models import Sandbox
from sandbox.terminal.session import Session
from tests.cluster.conftest import Kubectl
from tests.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]


class Collect:
    def __init__(self) -> None:
        self.text = ""

    async def write(self, data: bytes) -> None:
        self.text += data.decode()


def test_it_forwards_the_owners_requests_to_the_pod(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
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
    # The real PetClinic container answered (it names its Pod), on the path asked for.
    assert "Spring PetClinic 1.0.0.RELEASE" in body
    assert '<strong id="pod">petclinic</strong>' in body
    assert '<table id="owners">' in body
    assert response["Content-Security-Policy"] == "sandbox"  # the pod's page cannot script the platform
    assert not response.cookies  # nor set cookies on it
    assert client.post("/sandbox/forward/petclinic/8080/").status_code == 405


def test_it_keeps_other_students_and_outsiders_out(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
    alice, _ = make_sandbox()
    bob, _ = make_sandbox()
    kubectl("run", "private", "--image=busybox:1.35", "-n", alice.namespace, "--", "sleep", "600")
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
