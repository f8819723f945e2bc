"""The admin dashboard's pure parts (cluster objects as plain dicts to rows) and its audit
search and forms, without a cluster."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from classroom.models import Classroom, Member, MemberRole
from dashboard import actions, inventory
from dashboard.forms import AuditForm, BulkForm
from sandbox import manifests
from sandbox.models import Sandbox, State
from sandbox.terminal.models import CommandAudit


def pod(
    node: str | None, phase: str, *containers: dict[str, str], init: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    def container(requests: dict[str, str]) -> dict[str, Any]:
        return {"name": "c", "resources": {"requests": requests}}

    spec: dict[str, Any] = {"containers": [container(r) for r in containers]}
    if node:
        spec["nodeName"] = node
    if init:
        spec["initContainers"] = [container(r) for r in init]
    return {"metadata": {"name": "p", "namespace": "ns"}, "spec": spec, "status": {"phase": phase}}


def node(name: str, cpu: str, memory: str, *, kwok: bool = False, ready: str = "True") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": {"type": "kwok"} if kwok else {}},
        "spec": {},
        "status": {
            "allocatable": {"cpu": cpu, "memory": memory, "pods": "110"},
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }


def test_a_pods_requests_add_up_and_its_largest_init_container_counts_if_larger() -> None:
    assert inventory.pod_requests(pod("n", "Running", {"cpu": "100m", "memory": "64Mi"}, {"cpu": "0.2"})) == (
        300,
        64 * 1024**2,
    )
    big_init = pod("n", "Running", {"cpu": "100m"}, init=[{"cpu": "1", "memory": "1Gi"}, {"cpu": "500m"}])
    assert inventory.pod_requests(big_init) == (1000, 1024**3)
    assert inventory.pod_requests(pod("n", "Running", {})) == (0, 0)
    # A malformed request is read as nothing rather than breaking the page.
    assert inventory.pod_requests(pod("n", "Running", {"cpu": "lots"})) == (0, 0)


def test_nodes_show_what_their_pods_request_and_finished_pods_do_not_count() -> None:
    rows = inventory.node_rows(
        [node("kwok-1", "32", "256Gi", kwok=True), node("real", "2", "4Gi", ready="False")],
        [
            pod("real", "Running", {"cpu": "250m", "memory": "512Mi"}),
            pod("real", "Pending", {"cpu": "250m"}),
            pod("real", "Succeeded", {"cpu": "4"}),  # done: holds nothing
            pod(None, "Pending", {"cpu": "4"}),  # not scheduled: on no node
        ],
    )
    real, kwok = rows  # the real nodes first
    assert (real.name, real.simulated, real.ready) == ("real", False, False)
    assert (real.cpu_requested, real.cpu_allocatable, real.pods) == (500, 2000, 2)
    assert real.cpu == "500m / 2"
    assert real.cpu_percent == 25
    assert real.memory == "512Mi / 4Gi"
    assert (kwok.simulated, kwok.pods, kwok.cpu_percent) == (True, 0, 0)


def test_quota_use_reads_the_status_with_the_main_figures_first() -> None:
    quota = {
        "status": {
            "hard": {"secrets": "10", "pods": "10", "requests.cpu": "1", "requests.memory": "2Gi"},
            "used": {"pods": "3", "requests.cpu": "250m", "requests.memory": "1536Mi"},
        }
    }
    uses = inventory.quota_use([quota])
    assert [(u.resource, u.used, u.hard, u.percent) for u in uses] == [
        ("pods", "3", "10", 30),
        ("requests.cpu", "250m", "1", 25),
        ("requests.memory", "1.5Gi", "2Gi", 75),
        ("secrets", "0", "10", 0),  # not used yet: the API server leaves it out
    ]
    assert inventory.quota_use([{"metadata": {}}]) == []  # a quota the controller has not counted yet


def test_orphans_are_this_installations_sandbox_namespaces_without_a_live_row() -> None:
    def namespace(name: str, sandbox: str | None) -> dict[str, Any]:
        labels = {manifests.LABEL_SANDBOX: sandbox} if sandbox else {}
        return {"metadata": {"name": name, "labels": labels}, "status": {"phase": "Active"}}

    found = inventory.orphans(
        [
            namespace("sb-live", "1"),
            namespace("sb-gone", "2"),
            namespace("sb-gone-db", "2"),  # an extra namespace of the same sandbox
            namespace("other-3", "3"),  # another installation's prefix
            namespace("sb-unlabelled", None),  # not a sandbox's
        ],
        {"1"},
        "sb-",
    )
    assert [(o.namespace, o.sandbox_id) for o in found] == [("sb-gone", "2"), ("sb-gone-db", "2")]


@pytest.mark.django_db
def test_time_left_is_the_nearer_of_expiry_and_idle_timeout(settings: object) -> None:
    now = timezone.now()
    owner = User.objects.create_user("tess")
    sandbox = Sandbox(owner=owner, namespace="sb-x", expires_at=now + timedelta(hours=3), last_activity_at=now)
    idle = timedelta(minutes=settings.SANDBOX_IDLE_MINUTES)  # type: ignore[attr-defined]
    assert inventory.time_left(sandbox, now) == min(idle, timedelta(hours=3))
    sandbox.expires_at = now - timedelta(minutes=1)
    assert inventory.time_left(sandbox, now) == timedelta(0)
    assert inventory.time_left(Sandbox(namespace="sb-pool"), now) is None  # the warm pool's


@pytest.mark.django_db
def test_the_audit_log_is_searched_by_user_class_text_outcome_and_time() -> None:
    now = timezone.now()
    alice, bob = User.objects.create_user("alice"), User.objects.create_user("bob")
    classroom = Classroom.objects.create(name="Morning", starts_at=now, ends_at=now + timedelta(hours=1))
    Member.objects.create(classroom=classroom, user=alice, role=MemberRole.STUDENT)

    def line(user: User, text: str, outcome: str, minutes_ago: int) -> CommandAudit:
        return CommandAudit.objects.create(
            user=user, line=text, outcome=outcome, started_at=now - timedelta(minutes=minutes_ago)
        )

    a1 = line(alice, "kubectl get pods", "ran", 30)
    a2 = line(alice, "kubectl delete ns kube-system", "denied", 20)
    b1 = line(bob, "kubectl get pods -A", "denied", 10)
    search = actions.search_audit
    assert search(actions.AuditQuery()) == [b1, a2, a1]  # newest first
    assert search(actions.AuditQuery(user="ALI")) == [a2, a1]
    assert search(actions.AuditQuery(classroom_id=classroom.pk)) == [a2, a1]
    assert search(actions.AuditQuery(text="GET PODS")) == [b1, a1]
    assert search(actions.AuditQuery(outcome="denied")) == [b1, a2]
    assert search(actions.AuditQuery(since=now - timedelta(minutes=25), until=now - timedelta(minutes=15))) == [a2]
    assert search(actions.AuditQuery(), limit=1) == [b1]


@pytest.mark.django_db
def test_the_forms_refuse_what_cannot_be_done() -> None:
    assert not BulkForm({"action": "extend", "hours": "2"}).is_valid()  # no target
    assert not BulkForm({"action": "extend", "hours": "999", "sandboxes": []}).is_valid()
    assert not BulkForm({"action": "explode", "hours": "1"}).is_valid()
    sandbox = Sandbox.objects.create(namespace="sb-form", state=State.READY)
    assert BulkForm({"action": "delete", "sandboxes": [sandbox.pk]}).is_valid()
    ended = Sandbox.objects.create(namespace="sb-ended", state=State.DELETED)
    assert not BulkForm({"action": "delete", "sandboxes": [ended.pk]}).is_valid()  # not live
    assert not AuditForm({"since": "2026-01-02T10:00", "until": "2026-01-01T10:00"}).is_valid()
    assert not AuditForm({"since": "yesterday"}).is_valid()
    assert AuditForm({"user": "al", "outcome": "ran", "since": "2026-01-01T10:00"}).is_valid()


@pytest.mark.django_db
def test_a_bulk_action_chooses_a_classs_students_live_sandboxes_once(django_capture_on_commit_callbacks: Any) -> None:
    now = timezone.now()
    classroom = Classroom.objects.create(name="C", starts_at=now, ends_at=now + timedelta(hours=1))
    student, helper = User.objects.create_user("stu"), User.objects.create_user("helper")
    Member.objects.create(classroom=classroom, user=student, role=MemberRole.STUDENT)
    Member.objects.create(classroom=classroom, user=helper, role=MemberRole.ASSISTANT)
    mine = Sandbox.objects.create(owner=student, namespace="sb-1", state=State.READY)
    Sandbox.objects.create(owner=helper, namespace="sb-2", state=State.READY)  # staff, not a student
    Sandbox.objects.create(namespace="sb-pool", state=State.READY)  # the warm pool's
    chosen = actions.targets(classroom_id=classroom.pk, sandbox_ids=[mine.pk])
    assert chosen == [mine]
    with django_capture_on_commit_callbacks():
        report = actions.run_bulk(actions.Bulk.DELETE, chosen)
        again = actions.run_bulk(actions.Bulk.DELETE, chosen)
    assert (report.done, again.skipped) == (["sb-1"], ["sb-1"])  # a second click does nothing


@pytest.mark.django_db
def test_the_navigation_links_each_role_to_its_pages(
    client: Any, student: User, instructor: User, admin_user: User
) -> None:
    expected = {student: (False, False), instructor: (True, False), admin_user: (True, True)}
    for user, (preview, platform) in expected.items():
        client.force_login(user)
        page = client.get("/lessons/").content.decode()
        assert ('href="/lessons/preview/"' in page) is preview, user
        assert ('href="/platform/"' in page) is platform, user


@pytest.mark.django_db
def test_without_the_cluster_the_page_still_lists_the_rows_and_says_why(
    client: Any, admin_user: User, settings: Any, tmp_path: Any
) -> None:
    settings.CLUSTER_CHECKER_KUBECONFIG = tmp_path / "no-such.kubeconfig"
    owner = User.objects.create_user("olga")
    Sandbox.objects.create(owner=owner, namespace="sb-away", state=State.READY)
    client.force_login(admin_user)
    response = client.get("/platform/")
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="cluster-error"' in page
    assert "no kubeconfig at" in page
    assert '<tr data-sandbox="sb-away">' in page
    # Without the cluster's answer, a row is not called "namespace missing".
    assert "namespace missing" not in page
