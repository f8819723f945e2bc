"""Authorization (RBAC) is on: a ServiceAccount with a namespaced Role can work in its own
namespace and is denied everywhere else."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.cluster.conftest import Kubectl, run_kubectl

ROLE = """
apiVersion: v1
kind: ServiceAccount
metadata: {name: learner}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: learner}
rules:
  - apiGroups: [""]
    resources: [pods]
    verbs: [get, list, watch, create, delete]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: learner}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: learner}
subjects: [{kind: ServiceAccount, name: learner}]
"""


@pytest.fixture
def other_namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"test-other-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def learner_kubeconfig(kubectl: Kubectl, namespace: str, tmp_path: Path) -> str:
    """A kubeconfig holding only a short-lived token of the namespaced ServiceAccount."""
    kubectl("apply", "-n", namespace, "-f", "-", input=ROLE)
    token = kubectl("create", "token", "learner", "-n", namespace, "--duration=10m").stdout.strip()
    admin = yaml.safe_load(kubectl("config", "view", "--raw", "--minify", "--flatten").stdout)
    cluster = admin["clusters"][0]["cluster"]
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": cluster}],
        "users": [{"name": "learner", "user": {"token": token}}],
        "contexts": [{"name": "learner", "context": {"cluster": "local", "user": "learner", "namespace": namespace}}],
        "current-context": "learner",
    }
    path = tmp_path / "learner.kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return str(path)


POD = "apiVersion: v1\nkind: Pod\nmetadata: {name: web}\nspec: {containers: [{name: web, image: nginx}]}\n"


def test_it_lets_the_serviceaccount_work_in_its_own_namespace(learner_kubeconfig: str, namespace: str) -> None:
    run_kubectl(learner_kubeconfig, "apply", "-f", "-", input=POD)
    listed = run_kubectl(learner_kubeconfig, "get", "pods", "-o", "name")
    assert listed.stdout.split() == ["pod/web"]


@pytest.mark.parametrize(
    "args",
    [
        ("get", "pods", "-n", "{other}"),
        ("apply", "-n", "{other}", "-f", "-"),
        ("get", "secrets", "-n", "kube-system"),
        ("create", "namespace", "escaped"),
        ("get", "services"),  # not in the Role, even in its own namespace
        ("create", "clusterrolebinding", "escape", "--clusterrole=cluster-admin", "--user=me"),
    ],
)
def test_it_denies_the_serviceaccount_outside_its_role(
    learner_kubeconfig: str, other_namespace: str, args: tuple[str, ...]
) -> None:
    argv = [arg.format(other=other_namespace) for arg in args]
    result = run_kubectl(learner_kubeconfig, *argv, input=POD, check=False)
    assert result.returncode != 0
    assert "Forbidden" in result.stderr or "forbidden" in result.stderr
