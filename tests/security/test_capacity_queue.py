"""A cap on live sandboxes for the whole platform, with a line: a full class answers HTTP 429
with Retry-After and "you are number N in line", places are stable, a student can leave, and
a freed sandbox goes to the first in line. Real provisioning on the real cluster (tasks run
in-process), real PostgreSQL."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.utils import timezone

from sandbox import admission, pool, provisioning, sweep, tasks
from sandbox.models import LIVE_STATES, QueuedStart, Sandbox, State
from tests.cluster.conftest import Kubectl

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]

ZH: dict[str, Any] = {"HTTP_ACCEPT_LANGUAGE": "zh-hans"}


@pytest.fixture
def two_places(settings: Any) -> None:
    settings.SANDBOX_MAX_LIVE = 2
    settings.SANDBOX_POOL_SIZE = 0


def student(name: str) -> Client:
    client = Client()
    client.force_login(User.objects.create_user(name))
    return client


def status(client: Client) -> dict[str, Any]:
    data: dict[str, Any] = client.get("/sandbox/status").json()
    return data


def in_line(response: Any, position: int) -> None:
    assert response.status_code == 429
    assert response["Retry-After"] == "5"
    body = response.json()
    assert body["state"] == "queued"
    assert body["position"] == position


def owned_live() -> int:
    return Sandbox.objects.filter(owner__isnull=False, state__in=LIVE_STATES).count()


@pytest.mark.usefixtures("two_places")
def test_a_full_class_puts_students_in_line_and_the_first_gets_the_freed_place(kubectl: Kubectl) -> None:
    ana, ben, cid, dora, eve = (student(name) for name in ("ana", "ben", "cid", "dora", "eve"))
    for client in (ana, ben):
        assert client.post("/sandbox/start").status_code in (200, 202)
        assert status(client)["state"] == "ready"

    full = cid.post("/sandbox/start")
    in_line(full, 1)
    assert full.json()["message"] == "The class is full — you are number 1 in line."
    full_zh = dora.post("/sandbox/start", **ZH)
    in_line(full_zh, 2)
    assert full_zh.json()["message"] == "班级已满——你在队列中排第 2 位。"
    in_line(eve.post("/sandbox/start"), 3)

    # Asking again keeps the place; so does the page's status poll.
    in_line(cid.post("/sandbox/start"), 1)
    assert status(cid) == {
        "state": "queued",
        "position": 1,
        "message": "The class is full — you are number 1 in line.",
        "retry_after": 5,
    }
    assert status(eve)["position"] == 3
    # Leaving the line moves everyone behind up.
    assert dora.post("/sandbox/queue/leave").json() == {"state": "none"}
    assert status(dora) == {"state": "none"}
    assert status(eve)["position"] == 2
    assert owned_live() == 2  # nobody in line holds a namespace

    # Ana's sandbox is removed: the first in line gets it as soon as the removal finishes.
    ana_sandbox = Sandbox.objects.get(owner__username="ana", state=State.READY)
    tasks.destroy.delay(ana_sandbox.pk, State.DELETED)
    cid_status = status(cid)
    assert cid_status["state"] == "ready"
    assert kubectl("get", "namespace", cid_status["namespace"], "-o", "name").stdout.strip()
    assert status(eve)["position"] == 1

    # Ben's expires; the sweep removes it and Eve's turn comes.
    Sandbox.objects.filter(owner__username="ben").update(expires_at=timezone.now() - timedelta(minutes=1))
    sweep.sweep()
    assert status(eve)["state"] == "ready"
    assert owned_live() == 2
    assert not QueuedStart.objects.exists()


def test_a_warm_pool_sandbox_does_not_take_a_students_place(settings: Any) -> None:
    settings.SANDBOX_MAX_LIVE = 1
    settings.SANDBOX_POOL_SIZE = 1
    pool.refill_pool()
    pooled = Sandbox.objects.get(owner__isnull=True)
    assert pooled.state == State.READY
    ana, ben = student("ana"), student("ben")
    # The pool's sandbox has no owner: it does not count, and the first student gets it.
    assert ana.post("/sandbox/start").status_code == 200
    assert status(ana)["namespace"] == pooled.namespace
    in_line(ben.post("/sandbox/start"), 1)
    refilled = Sandbox.objects.get(owner__isnull=True, state=State.READY)  # the pool refilled after the claim
    tasks.destroy.delay(pooled.pk, State.DELETED)
    assert status(ben)["namespace"] == refilled.namespace  # claimed from the pool at once
    assert status(ben)["state"] == "ready"


@pytest.mark.usefixtures("two_places")
def test_a_student_whose_page_stopped_asking_loses_their_place(settings: Any) -> None:
    for name in ("ana", "ben"):
        student(name).post("/sandbox/start")
    cid, dora = student("cid"), student("dora")
    in_line(cid.post("/sandbox/start"), 1)
    in_line(dora.post("/sandbox/start"), 2)
    gone = timezone.now() - timedelta(seconds=settings.SANDBOX_QUEUE_TIMEOUT_SECONDS + 1)
    QueuedStart.objects.filter(user__username="cid").update(last_seen_at=gone)
    assert status(dora)["position"] == 1
    assert status(cid) == {"state": "none"}


def test_a_student_who_replaces_a_sandbox_for_a_lesson_keeps_their_place(settings: Any) -> None:
    settings.SANDBOX_MAX_LIVE = 1
    settings.SANDBOX_POOL_SIZE = 0
    ana, ben = User.objects.create_user("ana"), User.objects.create_user("ben")
    first = admission.request_start(ana)
    with pytest.raises(admission.StartRefused):
        admission.request_start(ben)
    # What lessons.engine.begin does for a lesson that needs another shape: remove, then ask.
    provisioning.destroy(first.pk)
    second = admission.request_start(ana, extra_namespaces=["db"], replacing=True)
    assert second.pk != first.pk
    assert Sandbox.objects.get(pk=second.pk).state == State.READY
    assert admission.waiting_status(ben) == admission.queued_status(1)
    assert owned_live() == 1


def test_only_one_of_several_simultaneous_requests_gets_the_last_place(settings: Any) -> None:
    settings.SANDBOX_MAX_LIVE = 1
    settings.SANDBOX_POOL_SIZE = 0
    users = [User.objects.create_user(f"racer{number}") for number in range(4)]
    barrier = threading.Barrier(len(users))
    outcomes: dict[str, str] = {}

    def request(user: User) -> None:
        try:
            barrier.wait()
            admission.request_start(user)
            outcomes[user.username] = "started"
        except admission.StartRefused as refusal:
            outcomes[user.username] = f"line {refusal.position}"
        finally:
            connection.close()

    threads = [threading.Thread(target=request, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes.values()) == ["line 1", "line 2", "line 3", "started"]
    assert owned_live() == 1
