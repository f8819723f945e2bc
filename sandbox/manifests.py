"""Pure builders of the Kubernetes objects that make up a sandbox, returned as plain dicts.

Nothing here talks to the cluster, so every rule about what a student may do is testable as
data (tests/unit/test_manifests.py). provisioning.py sends these objects to the API server.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.names import is_dns_label

Manifest = dict[str, Any]

# Label and annotation keys. The owner is a numeric user id, not a username: students can list
# namespaces (the architecture lesson needs it), so labels must not reveal who anyone is.
GROUP = "k8s-sandbox.io"
LABEL_MANAGED = f"{GROUP}/managed"
LABEL_SANDBOX = f"{GROUP}/sandbox"
LABEL_OWNER = f"{GROUP}/owner-id"
LABEL_NODE_PORT = f"{GROUP}/node-port"
ANNOTATION_EXPIRES = f"{GROUP}/expires-at"

STUDENT_SA = "student"
STUDENT_ROLE = "sandbox-student"
TOKEN_ANCHOR = "sandbox-token-anchor"  # noqa: S105  (an object name, not a secret)
# Cluster-wide objects shared by every sandbox, installed by `manage.py sandbox install`.
CLUSTER_READ_ROLE = "sandbox-student-cluster-read"
SYSTEM_READ_ROLE = "sandbox-student-system-read"
GUARDRAILS_POLICY = "sandbox-guardrails"


@dataclass(frozen=True)
class SizePreset:
    name: str
    pods: int
    requests_cpu: str
    requests_memory: str
    limits_cpu: str
    limits_memory: str
    services: int
    node_ports: int  # one port is reserved per sandbox (see guardrail_policy)
    configmaps: int
    secrets: int
    # LimitRange defaults, so that the article's pods (which set no resources) are admitted
    # under a quota that counts CPU and memory.
    default_request_cpu: str = "50m"
    default_request_memory: str = "64Mi"
    default_limit_cpu: str = "500m"
    default_limit_memory: str = "512Mi"
    # Writable layer and logs: the kubelet rotates logs only every few seconds, so a Pod printing
    # as fast as it can outruns rotation; a per-container ephemeral-storage limit makes the
    # kubelet evict it instead (measured peak and time in the README).
    default_limit_ephemeral_storage_mib: int = 256
    max_ephemeral_storage: str = "1Gi"


PRESETS: dict[str, SizePreset] = {
    preset.name: preset
    for preset in (
        SizePreset(
            "small",
            pods=10,
            requests_cpu="1",
            requests_memory="2Gi",
            limits_cpu="4",
            limits_memory="6Gi",
            services=5,
            node_ports=1,
            configmaps=10,
            secrets=10,
        ),
        SizePreset(
            "medium",
            pods=20,
            requests_cpu="2",
            requests_memory="4Gi",
            limits_cpu="8",
            limits_memory="12Gi",
            services=10,
            node_ports=1,
            configmaps=20,
            secrets=20,
        ),
        SizePreset(
            "large",
            pods=40,
            requests_cpu="4",
            requests_memory="8Gi",
            limits_cpu="16",
            limits_memory="24Gi",
            services=20,
            node_ports=1,
            configmaps=40,
            secrets=40,
        ),
    )
}


def largest(names: Iterable[str | None]) -> str | None:
    """The biggest of these size presets (PRESETS lists them smallest first); names that are
    not presets, and None, are passed over. None when none is a preset."""
    order = list(PRESETS)
    return max((name for name in names if name in PRESETS), key=order.index, default=None)


def validate_name(name: str) -> str:
    """A namespace name must be a DNS label; refuse anything else before it reaches the API."""
    if not is_dns_label(name):
        raise ValueError(f"{name!r} is not a valid namespace name (lowercase letters, digits and '-', at most 63)")
    return name


def sandbox_labels(sandbox_id: int) -> dict[str, str]:
    return {LABEL_MANAGED: "true", LABEL_SANDBOX: str(sandbox_id)}


def namespace(name: str, *, sandbox_id: int, owner_id: int | None, expires_at: str, node_port: int | None) -> Manifest:
    labels = {
        **sandbox_labels(sandbox_id),
        # Pod Security Admission: "baseline" admits the lessons' plain pods and refuses
        # privileged containers, hostPath volumes, host networking/PID/IPC and host ports.
        "pod-security.kubernetes.io/enforce": "baseline",
        "pod-security.kubernetes.io/enforce-version": "latest",
    }
    if owner_id is not None:
        labels[LABEL_OWNER] = str(owner_id)
    if node_port is not None:
        labels[LABEL_NODE_PORT] = str(node_port)
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": validate_name(name), "labels": labels, "annotations": {ANNOTATION_EXPIRES: expires_at}},
    }


def _meta(name: str, namespace: str, sandbox_id: int) -> dict[str, Any]:
    return {"name": name, "namespace": namespace, "labels": sandbox_labels(sandbox_id)}


def service_accounts(namespace: str, sandbox_id: int) -> list[Manifest]:
    """The student's identity, and `default` created up front: the ServiceAccount controller
    makes it asynchronously, and a pod created before it exists is refused."""
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": _meta(name, namespace, sandbox_id),
            # The student's pods never need an API token of their own.
            "automountServiceAccountToken": False,
        }
        for name in (STUDENT_SA, "default")
    ]


def student_role() -> Manifest:
    """Exactly what the lessons need inside a sandbox namespace. A ClusterRole shared by every
    sandbox and granted per namespace by a RoleBinding: the operator then only needs `bind` on
    this one role instead of holding every permission in it cluster-wide."""
    rw = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": STUDENT_ROLE, "labels": {LABEL_MANAGED: "true"}},
        "rules": [
            {"apiGroups": [""], "resources": ["pods", "services", "configmaps", "secrets"], "verbs": rw},
            {"apiGroups": [""], "resources": ["pods/log", "pods/status"], "verbs": ["get", "list", "watch"]},
            {
                "apiGroups": [""],
                "resources": ["pods/exec", "pods/attach", "pods/portforward"],
                "verbs": ["get", "create"],
            },
            # Endpoints are read-only: hand-written ones could point a Service at another
            # student's pod (CVE-2021-25740).
            {
                "apiGroups": [""],
                "resources": ["events", "resourcequotas", "limitranges", "serviceaccounts", "endpoints"],
                "verbs": ["get", "list", "watch"],
            },
            {"apiGroups": ["apps"], "resources": ["deployments", "replicasets", "statefulsets"], "verbs": rw},
            {
                "apiGroups": ["apps"],
                "resources": ["deployments/scale", "replicasets/scale", "deployments/rollback"],
                "verbs": ["get", "update", "patch", "create"],
            },
            {"apiGroups": ["apps"], "resources": ["controllerrevisions"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": rw},
            # Jobs, CronJobs and autoscalers run for real on a real node (the kubectl Quick
            # Reference's `create job`, `create cronjob`, `autoscale`); the quota bounds them.
            {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": rw},
            {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": rw},
            {"apiGroups": ["discovery.k8s.io"], "resources": ["endpointslices"], "verbs": ["get", "list", "watch"]},
            {"apiGroups": ["events.k8s.io"], "resources": ["events"], "verbs": ["get", "list", "watch"]},
            *READ_FOR_GET_ALL,
        ],
    }


# `kubectl get all` lists these too and fails as a whole when one is forbidden; the article uses
# it, so students may read them (and, in their own namespace, write Jobs, CronJobs and autoscalers).
READ_FOR_GET_ALL: list[dict[str, Any]] = [
    {"apiGroups": [""], "resources": ["replicationcontrollers"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["apps"], "resources": ["daemonsets"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["get", "list", "watch"]},
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["get", "list", "watch"]},
]


def student_subject(sandbox_namespace: str) -> dict[str, str]:
    return {"kind": "ServiceAccount", "name": STUDENT_SA, "namespace": sandbox_namespace}


def student_role_binding(namespace: str, sandbox_namespace: str, sandbox_id: int) -> Manifest:
    """Grants the student's ServiceAccount (which lives in the primary namespace) the student
    role inside `namespace` (the primary one or one of the sandbox's extra namespaces)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(STUDENT_ROLE, namespace, sandbox_id),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": STUDENT_ROLE},
        "subjects": [student_subject(sandbox_namespace)],
    }


def cluster_read_role() -> Manifest:
    """Read-only, cluster-wide: what the architecture lesson shows (nodes, the namespace list)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": CLUSTER_READ_ROLE, "labels": {LABEL_MANAGED: "true"}},
        "rules": [
            {"apiGroups": [""], "resources": ["nodes", "namespaces"], "verbs": ["get", "list", "watch"]},
        ],
    }


def system_read_role() -> Manifest:
    """Read-only view of kube-system for the architecture lesson, deliberately without secrets."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": SYSTEM_READ_ROLE, "labels": {LABEL_MANAGED: "true"}},
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["pods", "services", "configmaps", "endpoints", "events"],
                "verbs": ["get", "list", "watch"],
            },
            {
                "apiGroups": ["apps"],
                "resources": ["deployments", "replicasets", "daemonsets", "statefulsets"],
                "verbs": ["get", "list", "watch"],
            },
            *READ_FOR_GET_ALL,
        ],
    }


def cluster_read_binding(sandbox_namespace: str, sandbox_id: int) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        # Cluster-scoped, so it outlives the namespace: destroy() and the orphan sweep find it by label.
        "metadata": {"name": f"{sandbox_namespace}-cluster-read", "labels": sandbox_labels(sandbox_id)},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": CLUSTER_READ_ROLE},
        "subjects": [student_subject(sandbox_namespace)],
    }


def system_read_binding(sandbox_namespace: str, sandbox_id: int) -> Manifest:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(f"{sandbox_namespace}-system-read", "kube-system", sandbox_id),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": SYSTEM_READ_ROLE},
        "subjects": [student_subject(sandbox_namespace)],
    }


def resource_quota(namespace: str, sandbox_id: int, preset: SizePreset) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": _meta("sandbox-quota", namespace, sandbox_id),
        "spec": {
            "hard": {
                "pods": str(preset.pods),
                "requests.cpu": preset.requests_cpu,
                "requests.memory": preset.requests_memory,
                "limits.cpu": preset.limits_cpu,
                "limits.memory": preset.limits_memory,
                # Twice what every Pod may take at its default, so a student can raise a few.
                "limits.ephemeral-storage": f"{2 * preset.pods * preset.default_limit_ephemeral_storage_mib}Mi",
                "services": str(preset.services),
                "services.nodeports": str(preset.node_ports),
                "services.loadbalancers": "0",
                "persistentvolumeclaims": "0",
                "configmaps": str(preset.configmaps),
                "secrets": str(preset.secrets),
                "count/deployments.apps": str(preset.pods),
                "count/replicasets.apps": str(preset.pods * 3),
                "count/ingresses.networking.k8s.io": str(preset.services),
                "count/jobs.batch": str(preset.pods),
                "count/cronjobs.batch": str(max(1, preset.pods // 4)),
                "count/horizontalpodautoscalers.autoscaling": str(preset.pods),
            }
        },
    }


def limit_range(namespace: str, sandbox_id: int, preset: SizePreset) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": _meta("sandbox-defaults", namespace, sandbox_id),
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    # No ephemeral-storage request: the scheduler would count it against the
                    # node's disk for Pods that write nothing.
                    "defaultRequest": {
                        "cpu": preset.default_request_cpu,
                        "memory": preset.default_request_memory,
                        "ephemeral-storage": "0",
                    },
                    "default": {
                        "cpu": preset.default_limit_cpu,
                        "memory": preset.default_limit_memory,
                        "ephemeral-storage": f"{preset.default_limit_ephemeral_storage_mib}Mi",
                    },
                    "max": {
                        "cpu": preset.limits_cpu,
                        "memory": preset.limits_memory,
                        "ephemeral-storage": preset.max_ephemeral_storage,
                    },
                }
            ]
        },
    }


def network_policy(namespace: str, sandbox_id: int, sandbox_namespaces: list[str]) -> Manifest:
    """Ingress only from the sandbox's own namespaces (and the cluster's ingress controller);
    egress to the sandbox's namespaces and to DNS."""
    own = [{"namespaceSelector": {"matchLabels": {LABEL_SANDBOX: str(sandbox_id)}}}]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _meta("sandbox-isolation", namespace, sandbox_id),
        "spec": {
            "podSelector": {},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [
                        *own,
                        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ingress-nginx"}}},
                    ]
                }
            ],
            "egress": [
                {"to": own},
                {
                    "to": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}}],
                    "ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}],
                },
            ],
        },
    }


def token_anchor(namespace: str, sandbox_id: int) -> Manifest:
    """The object that student tokens are bound to: deleting the sandbox deletes it, and the
    API server then rejects every token bound to it."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {**_meta(TOKEN_ANCHOR, namespace, sandbox_id)},
    }


def token_request(anchor_uid: str, *, seconds: int) -> Manifest:
    return {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {
            "expirationSeconds": seconds,
            "boundObjectRef": {"apiVersion": "v1", "kind": "Secret", "name": TOKEN_ANCHOR, "uid": anchor_uid},
        },
    }


def kubeconfig(*, server: str, ca_data: bytes | None, insecure: bool, token: str, namespace: str) -> Manifest:
    cluster: dict[str, Any] = {"server": server}
    if ca_data:
        cluster["certificate-authority-data"] = base64.b64encode(ca_data).decode()
    elif insecure:
        cluster["insecure-skip-tls-verify"] = True
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "sandbox", "cluster": cluster}],
        "users": [{"name": "student", "user": {"token": token}}],
        "contexts": [{"name": "sandbox", "context": {"cluster": "sandbox", "user": "student", "namespace": namespace}}],
        "current-context": "sandbox",
    }


def _guardrail(kind: str, condition: str, message: str) -> dict[str, str]:
    """One validation of the guardrail policy, applying to objects of one kind only."""
    return {
        "expression": f"object.kind != '{kind}' || ({condition})",
        "messageExpression": message,
        "reason": "Forbidden",
    }


def guardrail_policy() -> list[Manifest]:
    """A ValidatingAdmissionPolicy for what RBAC cannot express, in every sandbox namespace:

    - a Service may only use the NodePort reserved for its sandbox (the namespace's node-port
      label), so students never collide on the cluster-wide range or take each other's port;
    - no Service externalIPs (CVE-2020-8554: intercepting traffic to any address) and no
      ExternalName Services (an Ingress on one would proxy into another student's namespace);
    - no pod priority classes (a system-critical pod would preempt other students' pods);
    - no legacy ServiceAccount token Secrets (a token that never expires, unlike the short-lived
      ones the platform issues).
    """
    labels = "namespaceObject.metadata.labels"
    reserved = f"{labels}['{LABEL_NODE_PORT}']"
    has_reserved = f"has({labels}) && '{LABEL_NODE_PORT}' in {labels}"
    validations = [
        _guardrail(
            "Service",
            "!has(object.spec.ports) || object.spec.ports.all(p, !has(p.nodePort) || p.nodePort == 0 || "
            f"(({has_reserved}) && string(p.nodePort) == {reserved}))",
            "'The NodePort range is shared: this sandbox may only use nodePort ' + "
            f"(({has_reserved}) ? {reserved} : '(none reserved)') + '. Set spec.ports[].nodePort to it.'",
        ),
        _guardrail(
            "Service",
            "!has(object.spec.externalIPs) || size(object.spec.externalIPs) == 0",
            "'Service externalIPs are not allowed in a sandbox: they could capture traffic meant for others.'",
        ),
        _guardrail(
            "Service",
            "!has(object.spec.type) || object.spec.type != 'ExternalName'",
            "'ExternalName Services are not allowed in a sandbox; use a Service with a selector.'",
        ),
        _guardrail(
            "Pod",
            "!has(object.spec.priorityClassName) || object.spec.priorityClassName == ''",
            "'Pod priority classes are not allowed in a sandbox: remove spec.priorityClassName.'",
        ),
        _guardrail(
            "Secret",
            "!has(object.type) || object.type != 'kubernetes.io/service-account-token'",
            "'ServiceAccount token Secrets are not allowed in a sandbox: they never expire.'",
        ),
    ]
    rule = {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["services", "pods", "secrets"],
    }
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": GUARDRAILS_POLICY, "labels": {LABEL_MANAGED: "true"}},
            "spec": {
                "failurePolicy": "Fail",
                "matchConstraints": {"resourceRules": [rule]},
                "validations": validations,
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": GUARDRAILS_POLICY, "labels": {LABEL_MANAGED: "true"}},
            "spec": {
                "policyName": GUARDRAILS_POLICY,
                "validationActions": ["Deny"],
                # Sandbox namespaces only (the operator's own namespace holds a token Secret).
                "matchResources": {
                    "namespaceSelector": {"matchExpressions": [{"key": LABEL_SANDBOX, "operator": "Exists"}]}
                },
            },
        },
    ]


# --- The operator: the platform's own identity on the cluster ----------------------------------
OPERATOR_NAMESPACE = "sandbox-system"
OPERATOR_SA = "sandbox-operator"
OPERATOR_TOKEN = "sandbox-operator-token"  # noqa: S105  (an object name, not a secret)


CHECKER_SA = "sandbox-checker"
CHECKER_TOKEN = "sandbox-checker-token"  # noqa: S105  (an object name, not a secret)
# What the live view shows and lessons check. Never Secrets.
WATCHED = {
    "": ["pods", "events", "services", "configmaps", "namespaces", "nodes", "endpoints", "resourcequotas"],
    "apps": ["deployments", "replicasets", "statefulsets"],
    "discovery.k8s.io": ["endpointslices"],
    "networking.k8s.io": ["ingresses", "networkpolicies"],
    "events.k8s.io": ["events"],
}


def platform_identity(name: str, token_secret: str, rules: list[dict[str, Any]]) -> list[Manifest]:
    """One of the platform's own identities in the sandbox-system namespace: a ServiceAccount,
    a ClusterRole with `rules` bound to it, and a long-lived token Secret (revoked by deleting
    it; `manage.py sandbox install` issues a new one)."""
    labels = {LABEL_MANAGED: "true"}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": name, "namespace": OPERATOR_NAMESPACE, "labels": labels},
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name, "labels": labels},
            "rules": rules,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": OPERATOR_NAMESPACE}],
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "kubernetes.io/service-account-token",
            "metadata": {
                "name": token_secret,
                "namespace": OPERATOR_NAMESPACE,
                "labels": labels,
                "annotations": {"kubernetes.io/service-account.name": name},
            },
        },
    ]


def checker_objects() -> list[Manifest]:
    """A read-only identity for the live view's watcher and the lesson checks: get, list and
    watch on what students work with, cluster-wide, and nothing else (no Secrets)."""
    rules = [
        {"apiGroups": [group], "resources": resources, "verbs": ["get", "list", "watch"]}
        for group, resources in WATCHED.items()
    ]
    return platform_identity(CHECKER_SA, CHECKER_TOKEN, rules)


PROBER_SA = "sandbox-prober"
PROBER_TOKEN = "sandbox-prober-token"  # noqa: S105  (an object name, not a secret)


PROBER_EXEC_ROLE = "sandbox-prober-exec"


def prober_objects() -> list[Manifest]:
    """The identity lesson checks make HTTP requests and run commands with (`http` and `exec`
    checks): GET through the API server's proxy to a Service or a Pod, cluster-wide, and exec
    into Pods only where a sandbox's RoleBinding grants it (prober_exec_binding); nothing else:
    it cannot read an object, list a namespace or send anything but GET through the proxy."""
    rules = [{"apiGroups": [""], "resources": ["services/proxy", "pods/proxy"], "verbs": ["get"]}]
    # exec: `create` (and `get`, which a websocket upgrade of older clients is authorized as).
    exec_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": PROBER_EXEC_ROLE, "labels": {LABEL_MANAGED: "true"}},
        "rules": [{"apiGroups": [""], "resources": ["pods/exec"], "verbs": ["create", "get"]}],
    }
    return [*platform_identity(PROBER_SA, PROBER_TOKEN, rules), exec_role]


def prober_exec_binding(namespace: str, sandbox_id: int) -> Manifest:
    """Lets the prober exec into the Pods of one of a sandbox's namespaces (lesson `exec` checks)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": _meta(PROBER_EXEC_ROLE, namespace, sandbox_id),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": PROBER_EXEC_ROLE},
        "subjects": [{"kind": "ServiceAccount", "name": PROBER_SA, "namespace": OPERATOR_NAMESPACE}],
    }


def operator_objects() -> list[Manifest]:
    """The ServiceAccount that provisions sandboxes, with a ClusterRole limited to what
    provisioning, reset and destroy do. It is not cluster-admin: it can bind only the three
    student roles and the prober's exec role, mint tokens only for ServiceAccounts named `student`, read only the token
    anchor Secret, and reads nothing else a student creates."""
    rules = [
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "verbs": ["get", "list", "watch", "create", "delete", "patch"],
        },
        {"apiGroups": [""], "resources": ["serviceaccounts"], "verbs": ["create"]},
        {"apiGroups": [""], "resources": ["serviceaccounts/token"], "verbs": ["create"], "resourceNames": [STUDENT_SA]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["create", "delete", "deletecollection"]},
        {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"], "resourceNames": [TOKEN_ANCHOR]},
        {"apiGroups": [""], "resources": ["resourcequotas", "limitranges"], "verbs": ["create"]},
        # reset(): remove what students made, without reading it.
        {"apiGroups": [""], "resources": ["pods", "services", "configmaps"], "verbs": ["deletecollection"]},
        {
            "apiGroups": ["apps"],
            "resources": ["deployments", "replicasets", "statefulsets"],
            "verbs": ["deletecollection"],
        },
        {"apiGroups": ["networking.k8s.io"], "resources": ["networkpolicies"], "verbs": ["create"]},
        {"apiGroups": ["networking.k8s.io"], "resources": ["ingresses"], "verbs": ["deletecollection"]},
        {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": ["deletecollection"]},
        {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": ["deletecollection"]},
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["rolebindings", "clusterrolebindings"],
            "verbs": ["create", "delete", "get", "list"],
        },
        {
            "apiGroups": ["rbac.authorization.k8s.io"],
            "resources": ["clusterroles"],
            "verbs": ["bind"],
            "resourceNames": [STUDENT_ROLE, CLUSTER_READ_ROLE, SYSTEM_READ_ROLE, PROBER_EXEC_ROLE],
        },
        {"apiGroups": ["authorization.k8s.io"], "resources": ["subjectaccessreviews"], "verbs": ["create"]},
    ]
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": OPERATOR_NAMESPACE, "labels": {LABEL_MANAGED: "true"}},
    }
    return [namespace, *platform_identity(OPERATOR_SA, OPERATOR_TOKEN, rules)]


def _policy(name: str, spec: dict[str, Any], binding: dict[str, Any]) -> list[Manifest]:
    labels = {LABEL_MANAGED: "true"}
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": name, "labels": labels},
            "spec": {"failurePolicy": "Fail", **spec},
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": name, "labels": labels},
            "spec": {"policyName": name, "validationActions": ["Deny"], **binding},
        },
    ]


OPERATOR_USER = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{OPERATOR_SA}"
ANCHOR_POLICY = "sandbox-token-anchor-protection"
OPERATOR_SCOPE_POLICY = "sandbox-operator-scope"
_TARGET = "(request.operation == 'DELETE' ? oldObject : object)"


def _has_label(obj: str, key: str) -> str:
    return f"(has({obj}.metadata.labels) && '{key}' in {obj}.metadata.labels)"


def anchor_policy() -> list[Manifest]:
    """Students have full rights on Secrets (lessons use them), but the token anchor is the
    sandbox's credentials: only the operator (and the namespace controller, deleting the whole
    namespace, or a cluster admin) may change or delete it."""
    allowed = (
        f"request.userInfo.username in ['{OPERATOR_USER}', "
        "'system:serviceaccount:kube-system:namespace-controller', 'system:kube-controller-manager'] || "
        "(has(request.userInfo.groups) && 'system:masters' in request.userInfo.groups)"
    )
    return _policy(
        ANCHOR_POLICY,
        {
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE", "DELETE"],
                        "resources": ["secrets"],
                    }
                ]
            },
            "matchConditions": [
                {"name": "is-anchor", "expression": f"oldObject != null && oldObject.metadata.name == '{TOKEN_ANCHOR}'"}
            ],
            "validations": [
                {
                    "expression": allowed,
                    "message": f"{TOKEN_ANCHOR} holds your sandbox's credentials; it cannot be changed or deleted "
                    "(to start over, reset the sandbox).",
                    "reason": "Forbidden",
                }
            ],
        },
        {"matchResources": {"namespaceSelector": {"matchExpressions": [{"key": LABEL_SANDBOX, "operator": "Exists"}]}}},
    )


def operator_scope_policy() -> list[Manifest]:
    """What the operator's ClusterRole cannot say: its writes must stay in sandbox namespaces.
    Cluster-wide it may only touch sandbox-labelled namespaces and the bindings of the two
    read-only student roles, so a stolen operator token cannot bind itself or anyone else to
    anything in kube-system or elsewhere."""
    sandbox_ns = _has_label("namespaceObject", LABEL_SANDBOX)
    validations = [
        {
            "expression": "request.kind.kind == 'Namespace' || !has(request.namespace) || request.namespace == '' || "
            f"(namespaceObject != null && {sandbox_ns}) || "
            f"(request.namespace == 'kube-system' && request.kind.kind == 'RoleBinding' && "
            f"{_TARGET}.roleRef.name == '{SYSTEM_READ_ROLE}')",
            "messageExpression": "'the sandbox operator may only write in sandbox namespaces, not in ' + "
            "request.namespace",
        },
        {
            "expression": f"request.kind.kind != 'Namespace' || {_has_label(_TARGET, LABEL_SANDBOX)}",
            "message": "the sandbox operator may only create, change or delete sandbox namespaces",
        },
        {
            "expression": f"request.kind.kind != 'ClusterRoleBinding' || "
            f"{_TARGET}.roleRef.name == '{CLUSTER_READ_ROLE}'",
            "message": f"the sandbox operator may only bind {CLUSTER_READ_ROLE} cluster-wide",
        },
    ]
    return _policy(
        OPERATOR_SCOPE_POLICY,
        {
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["", "rbac.authorization.k8s.io", "networking.k8s.io"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE", "DELETE"],
                        "resources": ["*/*"],
                    }
                ]
            },
            "matchConditions": [
                {"name": "is-operator", "expression": f"request.userInfo.username == '{OPERATOR_USER}'"}
            ],
            "validations": [{**v, "reason": "Forbidden"} for v in validations],
        },
        {},
    )
