"""The operator identity is limited twice: by its ClusterRole, and by an admission policy that
keeps its writes inside sandbox namespaces. These are the escalations a stolen operator token
would try first; each must be refused."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings

from sandbox import manifests
from tests.cluster.conftest import Kubectl, run_kubectl

pytestmark = pytest.mark.django_db


@pytest.fixture
def plain_namespace(kubectl: Kubectl) -> Iterator[str]:
    name = f"test-plain-{uuid.uuid4().hex[:8]}"
    kubectl("create", "namespace", name)
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def as_operator(*args: str, stdin: str | None = None) -> tuple[int, str]:
    result = run_kubectl(str(settings.CLUSTER_KUBECONFIG), *args, input=stdin, check=False)
    return result.returncode, result.stdout + result.stderr


def test_it_runs_as_the_operator_and_not_as_an_admin() -> None:
    status, out = as_operator("auth", "whoami")
    assert status == 0
    assert manifests.OPERATOR_USER in out
    assert as_operator("auth", "can-i", "*", "*", "--all-namespaces")[1].strip() == "no"


@pytest.mark.parametrize(
    ("args", "stdin", "reason"),
    [
        (
            (
                "create",
                "rolebinding",
                "x",
                "-n",
                "kube-system",
                "--clusterrole=sandbox-student",
                f"--serviceaccount={manifests.OPERATOR_NAMESPACE}:{manifests.OPERATOR_SA}",
            ),
            None,
            "may only write in sandbox namespaces",
        ),
        (
            ("create", "-n", "kube-system", "-f", "-"),
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: sandbox-token-anchor\n  annotations:\n"
            "    kubernetes.io/service-account.name: generic-garbage-collector\n"
            "type: kubernetes.io/service-account-token\n",
            "may only write in sandbox namespaces",
        ),
        (("create", "namespace", "operator-made-this"), None, "may only create, change or delete sandbox namespaces"),
        (
            (
                "create",
                "clusterrolebinding",
                "x",
                "--clusterrole=sandbox-student",
                f"--serviceaccount={manifests.OPERATOR_NAMESPACE}:{manifests.OPERATOR_SA}",
            ),
            None,
            f"may only bind {manifests.CLUSTER_READ_ROLE}",
        ),
        (("create", "clusterrolebinding", "y", "--clusterrole=cluster-admin", "--user=me"), None, "forbidden"),
        (("get", "secrets", "-n", "kube-system"), None, "forbidden"),
        (("create", "token", "default", "-n", "kube-system"), None, "forbidden"),
    ],
)
def test_it_refuses_operator_writes_outside_sandboxes(args: tuple[str, ...], stdin: str | None, reason: str) -> None:
    status, out = as_operator(*args, stdin=stdin)
    assert status != 0
    assert reason in out


def test_it_refuses_to_delete_a_namespace_that_is_not_a_sandbox(plain_namespace: str, kubectl: Kubectl) -> None:
    status, out = as_operator("delete", "namespace", plain_namespace, "--wait=false")
    assert status != 0
    assert "may only create, change or delete sandbox namespaces" in out
    assert kubectl("get", "namespace", plain_namespace, "-o", "jsonpath={.status.phase}").stdout == "Active"
