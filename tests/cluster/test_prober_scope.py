"""The prober: the identity lesson checks fetch pages with (`http` checks). It may GET through
the API server's proxy to a Service or a Pod, and nothing else; and a real fetch proves what a
real container serves."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from django.conf import settings

from sandbox import k8s
from sandbox.models import Sandbox
from tests.cluster.conftest import Kubectl, run_kubectl

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]


def can_i(*args: str) -> str:
    return run_kubectl(str(settings.CLUSTER_PROBER_KUBECONFIG), "auth", "can-i", *args, check=False).stdout.strip()


@pytest.mark.parametrize(
    ("verb", "resource", "allowed"),
    [
        ("get", "services/proxy", "yes"),
        ("get", "pods/proxy", "yes"),
        ("create", "services/proxy", "no"),  # a POST through the proxy
        ("create", "pods/proxy", "no"),
        ("get", "pods", "no"),
        ("list", "services", "no"),
        ("get", "secrets", "no"),
        ("create", "pods/exec", "no"),
        ("get", "nodes/proxy", "no"),
    ],
)
def test_it_may_only_get_through_the_proxy(verb: str, resource: str, allowed: str) -> None:
    name, _, sub = resource.partition("/")
    assert can_i(verb, name, *([f"--subresource={sub}"] if sub else []), "-n", "default") == allowed


@pytest.mark.usefixtures("real_node")
def test_it_fetches_the_page_a_real_container_serves(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
    sandbox, _ = make_sandbox()
    ns = sandbox.namespace
    kubectl("run", "web", "--image=spring2go/spring-petclinic:1.0.1.RELEASE", "--labels=app=web", "-n", ns)
    kubectl("expose", "pod", "web", "--port=80", "--target-port=8080", "-n", ns)
    kubectl("wait", "--for=condition=Ready", "pod/web", "-n", ns, "--timeout=60s")
    with k8s.as_prober():
        status, body = k8s.proxy_get("Service", ns, "web", 80, "/")
        assert status == 200
        assert "Spring PetClinic 1.0.1.RELEASE" in body
        status, body = k8s.proxy_get("Pod", ns, "web", 8080, "/health")
        assert (status, body.strip()) == (200, '{"status":"UP"}')
        status, body = k8s.proxy_get("Service", ns, "missing", 80, "/")
    assert status == 404
    assert "not found" in body


@pytest.mark.usefixtures("real_node")
def test_it_runs_commands_in_a_sandbox_pod_and_nowhere_else(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
    sandbox, _ = make_sandbox()
    ns = sandbox.namespace
    assert can_i("create", "pods", "--subresource=exec", "-n", ns) == "yes"
    assert can_i("create", "pods", "--subresource=exec", "-n", "kube-system") == "no"
    assert can_i("get", "pods", "-n", ns) == "no"
    kubectl("run", "box", "--image=busybox:1.35", "--env=GREETING=hello", "-n", ns, "--", "sleep", "3600")
    kubectl("wait", "--for=condition=Ready", "pod/box", "-n", ns, "--timeout=60s")
    coredns = kubectl("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns", "-o", "name").stdout.split()
    assert coredns

    with k8s.as_prober():
        assert k8s.exec_output(ns, "box", None, ["sh", "-c", "echo $GREETING"]) == (0, "hello\n")
        assert k8s.exec_output(ns, "box", "box", ["sh", "-c", "echo oops >&2; exit 3"]) == (3, "oops\n")
        status, said = k8s.exec_output(ns, "box", None, ["no-such-program"])
        assert status is None
        assert "no-such-program" in said
        started = time.monotonic()
        assert k8s.exec_output(ns, "box", None, ["sleep", "30"], timeout=1) == (None, "")
        assert time.monotonic() - started < 10
        status, said = k8s.exec_output("kube-system", coredns[0].removeprefix("pod/"), None, ["true"])
    assert status is None
    assert "forbidden" in said
