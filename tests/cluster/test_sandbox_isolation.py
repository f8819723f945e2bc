"""The isolation matrix: two real students, alice and bob, each in a provisioned sandbox, and
alice trying to escape hers with her own kubeconfig and the real kubectl.

Every attempt must fail (non-zero exit) for the reason that is supposed to stop it: RBAC
("cannot <verb> resource ..."), Pod Security Admission ("violates PodSecurity"), the
ResourceQuota or LimitRange, or the NodePort reservation policy. The positive controls at the
end show that the same kubeconfig works for everything a lesson needs, so the denials prove
the rules hold and not merely that the credential is broken.

An attempt that is found to succeed is a security finding: add it with `finding=` (which marks
it xfail(strict=True)) until the policy is fixed, so it stays visible. None is open today; the
five this matrix found first are closed by the guardrail admission policy and the student role.
"""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from string import Template

import pytest
from django.contrib.auth.models import User
from pytest_django import DjangoDbBlocker

from sandbox import credentials, lifecycle, manifests, provisioning
from sandbox.models import Sandbox
from tests.cluster.conftest import Kubectl, run_kubectl

# Every test needs the database (the module's students are rows); the mark also makes
# pytest-django set up the test database when only module-scoped tests are selected.
pytestmark = pytest.mark.django_db

MakeSandbox = Callable[..., tuple[Sandbox, str]]
SIZE = "small"

# A pod of bob's, created by the admin, and a Service in front of it: the targets of alice's
# attempts on bob's namespace.
BOB_POD = "bob-web"
BOB_SERVICE = "web"
BOB_OBJECTS = f"""
apiVersion: v1
kind: Pod
metadata: {{name: {BOB_POD}, labels: {{app: web}}}}
spec: {{containers: [{{name: web, image: nginx}}]}}
---
apiVersion: v1
kind: Service
metadata: {{name: {BOB_SERVICE}}}
spec: {{selector: {{app: web}}, ports: [{{port: 80}}]}}
"""


@dataclass(frozen=True)
class Student:
    namespace: str
    node_port: int
    kubeconfig: str

    @classmethod
    def of(cls, sandbox: Sandbox, kubeconfig: str) -> Student:
        assert sandbox.node_port is not None
        return cls(sandbox.namespace, sandbox.node_port, kubeconfig)


@dataclass(frozen=True)
class Students:
    alice: Student
    bob: Student
    node: str

    def values(self) -> dict[str, str]:
        """What the $placeholders in an attempt stand for."""
        return {
            "alice": self.alice.namespace,
            "bob": self.bob.namespace,
            "alice_port": str(self.alice.node_port),
            "bob_port": str(self.bob.node_port),
            # A port of the shared range that neither of them holds.
            "free_port": str(max(set(lifecycle.node_port_range()) - {self.alice.node_port, self.bob.node_port})),
            "node": self.node,
            "bob_pod": BOB_POD,
            "bob_service": BOB_SERVICE,
        }


def wait_for_quota(kubectl: Kubectl, namespace: str) -> None:
    """Quota admission refuses everything it counts until the quota controller has filled in
    the quota's status; wait for that so each attempt meets the rule it is meant to meet."""
    kubectl(
        "wait", "--for=jsonpath={.status.hard.pods}", "resourcequota/sandbox-quota", "-n", namespace, "--timeout=30s"
    )


def new_student(tmp_path_factory: pytest.TempPathFactory, size: str) -> tuple[int, Student]:
    """What conftest's make_sandbox does, for a module-scoped fixture (make_sandbox is
    per test): a user, a provisioned sandbox of the given size, its kubeconfig."""
    owner = User.objects.create_user(f"student-{uuid.uuid4().hex[:8]}")
    sandbox = lifecycle.create_sandbox(owner, size=size, enqueue=False)
    assert provisioning.provision(sandbox.pk)
    sandbox.refresh_from_db()
    path = tmp_path_factory.mktemp("kubeconfig") / f"{owner.username}.yaml"
    path.write_text(credentials.student_kubeconfig(sandbox))
    return sandbox.pk, Student.of(sandbox, str(path))


@pytest.fixture(scope="module")
def node(kubectl: Kubectl) -> str:
    return kubectl("get", "nodes", "-o", "jsonpath={.items[0].metadata.name}").stdout.strip()


@pytest.fixture(scope="module")
def students(
    django_db_setup: None,
    django_db_blocker: DjangoDbBlocker,
    tmp_path_factory: pytest.TempPathFactory,
    kubectl: Kubectl,
    node: str,
) -> Iterator[Students]:
    """alice and bob, shared by the whole module: a denied attempt changes nothing, and
    the test removes whatever a setup step or a (wrongly) admitted attempt created. Rows
    are committed (outside any test's transaction), so they are removed again afterwards."""
    made: list[int] = []
    pair: list[Student] = []
    try:
        with django_db_blocker.unblock():
            for _ in range(2):
                # The quota and LimitRange cases below are written for the small preset.
                pk, student = new_student(tmp_path_factory, SIZE)
                made.append(pk)
                pair.append(student)
        for student in pair:
            wait_for_quota(kubectl, student.namespace)
        alice, bob = pair
        kubectl("apply", "-n", bob.namespace, "-f", "-", input=BOB_OBJECTS)
        yield Students(alice, bob, node)
    finally:
        with django_db_blocker.unblock():
            for pk in made:
                provisioning.destroy(pk)
            owners = list(Sandbox.objects.filter(pk__in=made).values_list("owner_id", flat=True))
            Sandbox.objects.filter(pk__in=made).delete()
            User.objects.filter(pk__in=owners).delete()


@dataclass(frozen=True)
class Attempt:
    """One escape attempt: kubectl arguments run as alice, the text her stderr must contain
    (ignoring case), optional stdin, and an optional manifest alice creates first (it must be
    admitted). $placeholders are filled from Students.values()."""

    args: tuple[str, ...]
    reason: str
    stdin: str | None = None
    setup: str | None = None


def attempt(
    case_id: str,
    *args: str,
    reason: str,
    stdin: str | None = None,
    setup: str | None = None,
    finding: str | None = None,
) -> pytest.ParameterSet:
    marks = [pytest.mark.xfail(strict=True, reason=f"SECURITY FINDING: {finding}")] if finding else []
    return pytest.param(Attempt(args, reason, stdin, setup), id=case_id, marks=marks)


def rbac(verb: str, resource: str, *, group: str = "", namespace: str | None = None) -> str:
    """The API server's wording when RBAC refuses alice."""
    scope = f'in the namespace "{namespace}"' if namespace else "at the cluster scope"
    return f'cannot {verb} resource "{resource}" in API group "{group}" {scope}'


def pod(name: str, spec: str) -> str:
    return f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec: {spec}\n"


def service(name: str, spec: str) -> str:
    return f"apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec: {spec}\n"


def psa(violation: str) -> str:
    return f'violates PodSecurity "baseline:latest": {violation}'


NGINX = "{name: c, image: nginx}"
SMALL = "resources: {requests: {cpu: 10m, memory: 16Mi}, limits: {cpu: 10m, memory: 16Mi}}"
NODE_PORT_POLICY = "may only use nodePort $alice_port"
EXEC = "/api/v1/namespaces/$bob/pods/$bob_pod/exec?command=true&stdout=true"
PORT_FORWARD = "/api/v1/namespaces/$bob/pods/$bob_pod/portforward?ports=80"
# The student role with every verb on everything: as the namespaced Role and as the ClusterRole of
# that name (the role is being moved to a shared ClusterRole; both must stay out of reach).
ROLE_WITH_EVERYTHING = f"""
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: {manifests.STUDENT_ROLE}}}
rules: [{{apiGroups: ["*"], resources: ["*"], verbs: ["*"]}}]
"""
CSR = """
apiVersion: certificates.k8s.io/v1
kind: CertificateSigningRequest
metadata: {name: escape}
spec: {request: ZXNjYXBlCg==, signerName: kubernetes.io/kube-apiserver-client, usages: [client auth]}
"""
CRD = """
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: escapes.example.com}
spec:
  group: example.com
  names: {plural: escapes, singular: escape, kind: Escape}
  scope: Namespaced
  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]
"""
HOST_PATH_VOLUME = """
apiVersion: v1
kind: PersistentVolume
metadata: {name: escape}
spec: {capacity: {storage: 1Gi}, accessModes: [ReadWriteOnce], hostPath: {path: /}}
"""
CLAIM = """
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: escape}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
"""
ALLOW_ALL = """
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-all}
spec: {podSelector: {}, ingress: [{}], egress: [{}]}
"""
DAEMON_SET = """
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: everywhere}
spec:
  selector: {matchLabels: {app: everywhere}}
  template: {metadata: {labels: {app: everywhere}}, spec: {containers: [{name: c, image: nginx}]}}
"""
# A selectorless Service whose hand-written Endpoints point at bob's pod: the EndpointSlice
# mirroring controller copies them, so an Ingress (whose controller bob's NetworkPolicy admits)
# would carry traffic from alice's hostname straight into bob's pod.
TUNNEL_TO_BOB = """
apiVersion: v1
kind: Service
metadata: {name: tunnel}
spec: {ports: [{port: 80}]}
---
apiVersion: v1
kind: Endpoints
metadata: {name: tunnel}
subsets: [{addresses: [{ip: "$bob_pod_ip"}], ports: [{port: 80}]}]
"""
# A non-expiring token for alice's own ServiceAccount, filled in by the legacy token controller.
LEGACY_TOKEN = """
apiVersion: v1
kind: Secret
metadata: {name: forever, annotations: {kubernetes.io/service-account.name: student}}
type: kubernetes.io/service-account-token
"""


ATTEMPTS = [
    # --- bob's namespace: read, write, exec and friends -------------------------------------
    attempt("bob-list-pods", "get", "pods", "-n", "$bob", reason=rbac("list", "pods", namespace="$bob")),
    attempt("bob-get-pod", "get", "pod", "$bob_pod", "-n", "$bob", reason=rbac("get", "pods", namespace="$bob")),
    attempt(
        "bob-read-token-anchor-secret",
        *("get", "secret", manifests.TOKEN_ANCHOR, "-n", "$bob", "-o", "yaml"),
        reason=rbac("get", "secrets", namespace="$bob"),
    ),
    attempt(
        "bob-list-configmaps", "get", "configmaps", "-n", "$bob", reason=rbac("list", "configmaps", namespace="$bob")
    ),
    attempt(
        "bob-list-serviceaccounts",
        *("get", "serviceaccounts", "-n", "$bob"),
        reason=rbac("list", "serviceaccounts", namespace="$bob"),
    ),
    attempt(
        "bob-create-pod",
        *("run", "intruder", "-n", "$bob", "--image=nginx"),
        reason=rbac("create", "pods", namespace="$bob"),
    ),
    attempt(
        "bob-create-deployment",
        *("create", "deployment", "intruder", "-n", "$bob", "--image=nginx"),
        reason=rbac("create", "deployments", group="apps", namespace="$bob"),
    ),
    attempt(
        "bob-create-configmap",
        *("create", "configmap", "intruder", "-n", "$bob", "--from-literal=a=b"),
        reason=rbac("create", "configmaps", namespace="$bob"),
    ),
    attempt(
        "bob-delete-pod",
        *("delete", "pod", "$bob_pod", "-n", "$bob", "--wait=false"),
        reason=rbac("delete", "pods", namespace="$bob"),
    ),
    attempt(
        "bob-replace-service-selector",
        *("replace", "-n", "$bob", "-f", "-"),
        stdin=service("$bob_service", "{selector: {app: alice}, ports: [{port: 80}]}"),
        reason=rbac("update", "services", namespace="$bob"),
    ),
    attempt(
        "bob-kubectl-exec",
        *("exec", "-n", "$bob", "$bob_pod", "--", "cat", "/etc/hostname"),
        reason=rbac("get", "pods", namespace="$bob"),
    ),
    attempt(
        "bob-exec-subresource",
        *("create", "--raw", EXEC, "-f", "-"),
        stdin="",
        reason=rbac("create", "pods/exec", namespace="$bob"),
    ),
    attempt("bob-kubectl-attach", "attach", "-n", "$bob", "$bob_pod", reason=rbac("get", "pods", namespace="$bob")),
    attempt("bob-kubectl-logs", "logs", "-n", "$bob", "$bob_pod", reason=rbac("get", "pods", namespace="$bob")),
    attempt(
        "bob-log-subresource",
        *("get", "--raw", "/api/v1/namespaces/$bob/pods/$bob_pod/log"),
        reason=rbac("get", "pods/log", namespace="$bob"),
    ),
    attempt(
        "bob-kubectl-port-forward",
        *("port-forward", "-n", "$bob", "pod/$bob_pod", "0:80"),
        reason=rbac("get", "pods", namespace="$bob"),
    ),
    attempt(
        "bob-portforward-subresource",
        *("create", "--raw", PORT_FORWARD, "-f", "-"),
        stdin="",
        reason=rbac("create", "pods/portforward", namespace="$bob"),
    ),
    attempt(
        "bob-pod-proxy",
        *("get", "--raw", "/api/v1/namespaces/$bob/pods/$bob_pod:80/proxy/"),
        reason=rbac("get", "pods/proxy", namespace="$bob"),
    ),
    attempt(
        "bob-service-proxy",
        *("get", "--raw", "/api/v1/namespaces/$bob/services/$bob_service:80/proxy/"),
        reason=rbac("get", "services/proxy", namespace="$bob"),
    ),
    attempt(
        "bob-token-for-his-serviceaccount",
        *("create", "token", manifests.STUDENT_SA, "-n", "$bob"),
        reason=rbac("create", "serviceaccounts/token", namespace="$bob"),
    ),
    attempt(
        "bob-delete-namespace",
        *("delete", "namespace", "$bob", "--wait=false"),
        reason=rbac("delete", "namespaces", namespace="$bob"),
    ),
    # --- kube-system and cluster-wide reads ---------------------------------------------------
    attempt(
        "kube-system-secrets",
        *("get", "secrets", "-n", "kube-system"),
        reason=rbac("list", "secrets", namespace="kube-system"),
    ),
    attempt("secrets-cluster-wide", "get", "secrets", "-A", reason=rbac("list", "secrets")),
    attempt("pods-cluster-wide", "get", "pods", "-A", reason=rbac("list", "pods")),
    attempt(
        "kube-system-create-pod",
        *("run", "intruder", "-n", "kube-system", "--image=nginx"),
        reason=rbac("create", "pods", namespace="kube-system"),
    ),
    attempt("node-proxy", "get", "--raw", "/api/v1/nodes/$node/proxy/pods", reason=rbac("get", "nodes/proxy")),
    attempt("label-node", "label", "node", "$node", "escaped=yes", reason=rbac("patch", "nodes")),
    # --- new namespaces, RBAC escalation, impersonation ---------------------------------------
    attempt("create-namespace", "create", "namespace", "escaped", reason=rbac("create", "namespaces")),
    attempt(
        "create-clusterrole",
        *("create", "clusterrole", "escape", "--verb=*", "--resource=*"),
        reason=rbac("create", "clusterroles", group="rbac.authorization.k8s.io"),
    ),
    attempt(
        "clusterrolebinding-to-cluster-admin",
        *("create", "clusterrolebinding", "escape", "--clusterrole=cluster-admin"),
        "--serviceaccount=$alice:student",
        reason=rbac("create", "clusterrolebindings", group="rbac.authorization.k8s.io"),
    ),
    attempt(
        "own-rolebinding-to-cluster-admin",
        *("create", "rolebinding", "escape", "--clusterrole=cluster-admin"),
        "--serviceaccount=$alice:student",
        reason=rbac("create", "rolebindings", group="rbac.authorization.k8s.io", namespace="$alice"),
    ),
    attempt(
        "own-new-role",
        *("create", "role", "escape", "--verb=*", "--resource=*"),
        reason=rbac("create", "roles", group="rbac.authorization.k8s.io", namespace="$alice"),
    ),
    attempt(
        "own-role-escalate",
        *("replace", "-f", "-"),
        stdin=ROLE_WITH_EVERYTHING,
        reason=rbac("update", "roles", group="rbac.authorization.k8s.io", namespace="$alice"),
    ),
    attempt(
        "student-clusterrole-escalate",
        *("replace", "-f", "-"),
        stdin=ROLE_WITH_EVERYTHING.replace("kind: Role", "kind: ClusterRole"),
        reason=rbac("update", "clusterroles", group="rbac.authorization.k8s.io"),
    ),
    attempt(
        "own-rolebinding-delete",
        *("delete", "rolebinding", manifests.STUDENT_ROLE),
        reason=rbac("delete", "rolebindings", group="rbac.authorization.k8s.io", namespace="$alice"),
    ),
    attempt(
        "own-serviceaccount-new",
        *("create", "serviceaccount", "escape"),
        reason=rbac("create", "serviceaccounts", namespace="$alice"),
    ),
    attempt(
        "own-token-for-default-serviceaccount",
        *("create", "token", "default"),
        reason=rbac("create", "serviceaccounts/token", namespace="$alice"),
    ),
    attempt(
        "impersonate-system-admin",
        *("--as=system:admin", "get", "secrets", "-A"),
        reason='cannot impersonate resource "users"',
    ),
    attempt(
        "impersonate-system-masters",
        *("--as=system:serviceaccount:$alice:student", "--as-group=system:masters", "get", "secrets", "-A"),
        reason='cannot impersonate resource "serviceaccounts"',
    ),
    attempt(
        "impersonate-bob",
        *("--as=system:serviceaccount:$bob:student", "get", "pods", "-n", "$bob"),
        reason='cannot impersonate resource "serviceaccounts" in API group "" in the namespace "$bob"',
    ),
    attempt(
        "create-csr",
        *("create", "-f", "-"),
        stdin=CSR,
        reason=rbac("create", "certificatesigningrequests", group="certificates.k8s.io"),
    ),
    attempt(
        "create-mutating-webhook",
        *("create", "-f", "-"),
        stdin="apiVersion: admissionregistration.k8s.io/v1\nkind: MutatingWebhookConfiguration\n"
        "metadata: {name: escape}\nwebhooks: []\n",
        reason=rbac("create", "mutatingwebhookconfigurations", group="admissionregistration.k8s.io"),
    ),
    attempt(
        "create-validating-webhook",
        *("create", "-f", "-"),
        stdin="apiVersion: admissionregistration.k8s.io/v1\nkind: ValidatingWebhookConfiguration\n"
        "metadata: {name: escape}\nwebhooks: []\n",
        reason=rbac("create", "validatingwebhookconfigurations", group="admissionregistration.k8s.io"),
    ),
    attempt(
        "create-crd",
        *("create", "-f", "-"),
        stdin=CRD,
        reason=rbac("create", "customresourcedefinitions", group="apiextensions.k8s.io"),
    ),
    attempt(
        "create-priorityclass",
        *("create", "priorityclass", "escape", "--value=1000000000"),
        reason=rbac("create", "priorityclasses", group="scheduling.k8s.io"),
    ),
    attempt(
        "create-hostpath-persistentvolume",
        *("create", "-f", "-"),
        stdin=HOST_PATH_VOLUME,
        reason=rbac("create", "persistentvolumes"),
    ),
    attempt(
        "own-create-pvc",
        *("create", "-f", "-"),
        stdin=CLAIM,
        reason=rbac("create", "persistentvolumeclaims", namespace="$alice"),
    ),
    attempt(
        "own-create-daemonset",
        *("create", "-f", "-"),
        stdin=DAEMON_SET,
        reason=rbac("create", "daemonsets", group="apps", namespace="$alice"),
    ),
    attempt(
        "own-ephemeral-debug-container",
        *("debug", "target", "--image=busybox", "--profile=general", "--", "true"),
        setup=pod("target", f"{{containers: [{NGINX}]}}"),
        reason=rbac("patch", "pods/ephemeralcontainers", namespace="$alice"),
    ),
    # --- the sandbox's own guard rails ----------------------------------------------------------
    attempt(
        "own-namespace-pod-security-label",
        *("label", "namespace", "$alice", "--overwrite", "pod-security.kubernetes.io/enforce=privileged"),
        reason=rbac("patch", "namespaces", namespace="$alice"),
    ),
    attempt(
        "own-namespace-node-port-label",
        *("label", "namespace", "$alice", "--overwrite", f"{manifests.LABEL_NODE_PORT}=$bob_port"),
        reason=rbac("patch", "namespaces", namespace="$alice"),
    ),
    attempt(
        "own-namespace-delete",
        *("delete", "namespace", "$alice", "--wait=false"),
        reason=rbac("delete", "namespaces", namespace="$alice"),
    ),
    attempt(
        "own-resourcequota-delete",
        *("delete", "resourcequota", "sandbox-quota"),
        reason=rbac("delete", "resourcequotas", namespace="$alice"),
    ),
    attempt(
        "own-resourcequota-raise",
        *("patch", "resourcequota", "sandbox-quota", "-p", '{"spec":{"hard":{"pods":"1000"}}}'),
        reason=rbac("patch", "resourcequotas", namespace="$alice"),
    ),
    attempt(
        "own-limitrange-delete",
        *("delete", "limitrange", "sandbox-defaults"),
        reason=rbac("delete", "limitranges", namespace="$alice"),
    ),
    attempt(
        "own-networkpolicy-delete",
        *("delete", "networkpolicy", "sandbox-isolation"),
        reason=rbac("delete", "networkpolicies", group="networking.k8s.io", namespace="$alice"),
    ),
    attempt(
        "own-networkpolicy-allow-all",
        *("create", "-f", "-"),
        stdin=ALLOW_ALL,
        reason=rbac("create", "networkpolicies", group="networking.k8s.io", namespace="$alice"),
    ),
    attempt(
        "delete-nodeport-policy",
        *("delete", "validatingadmissionpolicy", manifests.GUARDRAILS_POLICY),
        reason=rbac("delete", "validatingadmissionpolicies", group="admissionregistration.k8s.io"),
    ),
    attempt(
        "delete-nodeport-policy-binding",
        *("delete", "validatingadmissionpolicybinding", manifests.GUARDRAILS_POLICY),
        reason=rbac("delete", "validatingadmissionpolicybindings", group="admissionregistration.k8s.io"),
    ),
    # --- Pod Security "baseline" ----------------------------------------------------------------
    attempt(
        "pod-privileged",
        *("create", "-f", "-"),
        stdin=pod("escape", "{containers: [{name: c, image: nginx, securityContext: {privileged: true}}]}"),
        reason=psa('privileged (container "c"'),
    ),
    attempt(
        "pod-hostpath",
        *("create", "-f", "-"),
        stdin=pod("escape", f"{{containers: [{NGINX}], volumes: [{{name: root, hostPath: {{path: /}}}}]}}"),
        reason=psa('hostPath volumes (volume "root")'),
    ),
    attempt(
        "pod-host-network",
        *("create", "-f", "-"),
        stdin=pod("escape", f"{{hostNetwork: true, containers: [{NGINX}]}}"),
        reason=psa("host namespaces (hostNetwork=true)"),
    ),
    attempt(
        "pod-host-pid",
        *("create", "-f", "-"),
        stdin=pod("escape", f"{{hostPID: true, containers: [{NGINX}]}}"),
        reason=psa("host namespaces (hostPID=true)"),
    ),
    attempt(
        "pod-host-ipc",
        *("create", "-f", "-"),
        stdin=pod("escape", f"{{hostIPC: true, containers: [{NGINX}]}}"),
        reason=psa("host namespaces (hostIPC=true)"),
    ),
    attempt(
        "pod-host-port",
        *("create", "-f", "-"),
        stdin=pod("escape", "{containers: [{name: c, image: nginx, ports: [{containerPort: 80, hostPort: 80}]}]}"),
        reason=psa('hostPort (container "c" uses hostPort 80)'),
    ),
    attempt(
        "pod-cap-net-admin",
        *("create", "-f", "-"),
        stdin=pod(
            "escape", "{containers: [{name: c, image: nginx, securityContext: {capabilities: {add: [NET_ADMIN]}}}]}"
        ),
        reason=psa('non-default capabilities (container "c" must not include "NET_ADMIN"'),
    ),
    attempt(
        "pod-cap-sys-admin",
        *("create", "-f", "-"),
        stdin=pod(
            "escape", "{containers: [{name: c, image: nginx, securityContext: {capabilities: {add: [SYS_ADMIN]}}}]}"
        ),
        reason=psa('non-default capabilities (container "c" must not include "SYS_ADMIN"'),
    ),
    attempt(
        "pod-seccomp-unconfined",
        *("create", "-f", "-"),
        stdin=pod("escape", f"{{securityContext: {{seccompProfile: {{type: Unconfined}}}}, containers: [{NGINX}]}}"),
        reason=psa("seccompProfile"),
    ),
    attempt(
        "pod-apparmor-unconfined",
        *("create", "-f", "-"),
        stdin=pod(
            "escape", "{containers: [{name: c, image: nginx, securityContext: {appArmorProfile: {type: Unconfined}}}]}"
        ),
        reason=psa("forbidden AppArmor profile"),
    ),
    attempt(
        "pod-selinux-spc",
        *("create", "-f", "-"),
        stdin=pod(
            "escape", "{containers: [{name: c, image: nginx, securityContext: {seLinuxOptions: {type: spc_t}}}]}"
        ),
        reason=psa("seLinuxOptions"),
    ),
    attempt(
        "pod-unsafe-sysctl",
        *("create", "-f", "-"),
        stdin=pod(
            "escape",
            f'{{securityContext: {{sysctls: [{{name: kernel.msgmax, value: "65536"}}]}}, containers: [{NGINX}]}}',
        ),
        reason=psa("forbidden sysctls (kernel.msgmax)"),
    ),
    attempt(
        "pod-unmasked-proc",
        *("create", "-f", "-"),
        stdin=pod(
            "escape",
            "{hostUsers: false, containers: [{name: c, image: nginx, securityContext: {procMount: Unmasked}}]}",
        ),
        reason=psa("procMount"),
    ),
    attempt(
        "debug-node",
        *("debug", "node/$node", "--image=busybox", "--profile=general", "--", "true"),
        reason=psa("host namespaces"),
    ),
    # --- quota and limits -----------------------------------------------------------------------
    attempt(
        "quota-loadbalancer",
        *("create", "-f", "-"),
        stdin=service(
            "escape",
            "{type: LoadBalancer, allocateLoadBalancerNodePorts: false, selector: {a: b}, ports: [{port: 80}]}",
        ),
        reason="exceeded quota: sandbox-quota, requested: services.loadbalancers=1",
    ),
    attempt(
        "quota-cpu-requests",
        *("create", "-f", "-"),
        stdin=pod(
            "greedy", '{containers: [{name: c, image: nginx, resources: {requests: {cpu: "2"}, limits: {cpu: "2"}}}]}'
        ),
        reason="exceeded quota: sandbox-quota, requested: requests.cpu=2",
    ),
    attempt(
        "limitrange-cpu-limit",
        *("create", "-f", "-"),
        stdin=pod("greedy", '{containers: [{name: c, image: nginx, resources: {limits: {cpu: "5"}}}]}'),
        reason="maximum cpu usage per Container is 4, but limit is 5",
    ),
    # --- the shared NodePort range --------------------------------------------------------------
    attempt(
        "nodeport-bobs-reserved-port",
        *("create", "-f", "-"),
        stdin=service("steal", "{type: NodePort, selector: {a: b}, ports: [{port: 80, nodePort: $bob_port}]}"),
        reason=NODE_PORT_POLICY,
    ),
    attempt(
        "nodeport-random-port",
        *("create", "-f", "-"),
        stdin=service("steal", "{type: NodePort, selector: {a: b}, ports: [{port: 80, nodePort: $free_port}]}"),
        reason=NODE_PORT_POLICY,
    ),
    attempt(
        "nodeport-cluster-assigned",
        *("create", "-f", "-"),
        stdin=service("steal", "{type: NodePort, selector: {a: b}, ports: [{port: 80}]}"),
        reason=NODE_PORT_POLICY,
    ),
    attempt(
        "nodeport-own-service-moved-to-bobs-port",
        *("patch", "service", "mine", "-p", '{"spec":{"type":"NodePort","ports":[{"port":80,"nodePort":$bob_port}]}}'),
        setup=service("mine", "{selector: {a: b}, ports: [{port: 80}]}"),
        reason=NODE_PORT_POLICY,
    ),
    # --- found by this matrix and closed by the guardrail policy and the student role ----------
    attempt(
        "pod-system-node-critical-priority",
        *("create", "-f", "-"),
        stdin=pod("critical", f"{{priorityClassName: system-node-critical, containers: [{NGINX}]}}"),
        reason="Pod priority classes are not allowed in a sandbox",
    ),
    attempt(
        "service-external-ips",
        *("create", "-f", "-"),
        stdin=service("intercept", "{selector: {a: b}, externalIPs: [10.96.0.1], ports: [{port: 443}]}"),
        reason="Service externalIPs are not allowed in a sandbox",
    ),
    attempt(
        "endpoints-into-bobs-pod",
        *("create", "-f", "-"),
        stdin=TUNNEL_TO_BOB,
        reason=rbac("create", "endpoints", namespace="$alice"),
    ),
    attempt(
        "service-externalname-to-bob",
        *("create", "-f", "-"),
        stdin=service("alias", "{type: ExternalName, externalName: $bob_service.$bob.svc.cluster.local}"),
        reason="ExternalName Services are not allowed in a sandbox",
    ),
    attempt(
        "legacy-long-lived-token",
        *("create", "-f", "-"),
        stdin=LEGACY_TOKEN,
        reason="ServiceAccount token Secrets are not allowed in a sandbox",
    ),
]


def bob_pod_ip(kubectl: Kubectl, students: Students) -> str:
    namespace = students.bob.namespace
    kubectl("wait", "--for=jsonpath={.status.podIP}", f"pod/{BOB_POD}", "-n", namespace, "--timeout=30s")
    return kubectl("get", "pod", BOB_POD, "-n", namespace, "-o", "jsonpath={.status.podIP}").stdout.strip()


def created(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The objects kubectl reports as created ("service/tunnel created")."""
    return [line.removesuffix(" created") for line in result.stdout.splitlines() if line.endswith(" created")]


def remove(kubectl: Kubectl, namespace: str, names: list[str]) -> None:
    if names:
        kubectl("delete", *names, "-n", namespace, "--ignore-not-found", "--wait=false")


@pytest.mark.parametrize("escape", ATTEMPTS)
def test_it_denies_the_escape_attempt(students: Students, kubectl: Kubectl, escape: Attempt) -> None:
    values = students.values()
    if escape.stdin and "$bob_pod_ip" in escape.stdin:
        values["bob_pod_ip"] = bob_pod_ip(kubectl, students)

    def fill(text: str) -> str:
        return Template(text).substitute(values)

    args = [fill(arg) for arg in escape.args]
    stdin = None if escape.stdin is None else fill(escape.stdin)
    leftovers: list[str] = []
    try:
        if escape.setup:
            leftovers += created(run_kubectl(students.alice.kubeconfig, "create", "-f", "-", input=fill(escape.setup)))

        result = run_kubectl(students.alice.kubeconfig, *args, input=stdin, check=False, timeout=30)
        leftovers += created(result)

        assert result.returncode != 0, f"kubectl {' '.join(args)} was allowed:\n{result.stdout}"
        assert fill(escape.reason).lower() in result.stderr.lower()
    finally:
        remove(kubectl, students.alice.namespace, leftovers)


def small_pod(name: str) -> str:
    return pod(name, f"{{containers: [{{name: c, image: nginx, {SMALL}}}]}}")


def test_it_denies_the_pod_over_the_pod_quota(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
    sandbox, kubeconfig = make_sandbox(size=SIZE)
    wait_for_quota(kubectl, sandbox.namespace)
    limit = manifests.PRESETS[sandbox.size].pods
    run_kubectl(kubeconfig, "create", "-f", "-", input="---\n".join(small_pod(f"p{i}") for i in range(limit)))

    result = run_kubectl(kubeconfig, "create", "-f", "-", input=small_pod("one-too-many"), check=False)

    assert result.returncode != 0
    assert (
        f"exceeded quota: sandbox-quota, requested: pods=1, used: pods={limit}, limited: pods={limit}" in result.stderr
    )


def node_port_service(name: str, port: int) -> str:
    return service(name, f"{{type: NodePort, selector: {{a: b}}, ports: [{{port: 80, nodePort: {port}}}]}}")


def test_it_denies_the_node_port_another_student_already_uses(make_sandbox: MakeSandbox) -> None:
    bob, bob_kubeconfig = make_sandbox()
    _, alice_kubeconfig = make_sandbox()
    assert bob.node_port is not None
    run_kubectl(bob_kubeconfig, "create", "-f", "-", input=node_port_service("bobs", bob.node_port))

    result = run_kubectl(
        alice_kubeconfig, "create", "-f", "-", input=node_port_service("steal", bob.node_port), check=False
    )

    assert result.returncode != 0
    assert f"{bob.node_port}: provided port is already allocated" in result.stderr


# --- positive controls: the same kubeconfig does what the lessons need ----------------------------


def test_it_allows_the_student_to_work_in_its_own_namespace(students: Students, kubectl: Kubectl) -> None:
    kubeconfig = students.alice.kubeconfig
    whoami = run_kubectl(kubeconfig, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert whoami.stdout == f"system:serviceaccount:{students.alice.namespace}:{manifests.STUDENT_SA}"
    made: list[str] = []
    try:
        made += created(run_kubectl(kubeconfig, "create", "-f", "-", input=pod("web", f"{{containers: [{NGINX}]}}")))
        made += created(run_kubectl(kubeconfig, "create", "deployment", "app", "--image=nginx"))
        made += created(run_kubectl(kubeconfig, "create", "configmap", "settings", "--from-literal=a=b"))
        password = f"--from-literal=p={uuid.uuid4().hex}"
        made += created(run_kubectl(kubeconfig, "create", "secret", "generic", "password", password))

        listed = run_kubectl(kubeconfig, "get", "pods,deployments,configmaps,secrets", "-o", "name").stdout.split()
        assert {"pod/web", "deployment.apps/app", "configmap/settings", "secret/password"} <= set(listed)
    finally:
        remove(kubectl, students.alice.namespace, made)


def test_it_allows_a_service_on_the_sandboxs_own_node_port(students: Students, kubectl: Kubectl) -> None:
    kubeconfig = students.alice.kubeconfig
    made = created(
        run_kubectl(kubeconfig, "create", "-f", "-", input=node_port_service("own", students.alice.node_port))
    )
    try:
        got = run_kubectl(kubeconfig, "get", "service", "own", "-o", "jsonpath={.spec.ports[0].nodePort}")
        assert got.stdout == str(students.alice.node_port)
    finally:
        remove(kubectl, students.alice.namespace, made)


def test_it_allows_reading_nodes_namespaces_and_kube_system(students: Students) -> None:
    kubeconfig = students.alice.kubeconfig
    nodes = run_kubectl(kubeconfig, "get", "nodes", "-o", "name").stdout.split()
    assert f"node/{students.node}" in nodes
    namespaces = run_kubectl(kubeconfig, "get", "namespaces", "-o", "name").stdout.split()
    assert {f"namespace/{students.alice.namespace}", "namespace/kube-system"} <= set(namespaces)
    run_kubectl(kubeconfig, "get", "pods,services,configmaps,deployments", "-n", "kube-system")


@pytest.mark.parametrize("subresource", ["pods/exec", "pods/portforward", "pods/attach", "pods/log"])
def test_it_allows_the_student_into_its_own_pods_but_not_bobs(students: Students, subresource: str) -> None:
    verb = "get" if subresource == "pods/log" else "create"

    def can_i(namespace: str) -> str:
        args = ("auth", "can-i", verb, subresource, "-n", namespace)
        return run_kubectl(students.alice.kubeconfig, *args, check=False).stdout.strip()

    assert can_i(students.alice.namespace) == "yes"
    assert can_i(students.bob.namespace) == "no"
