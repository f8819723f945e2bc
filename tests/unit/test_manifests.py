"""The sandbox's Kubernetes objects, checked as data (no cluster)."""

from __future__ import annotations

import base64

import pytest

from sandbox import manifests

WRITE_VERBS = {"create", "update", "patch", "delete", "deletecollection", "escalate", "bind", "impersonate"}


def test_it_refuses_namespace_names_that_are_not_dns_labels() -> None:
    for bad in ["", "UPPER", "-dash", "dash-", "a/b", "x" * 64, "a_b", "../etc"]:
        with pytest.raises(ValueError, match="not a valid namespace name"):
            manifests.validate_name(bad)
    assert manifests.validate_name("sbx-1a2b3c4d") == "sbx-1a2b3c4d"


def test_it_labels_the_namespace_without_revealing_the_username() -> None:
    ns = manifests.namespace(
        "sbx-1", sandbox_id=7, owner_id=42, expires_at="2026-01-01T00:00:00+00:00", node_port=30123
    )
    labels = ns["metadata"]["labels"]
    assert labels[manifests.LABEL_SANDBOX] == "7"
    assert labels[manifests.LABEL_OWNER] == "42"
    assert labels[manifests.LABEL_NODE_PORT] == "30123"
    assert labels["pod-security.kubernetes.io/enforce"] == "baseline"
    assert ns["metadata"]["annotations"][manifests.ANNOTATION_EXPIRES].startswith("2026-01-01")


def test_it_leaves_pool_namespaces_without_owner_label() -> None:
    ns = manifests.namespace("sbx-2", sandbox_id=8, owner_id=None, expires_at="", node_port=None)
    assert manifests.LABEL_OWNER not in ns["metadata"]["labels"]
    assert manifests.LABEL_NODE_PORT not in ns["metadata"]["labels"]


def test_it_gives_the_student_role_no_rbac_or_namespace_powers() -> None:
    role = manifests.student_role()
    assert role["kind"] == "ClusterRole"  # granted per namespace by RoleBindings only
    resources = {
        (group, resource) for rule in role["rules"] for group in rule["apiGroups"] for resource in rule["resources"]
    }
    assert ("", "pods") in resources
    assert ("apps", "deployments") in resources
    assert ("", "pods/exec") in resources
    for rule in role["rules"]:
        assert "*" not in rule["verbs"]
        assert "*" not in rule["resources"]
        assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"])
        assert "rbac.authorization.k8s.io" not in rule["apiGroups"]
    # Quota, limits and the student's own identity are read-only.
    for rule in role["rules"]:
        if {"resourcequotas", "limitranges", "serviceaccounts"} & set(rule["resources"]):
            assert set(rule["verbs"]) <= {"get", "list", "watch"}


def test_it_keeps_cluster_wide_access_read_only() -> None:
    for role in (manifests.cluster_read_role(), manifests.system_read_role()):
        for rule in role["rules"]:
            assert not WRITE_VERBS & set(rule["verbs"])
            assert "secrets" not in rule["resources"]


def test_it_binds_only_the_sandbox_serviceaccount() -> None:
    binding = manifests.student_role_binding("sbx-1-extra", "sbx-1", 3)
    assert binding["metadata"]["namespace"] == "sbx-1-extra"
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "student", "namespace": "sbx-1"}]
    crb = manifests.cluster_read_binding("sbx-1", 3)
    assert crb["roleRef"]["name"] == manifests.CLUSTER_READ_ROLE
    assert crb["metadata"]["labels"][manifests.LABEL_SANDBOX] == "3"


@pytest.mark.parametrize("size", ["small", "medium", "large"])
def test_it_caps_every_size_with_a_quota_and_default_limits(size: str) -> None:
    preset = manifests.PRESETS[size]
    hard = manifests.resource_quota("sbx-1", 1, preset)["spec"]["hard"]
    assert hard["pods"] == str(preset.pods)
    assert hard["services.nodeports"] == "1"
    assert hard["services.loadbalancers"] == "0"
    assert hard["persistentvolumeclaims"] == "0"
    limits = manifests.limit_range("sbx-1", 1, preset)["spec"]["limits"][0]
    assert limits["defaultRequest"]["cpu"]
    assert limits["default"]["memory"]
    # A Pod that floods its log is evicted at its ephemeral-storage limit, not when the disk fills.
    assert limits["default"]["ephemeral-storage"] == f"{preset.default_limit_ephemeral_storage_mib}Mi"
    assert limits["defaultRequest"]["ephemeral-storage"] == "0"
    assert limits["max"]["ephemeral-storage"] == preset.max_ephemeral_storage
    assert hard["limits.ephemeral-storage"] == f"{2 * preset.pods * preset.default_limit_ephemeral_storage_mib}Mi"


def test_it_sizes_grow_with_the_preset() -> None:
    small, medium, large = (manifests.PRESETS[name] for name in ("small", "medium", "large"))
    assert small.pods < medium.pods < large.pods


def test_it_isolates_ingress_to_the_sandbox_and_allows_dns_egress() -> None:
    policy = manifests.network_policy("sbx-1", 9, ["sbx-1"])
    spec = policy["spec"]
    assert spec["podSelector"] == {}
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    sources = spec["ingress"][0]["from"]
    assert {"namespaceSelector": {"matchLabels": {manifests.LABEL_SANDBOX: "9"}}} in sources
    dns = spec["egress"][1]
    assert {"protocol": "UDP", "port": 53} in dns["ports"]


def test_it_binds_tokens_to_the_anchor_secret() -> None:
    request = manifests.token_request("uid-123", seconds=3600)
    assert request["spec"]["boundObjectRef"] == {
        "apiVersion": "v1",
        "kind": "Secret",
        "name": manifests.TOKEN_ANCHOR,
        "uid": "uid-123",
    }
    assert request["spec"]["expirationSeconds"] == 3600


def test_it_renders_a_kubeconfig_that_defaults_to_the_sandbox_namespace() -> None:
    config = manifests.kubeconfig(
        server="https://127.0.0.1:6443", ca_data=b"CA", insecure=False, token="tok", namespace="sbx-1"
    )
    assert config["contexts"][0]["context"]["namespace"] == "sbx-1"
    assert config["users"][0]["user"] == {"token": "tok"}
    assert base64.b64decode(config["clusters"][0]["cluster"]["certificate-authority-data"]) == b"CA"
    assert "insecure-skip-tls-verify" not in config["clusters"][0]["cluster"]


def test_it_reserves_nodeports_through_an_admission_policy() -> None:
    policy, binding = manifests.guardrail_policy()
    assert policy["kind"] == "ValidatingAdmissionPolicy"
    assert manifests.LABEL_NODE_PORT in policy["spec"]["validations"][0]["expression"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    assert binding["spec"]["matchResources"]["namespaceSelector"]["matchExpressions"] == [
        {"key": manifests.LABEL_SANDBOX, "operator": "Exists"}
    ]
    messages = " ".join(v["messageExpression"] for v in policy["spec"]["validations"])
    for topic in ("NodePort", "externalIPs", "ExternalName", "priority", "token"):
        assert topic in messages


def test_it_keeps_the_operator_far_from_cluster_admin() -> None:
    objects = {obj["kind"]: obj for obj in manifests.operator_objects()}
    rules = objects["ClusterRole"]["rules"]
    for rule in rules:
        assert "*" not in rule["verbs"]
        assert "*" not in rule["resources"]
        assert not {"escalate", "impersonate"} & set(rule["verbs"])
    binds = [rule for rule in rules if "bind" in rule["verbs"]]
    assert len(binds) == 1
    assert set(binds[0]["resourceNames"]) == {
        manifests.STUDENT_ROLE,
        manifests.CLUSTER_READ_ROLE,
        manifests.SYSTEM_READ_ROLE,
        manifests.PROBER_EXEC_ROLE,
    }
    # It may read one Secret by name, never list or watch Secrets.
    secret_reads = [r for r in rules if "secrets" in r["resources"] and {"get", "list", "watch"} & set(r["verbs"])]
    assert secret_reads == [
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": [manifests.TOKEN_ANCHOR]}
    ]
    tokens = [r for r in rules if "serviceaccounts/token" in r["resources"]]
    assert tokens[0]["resourceNames"] == [manifests.STUDENT_SA]
    binding = objects["ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == manifests.OPERATOR_SA
