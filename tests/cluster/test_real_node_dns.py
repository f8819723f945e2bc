"""Cluster DNS on the real node: CoreDNS in kube-system behind the kube-dns
Service answers a Pod as on kind — short names within the Pod's namespace, full names across
namespaces, and a short name of another namespace's Service fails.

Two resolvers of busybox are used: `nslookup` asks the DNS server and prints the answer, while
`ping` resolves through the C library, which applies resolv.conf's search list as every program
in a container does (busybox's nslookup applies it only to names without a dot)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from sandbox.cluster.nodeconfig import CLUSTER_DNS, KUBERNETES_SERVICE_IP
from tests.cluster.conftest import Kubectl, kubectl_json
from tests.cluster.test_real_node import pod

pytestmark = pytest.mark.usefixtures("real_node")  # a missing node fails, never skips


def resolve(kubectl: Kubectl, namespace: str, name: str) -> str | None:
    """The address the Pod's C library gets for `name`, or None if it does not resolve."""
    answer = kubectl("exec", "client", "-n", namespace, "--", "ping", "-c", "1", "-W", "1", name, check=False)
    found = re.search(r"^PING \S+ \(([0-9.]+)\)", answer.stdout, re.M)
    if found:
        return found.group(1)
    assert "bad address" in answer.stderr, answer.stderr
    return None


@pytest.fixture
def other_namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"test-{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_it_runs_coredns_behind_the_kube_dns_service_in_kube_system(kubectl: Kubectl) -> None:
    service = kubectl_json(kubectl, "get", "service", "kube-dns", "-n", "kube-system")
    assert service["spec"]["clusterIP"] == CLUSTER_DNS
    assert {(p["port"], p["protocol"]) for p in service["spec"]["ports"]} >= {(53, "UDP"), (53, "TCP")}
    # The node may have been restarted by an earlier test: its Pods come back within seconds.
    kubectl("rollout", "status", "deployment/coredns", "-n", "kube-system", "--timeout=60s")
    deployment = kubectl_json(kubectl, "get", "deployment", "coredns", "-n", "kube-system")
    assert deployment["status"].get("readyReplicas") == 1
    pods = kubectl_json(kubectl, "get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns")["items"]
    assert [p["spec"]["nodeName"] for p in pods] == ["sandbox-node"]


def test_it_resolves_names_as_on_kind_from_a_pod(kubectl: Kubectl, namespace: str, other_namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", input=pod("client", "sleep 600"))
    kubectl("create", "service", "clusterip", "web", "--tcp=80:8080", "-n", namespace)
    kubectl("create", "service", "clusterip", "db", "--tcp=3306:3306", "-n", other_namespace)
    kubectl("wait", "--for=condition=Ready", "pod/client", "-n", namespace, "--timeout=60s")
    web_ip = kubectl_json(kubectl, "get", "service", "web", "-n", namespace)["spec"]["clusterIP"]
    db_ip = kubectl_json(kubectl, "get", "service", "db", "-n", other_namespace)["spec"]["clusterIP"]

    resolv_conf = kubectl("exec", "client", "-n", namespace, "--", "cat", "/etc/resolv.conf").stdout
    assert f"nameserver {CLUSTER_DNS}" in resolv_conf
    assert f"search {namespace}.svc.cluster.local svc.cluster.local cluster.local" in resolv_conf

    # The search list: short names in the Pod's own namespace, `name.namespace` elsewhere.
    assert resolve(kubectl, namespace, "kubernetes.default") == KUBERNETES_SERVICE_IP
    assert resolve(kubectl, namespace, "web") == web_ip
    assert resolve(kubectl, namespace, f"db.{other_namespace}") == db_ip
    assert resolve(kubectl, namespace, f"db.{other_namespace}.svc.cluster.local") == db_ip
    # The short name of another namespace's Service is not found (the article's lesson 09).
    assert resolve(kubectl, namespace, "db") is None

    # What a student types: nslookup with the short name and with the full name.
    short = kubectl("exec", "client", "-n", namespace, "--", "nslookup", "web", check=False).stdout
    assert f"Name:\tweb.{namespace}.svc.cluster.local\nAddress: {web_ip}\n" in short
    full = kubectl("exec", "client", "-n", namespace, "--", "nslookup", f"db.{other_namespace}.svc.cluster.local")
    assert f"Address: {db_ip}\n" in full.stdout
    missing = kubectl("exec", "client", "-n", namespace, "--", "nslookup", "db", check=False)
    assert missing.returncode != 0
    assert db_ip not in missing.stdout
    assert "NXDOMAIN" in missing.stdout


def test_it_keeps_coredns_to_reading_the_cluster(kubectl: Kubectl) -> None:
    """Its ServiceAccount may list and watch what the kubernetes plugin needs, nothing more."""
    who = "system:serviceaccount:kube-system:coredns"
    for verb, resource in (("list", "services"), ("watch", "endpointslices.discovery.k8s.io"), ("list", "pods")):
        assert kubectl("auth", "can-i", verb, resource, "--as", who, "-A").stdout.strip() == "yes"
    for verb, resource in (("get", "secrets"), ("create", "pods"), ("delete", "services"), ("list", "configmaps")):
        denied = kubectl("auth", "can-i", verb, resource, "--as", who, "-A", check=False)
        assert denied.stdout.strip() == "no", (verb, resource)
