"""The local cluster's real worker node: real containers, logs and exec, memory limits, Pod
Security, the kubelet's authentication, and a machine left as it was found.

`make test` requires the real node (LOCAL_REAL_NODE=require): a missing node fails every test
here, it is never a skip."""

from __future__ import annotations

import json
import os
import re
import signal
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from sandbox.cluster.nodeconfig import NODE_IP, NODE_NAME
from tests.cluster.conftest import Kubectl, kubectl_json, run_kubectl

pytestmark = pytest.mark.usefixtures("real_node")

# busybox is built locally (sandbox/cluster/images.py); a tag other than latest is never pulled.
BUSYBOX = "busybox:1.35"


def pod(name: str, command: str, *, memory: str = "32Mi", container: str = "", spec: str = "") -> str:
    return f"""
apiVersion: v1
kind: Pod
metadata: {{name: {name}}}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 1
  containers:
    - name: main
      image: {BUSYBOX}
      command: ["sh", "-c", {json.dumps(command)}]
      resources: {{limits: {{memory: {memory}, cpu: 100m}}}}
{container}{spec}"""


def test_it_runs_a_busybox_pod_whose_logs_and_exec_are_real(kubectl: Kubectl, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=pod("hello", "echo hello from $(hostname); sleep 600"))
    kubectl("wait", "--for=condition=Ready", "pod/hello", "-n", namespace, "--timeout=60s")

    status = kubectl_json(kubectl, "get", "pod", "hello", "-n", namespace)
    assert status["spec"]["nodeName"] == NODE_NAME
    assert status["status"]["phase"] == "Running"
    assert kubectl("logs", "hello", "-n", namespace).stdout == "hello from hello\n"
    assert kubectl("exec", "hello", "-n", namespace, "--", "echo", "hi").stdout == "hi\n"


def test_it_routes_a_service_to_its_pod_and_a_node_port_on_the_node_address_only(
    kubectl: Kubectl, namespace: str
) -> None:
    web = pod(
        "web",
        "mkdir /tmp/www && echo served-by-$(hostname) > /tmp/www/index.html && exec httpd -f -p 8080 -h /tmp/www",
    ).replace("metadata: {name: web}", "metadata: {name: web, labels: {app: web}}")
    kubectl("apply", "-n", namespace, "-f", "-", input=web)
    kubectl("apply", "-n", namespace, "-f", "-", input=pod("client", "sleep 600"))
    kubectl("expose", "pod", "web", "-n", namespace, "--port=80", "--target-port=8080", "--type=NodePort")
    kubectl("wait", "--for=condition=Ready", "pod/web", "pod/client", "-n", namespace, "--timeout=60s")
    service = kubectl_json(kubectl, "get", "service", "web", "-n", namespace)["spec"]

    # busybox's wget is unreliable here; nc speaks enough HTTP.
    request = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 {service['clusterIP']} 80"
    # kube-proxy programs a new Service's endpoints a moment after its Pod is Ready.
    deadline = time.monotonic() + 15
    while True:
        answer = kubectl("exec", "client", "-n", namespace, "--", "sh", "-c", request, check=False).stdout
        if answer.endswith("served-by-web\n") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert answer.endswith("served-by-web\n")

    node_port = service["ports"][0]["nodePort"]
    with urllib.request.urlopen(f"http://{NODE_IP}:{node_port}/", timeout=10) as response:
        assert response.read() == b"served-by-web\n"
    for elsewhere in ("127.0.0.1", "localhost"):
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(f"http://{elsewhere}:{node_port}/", timeout=5)


def test_it_kills_a_container_over_its_memory_limit(kubectl: Kubectl, namespace: str) -> None:
    # dd holds its whole 64 MiB block in memory: four times the limit.
    hog = pod("hog", "exec dd if=/dev/zero of=/dev/null bs=64M count=1", memory="16Mi")
    kubectl("apply", "-n", namespace, "-f", "-", input=hog)
    kubectl(
        "wait",
        "--for=jsonpath={.status.phase}=Failed",
        "pod/hog",
        "-n",
        namespace,
        "--timeout=60s",
    )

    state = kubectl_json(kubectl, "get", "pod", "hog", "-n", namespace)["status"]["containerStatuses"][0]["state"]
    assert state["terminated"]["reason"] == "OOMKilled"
    assert state["terminated"]["exitCode"] == 137


@pytest.mark.django_db
def test_it_refuses_privileged_and_host_path_pods_in_a_sandbox(make_sandbox: Callable[..., tuple[Any, str]]) -> None:
    sandbox, student = make_sandbox()
    privileged = pod("root", "sleep 60", container="      securityContext: {privileged: true}\n")
    host_path = pod("host", "cat /host/etc/shadow", spec="  volumes: [{name: host, hostPath: {path: /}}]\n")

    for manifest, field in ((privileged, "privileged"), (host_path, "hostPath")):
        refused = run_kubectl(student, "apply", "-n", sandbox.namespace, "-f", "-", input=manifest, check=False)
        assert refused.returncode != 0
        assert "violates PodSecurity" in refused.stderr
        assert field in refused.stderr


def test_it_answers_a_request_without_credentials_at_the_kubelet_with_unauthorized() -> None:
    # The kubelet's certificate is signed by the cluster CA, which this plain client does not
    # know: what is proven is that the kubelet refuses whoever it cannot identify.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    for path in ("/pods", "/runningpods/", "/exec/default/x/y?command=id"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"https://{NODE_IP}:10250{path}", context=context, timeout=10)
        assert refused.value.code == 401


def test_it_confines_the_node_identity_to_its_own_node() -> None:
    """The kubelet's certificate names system:node:<name>: the Node authorizer and the
    NodeRestriction admission plugin keep it to its own Node object and harmless labels."""
    from sandbox.cluster.local import LocalCluster

    node_kubeconfig = str(LocalCluster().node().paths.kubelet / "kubeconfig")
    other = run_kubectl(node_kubeconfig, "label", "node", "kwok-node-1", "stolen=yes", check=False)
    assert other.returncode != 0
    assert "only its own Node object" in other.stderr
    role = run_kubectl(
        node_kubeconfig, "label", "node", NODE_NAME, "node-role.kubernetes.io/control-plane=", check=False
    )
    assert role.returncode != 0
    assert "is not allowed to modify labels" in role.stderr


def test_it_restarts_a_killed_kubelet_and_containerd_and_the_pods_keep_running(
    kubectl: Kubectl, namespace: str
) -> None:
    from sandbox.cluster.local import LocalCluster

    kubectl("apply", "-n", namespace, "-f", "-", input=pod("survivor", "echo up; sleep 600"))
    kubectl("wait", "--for=condition=Ready", "pod/survivor", "-n", namespace, "--timeout=60s")
    node = LocalCluster().node()
    killed = node.pids()
    for name in ("kubelet", "containerd"):
        pid = killed[name]
        assert pid
        os.kill(pid, signal.SIGKILL)

    node.up()

    restarted = node.pids()
    assert restarted["kubelet"] not in {None, killed["kubelet"]}
    assert restarted["containerd"] not in {None, killed["containerd"]}
    assert restarted["kube-proxy"] == killed["kube-proxy"]
    # The container outlived containerd (its shim holds it) and is still the same one.
    assert kubectl("exec", "survivor", "-n", namespace, "--", "echo", "still here").stdout == "still here\n"
    status = kubectl_json(kubectl, "get", "pod", "survivor", "-n", namespace)["status"]
    assert status["containerStatuses"][0]["restartCount"] == 0

    # And `up` with everything running changes nothing (and does not wait for a new heartbeat).
    node.up()
    assert node.pids() == restarted


def test_it_comes_back_after_every_process_of_the_node_is_killed_outright(kubectl: Kubectl, namespace: str) -> None:
    """kill -9 of containerd, the kubelet, kube-proxy and every shim leaves a stale socket, pid
    files, mounts, the bridge and iptables rules behind; `up` starts over from that."""
    from sandbox.cluster import hoststate
    from sandbox.cluster.local import LocalCluster

    always = pod("phoenix", "sleep 600").replace("restartPolicy: Never", "restartPolicy: Always")
    kubectl("apply", "-n", namespace, "-f", "-", input=always)
    kubectl("wait", "--for=condition=Ready", "pod/phoenix", "-n", namespace, "--timeout=60s")
    node = LocalCluster().node()
    shims = hoststate.pids_with_argument(str(node.paths.socket))
    assert shims
    for pid in [*node.pids().values(), *shims]:
        assert pid
        os.kill(pid, signal.SIGKILL)

    node.up()

    assert all(node.pids().values())
    # The container died with its shim; the kubelet starts it again.
    kubectl(
        "wait",
        "--for=jsonpath={.status.containerStatuses[0].restartCount}=1",
        "pod/phoenix",
        "-n",
        namespace,
        "--timeout=60s",
    )
    kubectl("wait", "--for=condition=Ready", "pod/phoenix", "-n", namespace, "--timeout=60s")
    assert kubectl("exec", "phoenix", "-n", namespace, "--", "echo", "back").stdout == "back\n"
    kubelet_root = str(node.paths.kubelet_root)
    assert hoststate.mounts_under(node.paths.kubelet_root).count(kubelet_root) == 1


def test_another_checkouts_node_is_neither_started_beside_nor_taken_down_by_this_one(tmp_path: Path) -> None:
    """One real node per machine: a second checkout's `up` refuses and names the running one;
    its `down` leaves the running node (and the machine's record of it) alone."""
    from sandbox.cluster import hoststate
    from sandbox.cluster.local import LocalCluster
    from sandbox.cluster.node import RealNode

    running = LocalCluster().node()
    assert hoststate.owner() == running.paths.root
    assert hoststate.STATE_FILE.is_file()
    other = RealNode(tmp_path / ".cluster", running.cluster_pki, running.server, running.admin_kubeconfig)

    with pytest.raises(RuntimeError, match=re.escape(f"({running.paths.root}; pids")):
        other.prepare_host()
    other.down()

    assert hoststate.owner() == running.paths.root
    assert hoststate.STATE_FILE.is_file()
    assert all(running.pids().values())
    assert f" {NODE_IP}/32 " in _lo_addresses()


def _lo_addresses() -> str:
    import subprocess

    return subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout


def test_it_leaves_the_machine_as_it_found_it_across_node_down_and_up() -> None:
    """Last in this file: the node is taken down, compared, brought up again and left running."""
    from sandbox.cluster import hoststate
    from sandbox.cluster.local import LocalCluster

    node = LocalCluster().node()
    node.down()
    before = hoststate.snapshot()
    node.up()
    running = hoststate.snapshot()
    # kube-proxy writes its chains after its first sync, which may follow Ready.
    for _ in range(60):
        if any("KUBE-SERVICES" in line for line in running["iptables"]):
            break
        time.sleep(0.5)
        running = hoststate.snapshot()
    node.down()
    after = hoststate.snapshot()
    node.up()

    # The snapshot does see the node while it runs...
    assert f"{NODE_IP}/32" in running["lo_addresses"]
    assert any("KUBE-SERVICES" in line for line in running["iptables"])
    assert any(point.endswith("/node/kubelet/root") for point in running["mounts"])
    assert "/sys/fs/cgroup/memory/k8s-sandbox" in running["cgroups"]
    # The kubelet's kernel tunables (a machine may have had them already: compare with the values).
    assert {name: running["sysctls"][name] for name in ("kernel.panic", "vm.overcommit_memory")} == {
        "kernel.panic": "10",
        "vm.overcommit_memory": "1",
    }
    # ...and nothing of it afterwards.
    assert after == before
