"""The student's sandbox endpoints, without a cluster: what they refuse and what they show."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from sandbox.models import Sandbox, State

pytestmark = pytest.mark.django_db


def test_it_requires_login(client: Client) -> None:
    assert client.get("/sandbox/status").status_code == 302
    assert client.post("/sandbox/start").status_code == 302


def test_it_reports_no_sandbox_yet(client: Client, student: User) -> None:
    client.force_login(student)
    assert client.get("/sandbox/status").json() == {"state": "none"}


def test_it_refuses_start_over_get(client: Client, student: User) -> None:
    client.force_login(student)
    assert client.get("/sandbox/start").status_code == 405


def test_it_shows_only_the_students_own_sandbox_without_secrets(client: Client, student: User) -> None:
    other = User.objects.create_user("bob")
    Sandbox.objects.create(owner=other, namespace="sbx-bob", state=State.READY, node_port=30001)
    mine = Sandbox.objects.create(
        owner=student,
        namespace="sbx-alice",
        state=State.PROVISIONING,
        node_port=30002,
        progress="3/11",
        last_error="The cluster did not answer; retrying (attempt 2 of 6)…",
    )
    client.force_login(student)
    status = client.get("/sandbox/status").json()
    assert status["namespace"] == mine.namespace
    assert status["progress"] == "3/11"
    assert status["notice"].startswith("The cluster did not answer")
    assert status["error"] == ""
    assert "token" not in str(status).lower()


def test_it_refuses_to_reset_a_sandbox_that_is_not_ready(client: Client, student: User) -> None:
    Sandbox.objects.create(owner=student, namespace="sbx-alice", state=State.PROVISIONING, node_port=30002)
    client.force_login(student)
    response = client.post("/sandbox/reset")
    assert response.status_code == 409
    assert "ready" in response.json()["error"]


def test_it_enforces_one_live_sandbox_per_student(student: User) -> None:
    from django.db import IntegrityError, transaction

    Sandbox.objects.create(owner=student, namespace="sbx-one", state=State.READY, node_port=30010)
    with pytest.raises(IntegrityError), transaction.atomic():
        Sandbox.objects.create(owner=student, namespace="sbx-two", state=State.REQUESTED, node_port=30011)
    # An ended sandbox does not count.
    Sandbox.objects.filter(namespace="sbx-one").update(state=State.DELETED)
    Sandbox.objects.create(owner=student, namespace="sbx-three", state=State.REQUESTED, node_port=30012)


def test_it_lets_only_staff_into_the_sandbox_admin(client: Client, student: User, admin_user: User) -> None:
    client.force_login(student)
    assert client.get("/admin/sandbox/sandbox/").status_code == 302
    client.force_login(admin_user)
    Sandbox.objects.create(owner=student, namespace="sbx-listed", state=State.READY, node_port=30020)
    page = client.get("/admin/sandbox/sandbox/")
    assert page.status_code == 200
    assert "sbx-listed" in page.content.decode()
