"""Provisioning, reset and destroy against the real API server."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from sandbox import lifecycle, manifests, provisioning
from sandbox.models import Sandbox, State
from tests.cluster.conftest import Kubectl, run_kubectl

MakeSandbox = Callable[..., tuple[Sandbox, str]]


def objects_in(kubectl: Kubectl, namespace: str) -> set[str]:
    kinds = "serviceaccounts,roles,rolebindings,resourcequotas,limitranges,networkpolicies,secrets"
    return set(kubectl("get", kinds, "-n", namespace, "-o", "name").stdout.split())


def test_it_provisions_a_ready_namespace_with_everything_a_student_needs(
    make_sandbox: MakeSandbox, kubectl: Kubectl
) -> None:
    sandbox, _ = make_sandbox()
    assert sandbox.state == State.READY
    assert sandbox.ready_at is not None
    ns = json.loads(kubectl("get", "namespace", sandbox.namespace, "-o", "json").stdout)
    labels = ns["metadata"]["labels"]
    assert labels[manifests.LABEL_SANDBOX] == str(sandbox.pk)
    assert labels[manifests.LABEL_OWNER] == str(sandbox.owner_id)
    assert labels[manifests.LABEL_NODE_PORT] == str(sandbox.node_port)
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert objects_in(kubectl, sandbox.namespace) >= {
        "serviceaccount/student",
        "serviceaccount/default",
        "rolebinding.rbac.authorization.k8s.io/sandbox-student",
        "resourcequota/sandbox-quota",
        "limitrange/sandbox-defaults",
        "networkpolicy.networking.k8s.io/sandbox-isolation",
        "secret/sandbox-token-anchor",
    }
    assert kubectl("get", "clusterrolebinding", f"{sandbox.namespace}-cluster-read", "-o", "name").stdout
    binding = json.loads(kubectl("get", "rolebinding", "sandbox-student", "-n", sandbox.namespace, "-o", "json").stdout)
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "sandbox-student",
    }


def test_it_admits_a_plain_pod_thanks_to_the_limitrange_defaults(make_sandbox: MakeSandbox) -> None:
    _, kubeconfig = make_sandbox()
    pod = (
        "apiVersion: v1\nkind: Pod\nmetadata: {name: petclinic}\nspec: {containers: [{name: app, image: mysql:5.7}]}\n"
    )
    run_kubectl(kubeconfig, "apply", "-f", "-", input=pod)
    resources = json.loads(run_kubectl(kubeconfig, "get", "pod", "petclinic", "-o", "json").stdout)["spec"][
        "containers"
    ][0]["resources"]
    assert resources["requests"] == {"cpu": "50m", "memory": "64Mi", "ephemeral-storage": "0"}
    assert resources["limits"]["ephemeral-storage"] == "256Mi"


def test_it_does_nothing_when_provisioning_runs_again(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
    sandbox, _ = make_sandbox()
    before = objects_in(kubectl, sandbox.namespace)
    assert provisioning.provision(sandbox.pk) is False  # a duplicate delivery: the row is already ready
    sandbox.refresh_from_db()
    assert sandbox.state == State.READY
    assert sandbox.attempts == 1
    assert objects_in(kubectl, sandbox.namespace) == before


def test_it_resumes_a_half_made_sandbox(db: None, kubectl: Kubectl) -> None:
    owner = User.objects.create_user("half-made")
    sandbox = lifecycle.create_sandbox(owner, enqueue=False)
    # As if a worker died after the first objects: create some of them, leave the row provisioning.
    Sandbox.objects.filter(pk=sandbox.pk).update(state=State.PROVISIONING)
    from sandbox import k8s

    for manifest in provisioning.sandbox_objects(sandbox)[:4]:
        k8s.create(manifest)
    try:
        assert provisioning.provision(sandbox.pk)
        sandbox.refresh_from_db()
        assert sandbox.state == State.READY
        assert "secret/sandbox-token-anchor" in objects_in(kubectl, sandbox.namespace)
    finally:
        provisioning.destroy(sandbox.pk)


def test_it_gives_extra_namespaces_the_same_rules(make_sandbox: MakeSandbox) -> None:
    sandbox, kubeconfig = make_sandbox(extra_namespaces=["dev"])
    extra = f"{sandbox.namespace}-dev"
    assert sandbox.all_namespaces() == [sandbox.namespace, extra]
    run_kubectl(kubeconfig, "create", "configmap", "shared", "-n", extra, "--from-literal=a=b", check=True)
    quota = run_kubectl(kubeconfig, "get", "resourcequota", "-n", extra, "-o", "name", check=True).stdout
    assert quota.strip() == "resourcequota/sandbox-quota"


def test_it_resets_to_an_empty_namespace_and_keeps_the_sandbox(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
    sandbox, kubeconfig = make_sandbox()
    run_kubectl(kubeconfig, "create", "deployment", "web", "--image=nginx", "--replicas=2", check=True)
    run_kubectl(kubeconfig, "create", "configmap", "cfg", "--from-literal=a=b", check=True)
    run_kubectl(kubeconfig, "create", "secret", "generic", "pw", "--from-literal=p=q", check=True)

    assert provisioning.reset(sandbox.pk)

    sandbox.refresh_from_db()
    assert sandbox.state == State.READY
    leftover = kubectl("get", "deployments,replicasets,configmaps,secrets", "-n", sandbox.namespace, "-o", "name")
    names = set(leftover.stdout.split())
    assert "deployment.apps/web" not in names
    assert "configmap/cfg" not in names
    assert "secret/pw" not in names
    assert "secret/sandbox-token-anchor" in names
    # The student's credentials still work after a reset.
    run_kubectl(kubeconfig, "get", "pods", check=True)


def test_it_destroys_the_namespace_and_revokes_the_token(db: None, kubectl: Kubectl, tmp_path: Any) -> None:
    from sandbox import credentials

    owner = User.objects.create_user("leaving")
    sandbox = lifecycle.create_sandbox(owner, enqueue=False, extra_namespaces=["x"])
    provisioning.provision(sandbox.pk)
    sandbox.refresh_from_db()
    path = tmp_path / "kubeconfig"
    path.write_text(credentials.student_kubeconfig(sandbox))
    run_kubectl(str(path), "get", "pods", check=True)

    assert provisioning.destroy(sandbox.pk)

    sandbox.refresh_from_db()
    assert sandbox.state == State.DELETED
    assert sandbox.node_port is None
    assert sandbox.ended_at is not None
    # Access goes at once (the RoleBinding is deleted first); the token itself stops
    # authenticating once the API server's cache sees its anchor Secret gone.
    deadline = time.monotonic() + 15
    while True:
        denied = run_kubectl(str(path), "get", "pods", check=False)
        assert denied.returncode != 0
        if "Unauthorized" in denied.stderr or "must be logged in" in denied.stderr or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert "Unauthorized" in denied.stderr or "must be logged in" in denied.stderr
    selector = f"{manifests.LABEL_SANDBOX}={sandbox.pk}"
    bindings = kubectl("get", "clusterrolebindings,rolebindings", "-A", "-l", selector, "-o", "name").stdout
    assert bindings.strip() == ""
    for name in sandbox.all_namespaces():
        phase = kubectl("get", "namespace", name, "-o", "jsonpath={.status.phase}", check=False).stdout
        assert phase in ("Terminating", "")
    assert provisioning.destroy(sandbox.pk) is False  # already gone: a repeat does nothing


def test_it_finds_and_removes_orphaned_namespaces(db: None, kubectl: Kubectl) -> None:
    from sandbox import k8s

    name = f"{settings.SANDBOX_NAMESPACE_PREFIX}orphan"
    k8s.create(manifests.namespace(name, sandbox_id=999999, owner_id=None, expires_at="", node_port=None))
    k8s.create(manifests.cluster_read_binding(name, 999999))
    other_installation = manifests.namespace(
        "other-platform-1", sandbox_id=999999, owner_id=None, expires_at="", node_port=None
    )
    k8s.create(other_installation)

    removed = provisioning.sweep_orphans()

    assert name in removed
    assert kubectl("get", "clusterrolebinding", f"{name}-cluster-read", check=False).returncode != 0
    # A namespace of another installation (another prefix) sharing the cluster is left alone.
    assert "other-platform-1" not in removed
    assert kubectl("get", "namespace", "other-platform-1", "-o", "jsonpath={.status.phase}").stdout == "Active"
    k8s.delete("Namespace", "other-platform-1")


def test_it_keeps_live_sandboxes_during_the_orphan_sweep(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
    sandbox, _ = make_sandbox()
    assert sandbox.namespace not in provisioning.sweep_orphans()
    phase = kubectl("get", "namespace", sandbox.namespace, "-o", "jsonpath={.status.phase}").stdout
    assert phase == "Active"


@pytest.mark.parametrize("size", ["medium", "large"])
def test_it_applies_the_size_preset(make_sandbox: MakeSandbox, kubectl: Kubectl, size: str) -> None:
    sandbox, _ = make_sandbox(size=size)
    hard = kubectl("get", "resourcequota", "sandbox-quota", "-n", sandbox.namespace, "-o", "jsonpath={.spec.hard.pods}")
    assert hard.stdout == str(manifests.PRESETS[size].pods)


def test_it_keeps_the_token_anchor_when_the_student_deletes_every_secret(make_sandbox: MakeSandbox) -> None:
    sandbox, kubeconfig = make_sandbox()
    run_kubectl(kubeconfig, "create", "secret", "generic", "mine", "--from-literal=a=b", check=True)

    result = run_kubectl(kubeconfig, "delete", "secrets", "--all", check=False)

    assert 'secret "mine" deleted' in result.stdout
    assert "cannot be changed or deleted" in result.stderr
    # The credentials still work, and a fresh token can still be issued.
    run_kubectl(kubeconfig, "get", "pods", check=True)
    from sandbox import credentials

    assert "token" in credentials.student_kubeconfig(sandbox)


def test_it_resets_services_pods_and_ingresses_too(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
    sandbox, kubeconfig = make_sandbox()
    run_kubectl(kubeconfig, "run", "solo", "--image=nginx", check=True)
    run_kubectl(kubeconfig, "create", "service", "clusterip", "web", "--tcp=80:8080", check=True)
    run_kubectl(kubeconfig, "create", "ingress", "web", "--rule=web.local/=web:80", check=True)

    assert provisioning.reset(sandbox.pk)

    left = kubectl("get", "services,ingresses", "-n", sandbox.namespace, "-o", "name").stdout.split()
    assert left == []
    # Pods end gracefully: gone, or at least terminating.
    pod = kubectl(
        "get", "pod", "solo", "-n", sandbox.namespace, "-o", "jsonpath={.metadata.deletionTimestamp}", check=False
    )
    assert pod.returncode != 0 or pod.stdout
