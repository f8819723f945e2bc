"""The sandbox's NodePort link: the web server carries the owner's request to the node's
address and the sandbox's own NodePort (kube-proxy on the real node), and serves the answer
sandboxed; another port, another student or no login gets nothing."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sandbox.models import Sandbox
from tests.cluster.conftest import Kubectl

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("real_node")]
MakeSandbox = Callable[..., tuple[Sandbox, str]]


def service(port: int) -> str:
    return f"""apiVersion: v1
kind: Service
metadata: {{name: petclinic}}
spec:
  type: NodePort
  selector: {{run: petclinic}}
  ports: [{{port: 8080, targetPort: 8080, nodePort: {port}}}]
"""


def test_the_owner_opens_the_application_behind_the_nodeport(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
    sandbox, _ = make_sandbox()
    other, _ = make_sandbox()
    assert sandbox.node_port
    ns = sandbox.namespace
    kubectl("run", "petclinic", "--image=spring2go/spring-petclinic:1.0.1.RELEASE", "-n", ns)
    kubectl("apply", "-n", ns, "-f", "-", input=service(sandbox.node_port))
    kubectl("wait", "--for=condition=Ready", "pod/petclinic", "-n", ns, "--timeout=60s")

    owner = Client()
    owner.force_login(User.objects.get(sandboxes=sandbox))
    # kube-proxy programs the new endpoint a moment after the Pod turns Ready: until then the
    # port refuses (a 502 that says so), as a browser's reload would find.
    deadline = time.monotonic() + 20
    while (response := owner.get(f"/sandbox/nodeport/{sandbox.node_port}/owners?lastName=Davis")).status_code == 502:
        assert time.monotonic() < deadline, response.content
        time.sleep(0.5)
    assert response.status_code == 200
    assert "Spring PetClinic 1.0.1.RELEASE" in response.content.decode()
    assert response["Content-Security-Policy"] == "sandbox"
    assert not response.cookies
    assert owner.post(f"/sandbox/nodeport/{sandbox.node_port}/").status_code == 405
    # Another student's port is not the owner's to open, even though it is a NodePort too.
    refused = owner.get(f"/sandbox/nodeport/{other.node_port}/")
    assert refused.status_code == 404
    assert str(sandbox.node_port) in refused.content.decode()

    stranger = Client()
    stranger.force_login(User.objects.get(sandboxes=other))
    assert stranger.get(f"/sandbox/nodeport/{sandbox.node_port}/").status_code == 404
    assert Client().get(f"/sandbox/nodeport/{sandbox.node_port}/").status_code == 302  # to the login page
    # The other student's own port answers nothing yet: said plainly.
    empty = stranger.get(f"/sandbox/nodeport/{other.node_port}/")
    assert empty.status_code == 502
    assert "Nothing answered on NodePort" in empty.content.decode()
