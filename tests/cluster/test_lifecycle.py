"""Start, warm pool, extend and the periodic sweep, with a real cluster and database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import override_settings
from django.utils import timezone

from sandbox import lifecycle, manifests, pool, provisioning, sweep, tasks
from sandbox.models import LIVE_STATES, Sandbox, State
from tests.cluster.conftest import Kubectl

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


def test_it_starts_a_new_sandbox_for_a_student_and_returns_it_again(student: User) -> None:
    with override_settings(SANDBOX_POOL_SIZE=0):
        first = lifecycle.start(student)
    first.refresh_from_db()
    assert first.state == State.READY
    assert first.owner == student
    assert first.expires_at is not None
    assert lifecycle.start(student).pk == first.pk


@override_settings(SANDBOX_POOL_SIZE=2)
def test_it_hands_out_a_warm_sandbox_and_refills_the_pool(student: User, kubectl: Kubectl) -> None:
    assert pool.refill_pool() == 2
    warm = list(Sandbox.objects.filter(owner__isnull=True, state=State.READY))
    assert len(warm) == 2

    sandbox = lifecycle.start(student)

    assert sandbox.pk in {s.pk for s in warm}
    assert sandbox.owner == student
    label = kubectl(
        "get", "namespace", sandbox.namespace, "-o", "jsonpath={.metadata.labels.k8s-sandbox\\.io/owner-id}"
    )
    assert label.stdout == str(student.pk)
    # The claim triggered a refill back to two unowned, ready sandboxes.
    assert Sandbox.objects.filter(owner__isnull=True, state=State.READY).count() == 2


@override_settings(SANDBOX_POOL_SIZE=1)
def test_it_never_gives_one_warm_sandbox_to_two_students(db: None) -> None:
    pool.refill_pool()
    alice = User.objects.create_user("alice-pool")
    bob = User.objects.create_user("bob-pool")
    first = lifecycle.claim_from_pool(alice)
    second = lifecycle.claim_from_pool(bob)
    assert first is not None
    assert second is None or second.pk != first.pk


def test_it_extends_the_expiry(student: User) -> None:
    with override_settings(SANDBOX_POOL_SIZE=0):
        sandbox = lifecycle.start(student)
    sandbox.refresh_from_db()
    before = sandbox.expires_at
    assert before is not None
    lifecycle.extend(sandbox, 2)
    sandbox.refresh_from_db()
    assert sandbox.expires_at == before + timedelta(hours=2)


@override_settings(SANDBOX_POOL_SIZE=0, SANDBOX_IDLE_MINUTES=30)
def test_it_expires_idle_and_overdue_sandboxes_and_keeps_active_ones(db: None, kubectl: Kubectl) -> None:
    idle, overdue, active = (User.objects.create_user(name) for name in ("idle-one", "overdue-one", "active-one"))
    sandboxes = {user.username: lifecycle.start(user) for user in (idle, overdue, active)}
    now = timezone.now()
    Sandbox.objects.filter(owner=idle).update(last_activity_at=now - timedelta(minutes=31))
    Sandbox.objects.filter(owner=overdue).update(expires_at=now - timedelta(seconds=1))

    report = sweep.sweep()

    assert set(report.expired) == {sandboxes["idle-one"].namespace, sandboxes["overdue-one"].namespace}
    for name in ("idle-one", "overdue-one"):
        sandbox = Sandbox.objects.get(pk=sandboxes[name].pk)
        assert sandbox.state == State.EXPIRED
        assert sandbox.node_port is None
    assert Sandbox.objects.get(pk=sandboxes["active-one"].pk).state == State.READY


@override_settings(SANDBOX_POOL_SIZE=0)
def test_it_retries_provisioning_that_lost_its_worker(student: User) -> None:
    sandbox = lifecycle.create_sandbox(student, enqueue=False)
    # The worker took the task and died: the row says provisioning, and nobody works on it.
    Sandbox.objects.filter(pk=sandbox.pk).update(state=State.PROVISIONING)
    Sandbox.objects.filter(pk=sandbox.pk).update(updated_at=timezone.now() - sweep.STUCK_AFTER * 2)

    report = sweep.sweep()

    assert sandbox.namespace in report.retried
    sandbox.refresh_from_db()
    assert sandbox.state == State.READY


@override_settings(SANDBOX_POOL_SIZE=0)
def test_it_removes_failed_sandboxes_after_a_while(student: User) -> None:
    sandbox = lifecycle.create_sandbox(student, enqueue=False)
    Sandbox.objects.filter(pk=sandbox.pk).update(state=State.FAILED, last_error="boom")
    Sandbox.objects.filter(pk=sandbox.pk).update(updated_at=timezone.now() - sweep.FAILED_KEPT_FOR * 2)

    sweep.sweep()

    sandbox.refresh_from_db()
    assert sandbox.state == State.DELETED


def test_it_runs_the_destroy_task_once_even_when_delivered_twice(student: User) -> None:
    with override_settings(SANDBOX_POOL_SIZE=0):
        sandbox = lifecycle.start(student)
    assert tasks.destroy.delay(sandbox.pk, State.DELETED).get() is True
    assert tasks.destroy.delay(sandbox.pk, State.DELETED).get() is False
    assert Sandbox.objects.get(pk=sandbox.pk).state == State.DELETED


def test_it_refuses_unknown_sizes_and_bad_extra_namespace_names(student: User) -> None:
    with pytest.raises(ValueError, match="unknown size"):
        lifecycle.create_sandbox(student, size="huge", enqueue=False)
    with pytest.raises(ValueError, match="not a valid namespace name"):
        lifecycle.create_sandbox(student, extra_namespaces=["../x"], enqueue=False)
    assert not Sandbox.objects.filter(owner=student).exists()


def test_it_labels_namespaces_with_the_expiry(student: User, kubectl: Kubectl) -> None:
    with override_settings(SANDBOX_POOL_SIZE=0):
        sandbox = lifecycle.start(student)
    sandbox.refresh_from_db()
    annotation = manifests.ANNOTATION_EXPIRES.replace(".", "\\.")
    value = kubectl("get", "namespace", sandbox.namespace, "-o", f"jsonpath={{.metadata.annotations.{annotation}}}")
    assert sandbox.expires_at is not None
    assert value.stdout == sandbox.expires_at.isoformat()


@override_settings(SANDBOX_POOL_SIZE=0)
def test_it_starts_a_failed_sandbox_again_when_the_student_presses_start(student: User) -> None:
    sandbox = lifecycle.create_sandbox(student, enqueue=False)
    Sandbox.objects.filter(pk=sandbox.pk).update(state=State.FAILED, last_error="The cluster did not answer.")

    again = lifecycle.start(student)

    assert again.pk == sandbox.pk
    again.refresh_from_db()
    assert again.state == State.READY
    assert again.last_error == ""


@override_settings(SANDBOX_POOL_SIZE=0)
def test_it_finishes_a_destroy_that_ran_out_of_retries(student: User, kubectl: Kubectl) -> None:
    sandbox = lifecycle.start(student)
    # The worker gave up while the API server was away: the row is left in deleting.
    Sandbox.objects.filter(pk=sandbox.pk).update(state=State.DELETING)
    Sandbox.objects.filter(pk=sandbox.pk).update(updated_at=timezone.now() - sweep.STUCK_AFTER * 2)

    assert sandbox.namespace in sweep.sweep().retried

    sandbox.refresh_from_db()
    assert sandbox.state == State.DELETED
    assert sandbox.node_port is None
    assert lifecycle.live_sandbox(student) is None


@override_settings(SANDBOX_POOL_SIZE=0, SANDBOX_IDLE_MINUTES=30)
def test_it_keeps_a_sandbox_whose_student_came_back_before_the_expiry_ran(student: User) -> None:
    sandbox = lifecycle.start(student)
    Sandbox.objects.filter(pk=sandbox.pk).update(last_activity_at=timezone.now() - timedelta(minutes=31))
    lifecycle.touch(sandbox)  # the student typed a command before the worker got to it

    assert provisioning.destroy(sandbox.pk, State.EXPIRED) is False
    assert Sandbox.objects.get(pk=sandbox.pk).state == State.READY


def test_it_trims_a_pool_that_grew_too_large(db: None) -> None:
    with override_settings(SANDBOX_POOL_SIZE=3):
        pool.refill_pool()
    with override_settings(SANDBOX_POOL_SIZE=1):
        pool.refill_pool()
    assert Sandbox.objects.filter(owner__isnull=True, state__in=LIVE_STATES).count() == 1


@override_settings(SANDBOX_POOL_SIZE=3)
def test_it_gives_concurrent_claims_different_sandboxes(db: None) -> None:
    import threading

    from django.db import connection

    pool.refill_pool()
    students = [User.objects.create_user(f"racer-{i}") for i in range(3)]
    claimed: dict[str, int | None] = {}
    barrier = threading.Barrier(len(students))

    def claim(user: User) -> None:
        barrier.wait()
        try:
            with override_settings(SANDBOX_POOL_SIZE=0):
                sandbox = lifecycle.claim_from_pool(user)
            claimed[user.username] = sandbox.pk if sandbox else None
        finally:
            connection.close()  # each thread has its own database connection

    threads = [threading.Thread(target=claim, args=(user,)) for user in students]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    got = [pk for pk in claimed.values() if pk is not None]
    assert len(got) == len(set(got))  # never the same sandbox twice
    assert got  # and at least one student got one
    for user in students:
        owned = Sandbox.objects.filter(owner=user, state__in=LIVE_STATES).count()
        assert owned == (1 if claimed[user.username] else 0)
