"""The platform's own client (sandbox.k8s) reaches the API server through the kubeconfig."""

from __future__ import annotations

import json
import uuid

from sandbox import k8s
from sandbox.cluster.tools import pinned_versions
from tests.cluster.conftest import Kubectl


def test_it_creates_and_deletes_a_namespace_through_the_python_client(kubectl: Kubectl) -> None:
    name = f"test-ns-{uuid.uuid4().hex[:8]}"
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"purpose": "test"}}}
    # As the cluster admin: the operator may only create sandbox namespaces (test_operator_scope).
    with k8s.as_admin():
        created = k8s.core().create_namespace(body)
        try:
            assert created.metadata.name == name
            assert kubectl("get", "namespace", name, "-o", "jsonpath={.metadata.labels.purpose}").stdout == "test"
        finally:
            k8s.core().delete_namespace(name)
    phase = kubectl("get", "namespace", name, "-o", "jsonpath={.status.phase}", check=False).stdout
    assert phase in ("Terminating", "")  # gone, or being finalized by the namespace controller


def test_it_reports_the_pinned_kubernetes_version(kubectl: Kubectl) -> None:
    pinned = pinned_versions()["KUBE_VERSION"]
    assert k8s.discovery_version()["gitVersion"] == pinned
    client = json.loads(kubectl("version", "--client", "-o", "json").stdout)
    assert client["clientVersion"]["gitVersion"] == pinned
