"""The platform's picture for the admin dashboard: every live sandbox (owner, class, state,
age, time left, last activity, Pods, quota use), the cluster's capacity (nodes, allocatable vs
requested CPU and memory, free NodePorts, the warm pool), namespaces with no row (orphans) and
rows with no namespace.

The cluster is read once per page through sandbox.k8s (the checker's read-only identity): four
cluster-wide lists (Nodes, Namespaces, Pods, ResourceQuotas). The live view's watcher caches
only Pods and the like in sandbox namespaces, while a node's requested CPU counts every Pod on
it (kube-system's too), and Nodes and ResourceQuotas are not watched at all; an admin's page
asked now and then is cheaper than watching three more kinds for it. The pure functions below
turn those lists into rows and are unit tested with plain dicts."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from classroom.models import Member, MemberRole
from sandbox import k8s, manifests
from sandbox.models import LIVE_STATES, Sandbox, State
from sandbox.quantity import bytes_of, cpu_text, memory_text, millicores, quantity, share

log = logging.getLogger(__name__)
Raw = dict[str, Any]

# The quota figures shown in the row; the rest are one click away.
MAIN_QUOTA = ("pods", "requests.cpu", "requests.memory", "limits.memory")
# A row in these states should have its namespace on the cluster.
SETTLED_STATES = (State.READY, State.RESETTING)
SIMULATED_LABEL = ("type", "kwok")  # the local cluster's simulated nodes (kwok)


@dataclass
class QuotaUse:
    resource: str
    used: str
    hard: str
    percent: int | None


@dataclass
class PodRow:
    namespace: str
    name: str
    phase: str


@dataclass
class SandboxRow:
    id: int
    namespace: str
    owner: str
    classes: list[str]
    state: str
    state_label: str
    created_at: datetime
    age: timedelta
    time_left: timedelta | None
    last_activity: datetime | None
    pods: list[PodRow] = field(default_factory=list)
    quota: list[QuotaUse] = field(default_factory=list)
    namespace_missing: bool = False

    @property
    def ends_at(self) -> datetime | None:
        return self.created_at + self.age + self.time_left if self.time_left is not None else None

    @property
    def main_quota(self) -> list[QuotaUse]:
        return [use for use in self.quota if use.resource in MAIN_QUOTA]


@dataclass
class NodeRow:
    name: str
    ready: bool
    simulated: bool
    unschedulable: bool
    cpu_allocatable: int  # millicores
    cpu_requested: int
    memory_allocatable: int  # bytes
    memory_requested: int
    pods_allocatable: int
    pods: int

    @property
    def cpu(self) -> str:
        return f"{cpu_text(self.cpu_requested)} / {cpu_text(self.cpu_allocatable)}"

    @property
    def memory(self) -> str:
        return f"{memory_text(self.memory_requested)} / {memory_text(self.memory_allocatable)}"

    @property
    def cpu_percent(self) -> int | None:
        return share(self.cpu_requested, self.cpu_allocatable)

    @property
    def memory_percent(self) -> int | None:
        return share(self.memory_requested, self.memory_allocatable)


@dataclass
class Orphan:
    namespace: str
    sandbox_id: str
    phase: str
    created: str


@dataclass
class Capacity:
    nodes: list[NodeRow]
    node_ports_free: int
    node_ports_total: int
    pool_ready: int
    pool_coming: int
    pool_target: int

    def _total(self, attribute: str, simulated: bool) -> int:
        return sum(getattr(node, attribute) for node in self.nodes if node.simulated == simulated)

    @property
    def real(self) -> dict[str, str]:
        """Totals of the nodes that run students' Pods (the simulated ones only hold benchmarks)."""
        return {
            "cpu": f"{cpu_text(self._total('cpu_requested', False))} / "
            f"{cpu_text(self._total('cpu_allocatable', False))}",
            "memory": f"{memory_text(self._total('memory_requested', False))} / "
            f"{memory_text(self._total('memory_allocatable', False))}",
            "pods": f"{self._total('pods', False)} / {self._total('pods_allocatable', False)}",
        }


@dataclass
class Picture:
    sandboxes: list[SandboxRow]
    capacity: Capacity
    orphans: list[Orphan]
    cluster_error: str = ""

    @property
    def missing(self) -> list[SandboxRow]:
        return [row for row in self.sandboxes if row.namespace_missing]


# --- Pure: cluster objects (raw JSON dicts) to rows ---------------------------------------------


def _safe(read: Any, value: Any, default: int = 0) -> int:
    try:
        return int(read(value))
    except (TypeError, ValueError):
        return default


def pod_requests(pod: Raw) -> tuple[int, int]:
    """The CPU (millicores) and memory (bytes) a Pod asks the scheduler for: its containers'
    requests added up, or its largest init container's if that is more (init containers run
    one at a time, before the rest), plus the Pod's overhead."""
    spec = pod.get("spec") or {}

    def total(containers: Iterable[Raw], largest: bool) -> tuple[int, int]:
        cpu = memory = 0
        for container in containers:
            requests = (container.get("resources") or {}).get("requests") or {}
            c, m = _safe(millicores, requests.get("cpu", 0)), _safe(bytes_of, requests.get("memory", 0))
            cpu, memory = (max(cpu, c), max(memory, m)) if largest else (cpu + c, memory + m)
        return cpu, memory

    cpu, memory = total(spec.get("containers") or [], largest=False)
    init_cpu, init_memory = total(spec.get("initContainers") or [], largest=True)
    overhead = spec.get("overhead") or {}
    return (
        max(cpu, init_cpu) + _safe(millicores, overhead.get("cpu", 0)),
        max(memory, init_memory) + _safe(bytes_of, overhead.get("memory", 0)),
    )


def _holds_resources(pod: Raw) -> bool:
    # A finished Pod no longer counts against its node, as the scheduler sees it.
    return (pod.get("status") or {}).get("phase") not in ("Succeeded", "Failed")


def node_rows(nodes: list[Raw], pods: list[Raw]) -> list[NodeRow]:
    requested: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for pod in pods:
        node = (pod.get("spec") or {}).get("nodeName")
        if node and _holds_resources(pod):
            cpu, memory = pod_requests(pod)
            requested[node][0] += cpu
            requested[node][1] += memory
            requested[node][2] += 1
    rows = []
    for node in nodes:
        meta, spec, status = node.get("metadata") or {}, node.get("spec") or {}, node.get("status") or {}
        allocatable = status.get("allocatable") or {}
        conditions = {c.get("type"): c.get("status") for c in status.get("conditions") or []}
        name = meta.get("name", "")
        cpu, memory, count = requested[name]
        label, value = SIMULATED_LABEL
        rows.append(
            NodeRow(
                name=name,
                ready=conditions.get("Ready") == "True",
                simulated=(meta.get("labels") or {}).get(label) == value,
                unschedulable=bool(spec.get("unschedulable")),
                cpu_allocatable=_safe(millicores, allocatable.get("cpu", 0)),
                cpu_requested=cpu,
                memory_allocatable=_safe(bytes_of, allocatable.get("memory", 0)),
                memory_requested=memory,
                pods_allocatable=_safe(quantity, allocatable.get("pods", 0)),
                pods=count,
            )
        )
    # The real nodes first: they are the ones students' Pods run on.
    return sorted(rows, key=lambda row: (row.simulated, row.name))


def _quantity_text(resource: str, value: Any) -> str:
    text = str(value)
    try:
        if resource.endswith("cpu"):
            return cpu_text(millicores(text))
        if resource.endswith(("memory", "storage")):
            return memory_text(bytes_of(text))
    except ValueError:
        pass
    return text


def quota_use(quotas: list[Raw]) -> list[QuotaUse]:
    """used/hard for every resource of a namespace's ResourceQuotas, from their status (what the
    API server has counted), the main ones first."""
    found: dict[str, QuotaUse] = {}
    for quota in quotas:
        status = quota.get("status") or {}
        hard, used = status.get("hard") or {}, status.get("used") or {}
        for resource, limit in hard.items():
            current = used.get(resource, "0")
            try:
                percent = share(quantity(current), quantity(limit))
            except ValueError:
                percent = None
            found[resource] = QuotaUse(
                resource, _quantity_text(resource, current), _quantity_text(resource, limit), percent
            )
    order = {name: index for index, name in enumerate(MAIN_QUOTA)}
    return sorted(found.values(), key=lambda use: (order.get(use.resource, len(order)), use.resource))


def orphans(namespaces: list[Raw], live_ids: set[str], prefix: str) -> list[Orphan]:
    """This installation's sandbox namespaces (its prefix and the sandbox label) whose sandbox has
    no live row: left by a crash or a removed row. The sweep removes them; until then, here."""
    found = []
    for namespace in namespaces:
        meta = namespace.get("metadata") or {}
        labels = meta.get("labels") or {}
        name = meta.get("name", "")
        sandbox_id = labels.get(manifests.LABEL_SANDBOX)
        if not name.startswith(prefix) or sandbox_id is None or sandbox_id in live_ids:
            continue
        found.append(
            Orphan(
                namespace=name,
                sandbox_id=sandbox_id,
                phase=(namespace.get("status") or {}).get("phase", ""),
                created=meta.get("creationTimestamp", ""),
            )
        )
    return sorted(found, key=lambda orphan: orphan.namespace)


def time_left(sandbox: Sandbox, now: datetime) -> timedelta | None:
    """Until the first of its hard expiry and its idle expiry; None for the warm pool's."""
    ends = []
    if sandbox.expires_at:
        ends.append(sandbox.expires_at)
    if sandbox.owner_id and sandbox.last_activity_at:
        ends.append(sandbox.last_activity_at + timedelta(minutes=settings.SANDBOX_IDLE_MINUTES))
    return max(min(ends) - now, timedelta(0)) if ends else None


# --- Gathering ------------------------------------------------------------------------------------


def read_cluster() -> dict[str, list[Raw]]:
    with k8s.as_checker():
        return {kind: k8s.list_raw(kind)[0] for kind in ("Node", "Namespace", "Pod", "ResourceQuota")}


def classes_of(user_ids: Iterable[int]) -> dict[int, list[str]]:
    """The classes each user is a student in, by name."""
    found: dict[int, list[str]] = defaultdict(list)
    rows = Member.objects.filter(user_id__in=list(user_ids), role=MemberRole.STUDENT).values_list(
        "user_id", "classroom__name"
    )
    for user_id, name in rows:
        found[user_id].append(name)
    return found


def live_sandboxes() -> list[Sandbox]:
    return list(Sandbox.objects.filter(state__in=LIVE_STATES).select_related("owner").order_by("created_at", "pk"))


def capacity(nodes: list[NodeRow]) -> Capacity:
    low, _, high = settings.SANDBOX_NODEPORT_RANGE.partition("-")
    total = int(high) - int(low) + 1
    used = Sandbox.objects.filter(node_port__isnull=False).count()
    pool = Sandbox.objects.filter(owner__isnull=True)
    return Capacity(
        nodes=nodes,
        node_ports_free=max(total - used, 0),
        node_ports_total=total,
        pool_ready=pool.filter(state=State.READY).count(),
        pool_coming=pool.filter(state__in=(State.REQUESTED, State.PROVISIONING)).count(),
        pool_target=settings.SANDBOX_POOL_SIZE,
    )


def gather(now: datetime | None = None) -> Picture:
    """The whole picture. Without the cluster, the rows are still shown (no Pods, no quota) with
    the reason; nothing here raises for a cluster that is away."""
    now = now or timezone.now()
    cluster: dict[str, list[Raw]] = {}
    error = ""
    try:
        cluster = read_cluster()
    except Exception as exc:  # away, refused, a kubeconfig missing: the page says so and goes on
        log.warning("the dashboard could not read the cluster: %s", exc)
        error = f"{type(exc).__name__}: {str(exc)[:300]}"
    # Rows are read after the cluster, so a sandbox whose namespace was listed has its row here
    # (a row is written before its namespace): a new sandbox is never taken for an orphan.
    sandboxes = live_sandboxes()
    classes = classes_of(s.owner_id for s in sandboxes if s.owner_id)
    pods_by_namespace: dict[str, list[PodRow]] = defaultdict(list)
    for pod in cluster.get("Pod", []):
        meta = pod.get("metadata") or {}
        namespace = meta.get("namespace", "")
        phase = (pod.get("status") or {}).get("phase", "")
        if meta.get("deletionTimestamp"):
            phase = "Terminating"
        pods_by_namespace[namespace].append(PodRow(namespace, meta.get("name", ""), phase))
    quotas_by_namespace: dict[str, list[Raw]] = defaultdict(list)
    for quota in cluster.get("ResourceQuota", []):
        quotas_by_namespace[(quota.get("metadata") or {}).get("namespace", "")].append(quota)
    present = {(ns.get("metadata") or {}).get("name") for ns in cluster.get("Namespace", [])}
    rows = []
    for sandbox in sandboxes:
        namespaces = sandbox.all_namespaces()
        rows.append(
            SandboxRow(
                id=sandbox.pk,
                namespace=sandbox.namespace,
                owner=sandbox.owner.get_username() if sandbox.owner else "",
                classes=classes.get(sandbox.owner_id or 0, []),
                state=sandbox.state,
                state_label=str(State(sandbox.state).label),
                created_at=sandbox.created_at,
                age=now - sandbox.created_at,
                time_left=time_left(sandbox, now),
                last_activity=sandbox.last_activity_at,
                pods=[pod for ns in namespaces for pod in pods_by_namespace.get(ns, [])],
                quota=quota_use([q for ns in namespaces for q in quotas_by_namespace.get(ns, [])]),
                namespace_missing=not error and sandbox.state in SETTLED_STATES and sandbox.namespace not in present,
            )
        )
    live_ids = {str(sandbox.pk) for sandbox in sandboxes}
    return Picture(
        sandboxes=rows,
        capacity=capacity(node_rows(cluster.get("Node", []), cluster.get("Pod", []))),
        orphans=orphans(cluster.get("Namespace", []), live_ids, settings.SANDBOX_NAMESPACE_PREFIX),
        cluster_error=error,
    )
