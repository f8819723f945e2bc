"""The admin dashboard (/platform/) against the real cluster: a sandbox's row shows its Pods and
its quota use as the API server counted it, the cluster's nodes and capacity; a namespace with
no row is listed as an orphan and a row with no namespace as missing; a bulk action on a class
extends its students' sandboxes and an expiry hands them to a worker; non-admins learn nothing."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from classroom.models import Classroom, Member, MemberRole
from sandbox import manifests, tasks
from sandbox.models import Sandbox, State
from tests.cluster.conftest import Kubectl

pytestmark = pytest.mark.django_db

# Never scheduled (no node has this label), so it costs the node nothing, yet the quota counts
# it and its requests the moment it is admitted.
PENDING_POD = """
apiVersion: v1
kind: Pod
metadata: {name: idle}
spec:
  nodeSelector: {dashboard-test/no-such-node: "true"}
  containers:
    - name: app
      image: spring2go/spring-petclinic:1.0.0.RELEASE
      resources:
        requests: {cpu: 100m, memory: 64Mi}
        limits: {cpu: 200m, memory: 128Mi}
"""


def _class_of(user: User, name: str) -> Classroom:
    now = timezone.now()
    classroom = Classroom.objects.create(name=name, starts_at=now, ends_at=now + timedelta(hours=2))
    Member.objects.create(classroom=classroom, user=user, role=MemberRole.STUDENT)
    return classroom


def _row(page: str, namespace: str) -> str:
    match = re.search(rf'<tr data-sandbox="{re.escape(namespace)}">(.*?)</tr>', page, re.S)
    assert match, f"no row for {namespace}"
    return match.group(1)


@pytest.fixture
def orphan(kubectl: Kubectl) -> Iterator[str]:
    name = f"{settings.SANDBOX_NAMESPACE_PREFIX}orphan-{uuid.uuid4().hex[:6]}"
    kubectl("create", "namespace", name)
    kubectl("label", "namespace", name, f"{manifests.LABEL_MANAGED}=true", f"{manifests.LABEL_SANDBOX}=987654321")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


def test_a_sandbox_shows_its_class_pods_and_quota_use(
    client: Client, admin_user: User, make_sandbox: Callable[..., tuple[Any, str]], kubectl: Kubectl
) -> None:
    sandbox, _ = make_sandbox()
    _class_of(sandbox.owner, "Kubernetes 101")
    # The quota controller fills in the status (hard, then used) shortly after the sandbox is made.
    kubectl(
        "wait",
        "--for=jsonpath={.status.used.pods}=0",
        "resourcequota",
        "--all",
        "-n",
        sandbox.namespace,
        "--timeout=60s",
    )
    kubectl("apply", "-n", sandbox.namespace, "-f", "-", input=PENDING_POD)
    # Admission then counts the Pod in the quota's status as it creates it.
    quota = json.loads(kubectl("get", "resourcequota", "-n", sandbox.namespace, "-o", "json").stdout)["items"]
    used = {k: v for q in quota for k, v in q["status"]["used"].items()}
    assert used["pods"] == "1"
    assert used["requests.cpu"] == "100m"

    client.force_login(admin_user)
    page = client.get("/platform/").content.decode()
    row = _row(page, sandbox.namespace)
    assert sandbox.owner.username in row
    assert "Kubernetes 101" in row
    assert "Ready" in row
    assert '<li class="pod">idle <span class="muted">Pending</span></li>' in row
    hard_pods = next(q["status"]["hard"]["pods"] for q in quota)
    assert f'data-resource="pods">pods: 1 / {hard_pods}' in row
    assert 'data-resource="requests.cpu">requests.cpu: 100m / ' in row
    assert 'data-resource="requests.memory">requests.memory: 64Mi / ' in row
    # The capacity: the real node with its allocatable CPU, and the simulated ones marked so.
    nodes = json.loads(kubectl("get", "nodes", "-o", "json").stdout)["items"]
    for node in nodes:
        assert f'data-node="{node["metadata"]["name"]}"' in page
    assert "(simulated)" in page
    assert 'id="cluster-error"' not in page
    assert f'id="free-node-ports">{_free_ports()}<' in page
    client.cookies["django_language"] = "zh-hans"
    chinese = client.get("/platform/").content.decode()
    assert "预热池" in chinese
    assert "配额 已用 / 上限" in chinese
    assert "就绪" in _row(chinese, sandbox.namespace)


def _free_ports() -> int:
    low, _, high = settings.SANDBOX_NODEPORT_RANGE.partition("-")
    return int(high) - int(low) + 1 - Sandbox.objects.filter(node_port__isnull=False).count()


def test_an_orphan_namespace_and_a_row_without_namespace_are_listed(
    client: Client, admin_user: User, orphan: str
) -> None:
    ghost = Sandbox.objects.create(
        owner=User.objects.create_user("ghost"),
        namespace=f"{settings.SANDBOX_NAMESPACE_PREFIX}ghost-{uuid.uuid4().hex[:6]}",
        state=State.READY,
    )
    client.force_login(admin_user)
    page = client.get("/platform/").content.decode()
    assert f'<li class="orphan" data-namespace="{orphan}"><code>{orphan}</code> (sandbox #987654321)' in page
    # Only this installation's namespaces: others sharing the cluster have another prefix.
    listed = re.findall(r'<li class="orphan" data-namespace="([^"]+)"', page)
    assert all(name.startswith(settings.SANDBOX_NAMESPACE_PREFIX) for name in listed)
    assert f'<li class="missing" data-namespace="{ghost.namespace}">' in page
    assert "namespace missing" in _row(page, ghost.namespace)


def test_a_bulk_extend_of_a_class_gives_its_students_more_time(
    client: Client, admin_user: User, make_sandbox: Callable[..., tuple[Any, str]], kubectl: Kubectl
) -> None:
    in_class, _ = make_sandbox()
    other, _ = make_sandbox()
    classroom = _class_of(in_class.owner, "Evening class")
    before = {s.pk: s.expires_at for s in (in_class, other)}

    client.force_login(admin_user)
    response = client.post("/platform/bulk", {"action": "extend", "hours": "5", "classroom": classroom.pk})
    assert response.status_code == 302
    in_class.refresh_from_db()
    other.refresh_from_db()
    assert in_class.expires_at - before[in_class.pk] == timedelta(hours=5)
    assert other.expires_at == before[other.pk]  # not in the class
    annotations = json.loads(kubectl("get", "namespace", in_class.namespace, "-o", "json").stdout)["metadata"][
        "annotations"
    ]
    assert annotations[manifests.ANNOTATION_EXPIRES] == in_class.expires_at.isoformat()
    assert "Extended 1 sandbox(es) by 5 hour(s)." in client.get("/platform/").content.decode()


def test_a_bulk_expiry_hands_the_sandbox_to_a_worker(
    client: Client,
    admin_user: User,
    make_sandbox: Callable[..., tuple[Any, str]],
    kubectl: Kubectl,
    eager_celery: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    assert tasks.destroy  # registered, so the eager Celery runs it here rather than sending it away
    sandbox, _ = make_sandbox()
    client.force_login(admin_user)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post("/platform/bulk", {"action": "expire", "sandboxes": [sandbox.pk]})
        assert response.status_code == 302
        # The request itself only marked it: the namespace is still there, the worker's job queued.
        sandbox.refresh_from_db()
        assert sandbox.state == State.DELETING
        kubectl("get", "namespace", sandbox.namespace)
    # After commit: the status push to the page, and the worker's job (Celery runs it in place here).
    jobs = [c for c in callbacks if getattr(c, "args", ())[:1] == ("sandbox.tasks.destroy",)]
    assert len(jobs) == 1
    for callback in callbacks:
        callback()
    sandbox.refresh_from_db()
    assert sandbox.state == State.EXPIRED
    left = kubectl("get", "namespace", sandbox.namespace, "-o", "json", check=False)
    assert left.returncode != 0 or "deletionTimestamp" in json.loads(left.stdout)["metadata"]  # gone or going
    # Asking again for a sandbox that ended changes nothing.
    again = client.post("/platform/bulk", {"action": "delete", "sandboxes": [sandbox.pk]})
    assert again.status_code == 200  # the form: it is no longer a live sandbox to choose
    sandbox.refresh_from_db()
    assert sandbox.state == State.EXPIRED


def test_it_is_for_admins_only(
    client: Client, student: User, instructor: User, make_sandbox: Callable[..., tuple[Any, str]]
) -> None:
    sandbox, _ = make_sandbox()
    for url in ("/platform/", "/platform/audit/"):
        anonymous = client.get(url)
        assert anonymous.status_code == 302
        assert "/accounts/login/" in anonymous["Location"]
    assert client.post("/platform/bulk", {"action": "delete", "sandboxes": [sandbox.pk]}).status_code == 302
    for user in (student, instructor):
        client.force_login(user)
        for url in ("/platform/", "/platform/audit/"):
            refused = client.get(url)
            assert refused.status_code == 404
            assert sandbox.namespace not in refused.content.decode()
        assert client.post("/platform/bulk", {"action": "delete", "sandboxes": [sandbox.pk]}).status_code == 404
    sandbox.refresh_from_db()
    assert sandbox.state == State.READY
