"""NetworkPolicy enforced on the real node (kube-router's firewall): a Pod in one student's
sandbox cannot open a connection to a Pod or a Service in another student's, while its own
namespace and cluster DNS keep working. Real Pods, real connections; and once the policies are
gone the same connection goes through, so it was the policy that refused it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from sandbox.models import Sandbox
from tests.cluster.conftest import Kubectl, kubectl_json, wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("real_node")]
MakeSandbox = Callable[..., tuple[Sandbox, str]]

BUSYBOX = "busybox:1.35"
PAGE = "served-by-alice"


def request(kubectl: Kubectl, namespace: str, pod: str, address: str, port: int) -> str:
    """What an HTTP GET from `pod` to address:port answers ("" when no connection is made)."""
    # busybox's nc speaks enough HTTP; -w 3 bounds the wait for a connection that never comes.
    command = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 {address} {port}"
    answer = kubectl("exec", pod, "-n", namespace, "--", "sh", "-c", command, check=False, timeout=30)
    return answer.stdout


def test_a_sandbox_pod_reaches_its_own_namespace_and_dns_but_never_another_sandbox(
    make_sandbox: MakeSandbox, kubectl: Kubectl
) -> None:
    alice, bob = make_sandbox()[0].namespace, make_sandbox()[0].namespace
    serve = f"mkdir /tmp/www && echo {PAGE} > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www"
    kubectl("run", "web", f"--image={BUSYBOX}", "--labels=app=web", "-n", alice, "--", "sh", "-c", serve)
    kubectl("expose", "pod", "web", "--port=80", "--target-port=8080", "-n", alice)
    kubectl("run", "client", f"--image={BUSYBOX}", "-n", alice, "--", "sleep", "3600")
    kubectl("run", "intruder", f"--image={BUSYBOX}", "-n", bob, "--", "sleep", "3600")
    for namespace, pod in ((alice, "web"), (alice, "client"), (bob, "intruder")):
        kubectl("wait", "--for=condition=Ready", f"pod/{pod}", "-n", namespace, "--timeout=60s")
    pod_ip = kubectl_json(kubectl, "get", "pod", "web", "-n", alice)["status"]["podIP"]
    service_ip = kubectl_json(kubectl, "get", "service", "web", "-n", alice)["spec"]["clusterIP"]
    full_name = f"web.{alice}.svc.cluster.local"

    # Alice's own Pods reach her page: by Pod IP, and by the Service's short name through DNS.
    wait_for(lambda: PAGE in request(kubectl, alice, "client", pod_ip, 8080), 30, "Alice's own page")
    assert PAGE in request(kubectl, alice, "client", "web", 80)

    # Bob's Pod: the Pod, the Service's IP and its full DNS name are all refused...
    targets = [(pod_ip, 8080), (service_ip, 80), (full_name, 80)]

    def all_refused() -> bool:
        return all(PAGE not in request(kubectl, bob, "intruder", a, p) for a, p in targets)

    at_once = all_refused()
    took = 0.0 if at_once else wait_for(all_refused, 30, "Bob's requests to be refused")
    for _ in range(3):  # ...and stay refused
        for address, port in targets:
            assert PAGE not in request(kubectl, bob, "intruder", address, port), (address, port)
    # ...while cluster DNS still answers him (the name resolves; only the connection is refused).
    lookup = kubectl("exec", "intruder", "-n", bob, "--", "nslookup", full_name, check=False)
    assert lookup.returncode == 0, lookup.stdout + lookup.stderr
    assert service_ip in lookup.stdout

    # The control: without the sandboxes' policies the same request goes through.
    for namespace in (alice, bob):
        kubectl("delete", "networkpolicy", "sandbox-isolation", "-n", namespace)
    opened = wait_for(lambda: PAGE in request(kubectl, bob, "intruder", pod_ip, 8080), 30, "the page without policies")
    when = "at the first attempt" if at_once else f"{took:.1f}s after the first attempt"
    print(f"  refused {when}; open {opened:.1f}s after the policies went")


def test_the_policy_controller_runs_in_kube_system_with_read_only_rights(kubectl: Kubectl) -> None:
    kubectl("rollout", "status", "daemonset/kube-router", "-n", "kube-system", "--timeout=60s")
    pods = kubectl_json(kubectl, "get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-router")["items"]
    assert [p["spec"]["nodeName"] for p in pods] == ["sandbox-node"]  # never on kwok's simulated nodes
    container = pods[0]["spec"]["containers"][0]
    assert container["image"].startswith("docker.io/cloudnativelabs/kube-router:")
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"], "add": ["NET_ADMIN", "NET_RAW"]}
    identity = "system:serviceaccount:kube-system:kube-router"

    def can(*args: str) -> str:
        return kubectl("auth", "can-i", *args, f"--as={identity}", check=False).stdout.strip()

    assert can("watch", "networkpolicies", "-A") == "yes"
    assert can("list", "pods", "-A") == "yes"
    for verb, resource in (("create", "pods"), ("delete", "networkpolicies"), ("get", "secrets"), ("patch", "nodes")):
        assert can(verb, resource, "-A") == "no", (verb, resource)
