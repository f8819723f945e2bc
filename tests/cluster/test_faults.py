"""Faults with real processes: a real Celery worker (Redis broker) provisions sandboxes while
the API server is frozen, while the worker itself is killed mid-way (also during a reset and a
destroy), and while PostgreSQL restarts."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone

from sandbox import lifecycle, provisioning, sweep
from sandbox.models import LIVE_STATES, Sandbox, State
from tests.cluster.conftest import Kubectl, wait_for
from tests.processes import start_celery_worker

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    return f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"


@pytest.fixture
def start_worker() -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Start real Celery workers on the test database and the test Redis."""
    if connection.vendor != "postgresql":
        pytest.fail("worker fault tests need the PostgreSQL test database (run them through `make test`)")
    workers: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "DATABASE_URL": database_url(),
            "CLUSTER_REQUEST_TIMEOUT": "2",
            "CLUSTER_KUBECONFIG": str(settings.CLUSTER_KUBECONFIG),
        }
        worker = start_celery_worker(env, name=f"fault{len(workers)}")
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            worker.kill()
        worker.wait()
    for sandbox in Sandbox.objects.filter(state__in=LIVE_STATES):
        provisioning.destroy(sandbox.pk)


@contextmanager
def frozen_apiserver() -> Iterator[None]:
    """SIGSTOP the local kube-apiserver: connections hang, as with a dead or partitioned server."""
    pid_file = (
        settings.CLUSTER_ADMIN_KUBECONFIG.parent / "kwok" / "clusters" / "sandbox" / "pids" / "kube-apiserver.pid"
    )
    pid = int(pid_file.read_text())
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def state_of(sandbox: Sandbox) -> Sandbox:
    return Sandbox.objects.get(pk=sandbox.pk)


def test_it_shows_a_clear_error_while_the_api_server_is_down_and_recovers(
    start_worker: Callable[[], subprocess.Popen[bytes]], kubectl: Kubectl
) -> None:
    start_worker()
    owner = User.objects.create_user("patient")
    with frozen_apiserver():
        sandbox = lifecycle.create_sandbox(owner)  # enqueued at once: no surrounding transaction
        wait_for(lambda: "retrying" in state_of(sandbox).last_error, 30, "the retry message")
        row = state_of(sandbox)
        assert row.state == State.PROVISIONING
        assert row.last_error.startswith("The cluster did not answer")
        assert row.as_status()["error"] == ""  # still retrying: the page shows progress, not failure
    wait_for(lambda: state_of(sandbox).state == State.READY, 60, "the sandbox to become ready")
    row = state_of(sandbox)
    assert row.last_error == ""
    assert row.attempts >= 2
    kubectl("get", "namespace", row.namespace)


def test_it_converges_after_the_worker_is_killed_mid_way(
    start_worker: Callable[[], subprocess.Popen[bytes]], kubectl: Kubectl
) -> None:
    worker = start_worker()
    owner = User.objects.create_user("unlucky")
    sandbox = lifecycle.create_sandbox(owner, enqueue=False)
    from sandbox import tasks

    # Freeze the API server as soon as the worker has started creating objects, so the kill
    # lands in the middle of provisioning and not before or after it.
    tasks.provision.delay(sandbox.pk)
    wait_for(lambda: state_of(sandbox).progress not in ("", "1/0"), 30, "provisioning to start")
    with frozen_apiserver():
        worker.kill()
        worker.wait()
    row = state_of(sandbox)
    assert row.state == State.PROVISIONING  # half-made, and nobody is working on it

    # The sweep finds rows stuck in provisioning and enqueues them again for a new worker.
    Sandbox.objects.filter(pk=sandbox.pk).update(updated_at=timezone.now() - sweep.STUCK_AFTER * 2)
    start_worker()
    assert sandbox.namespace in sweep.sweep().retried
    wait_for(lambda: state_of(sandbox).state == State.READY, 60, "the sandbox to become ready")
    names = kubectl("get", "secrets,rolebindings", "-n", row.namespace, "-o", "name").stdout.split()
    assert "secret/sandbox-token-anchor" in names
    assert names.count("rolebinding.rbac.authorization.k8s.io/sandbox-student") == 1


@pytest.mark.parametrize("job", ["reset", "destroy"])
def test_it_converges_after_the_worker_is_killed_during_a_reset_or_destroy(
    job: str, start_worker: Callable[[], subprocess.Popen[bytes]], kubectl: Kubectl
) -> None:
    worker = start_worker()
    sandbox = lifecycle.create_sandbox(User.objects.create_user(f"unlucky-{job}"))
    wait_for(lambda: state_of(sandbox).state == State.READY, 60, "the sandbox to become ready")
    row = state_of(sandbox)
    kubectl("create", "configmap", "leftover", "-n", row.namespace, "--from-literal=a=b")

    # The worker takes the job and waits on the frozen API server; it dies there.
    with frozen_apiserver():
        if job == "reset":
            assert lifecycle.request_reset(row)
        else:
            assert lifecycle.retire(row)
        time.sleep(1.5)
        worker.kill()
        worker.wait()
    assert state_of(sandbox).state == (State.RESETTING if job == "reset" else State.DELETING)

    # The sweep finds the row stuck and enqueues the job again for a new worker.
    Sandbox.objects.filter(pk=sandbox.pk).update(updated_at=timezone.now() - sweep.STUCK_AFTER * 2)
    start_worker()
    assert row.namespace in sweep.sweep().retried
    if job == "reset":
        wait_for(lambda: state_of(sandbox).state == State.READY, 90, "the reset to finish")
        gone = kubectl("get", "configmap", "leftover", "-n", row.namespace, check=False)
        assert gone.returncode != 0
        assert "NotFound" in gone.stderr
        kubectl("get", "secret", "sandbox-token-anchor", "-n", row.namespace)  # the sandbox itself stays
    else:
        wait_for(lambda: state_of(sandbox).state == State.DELETED, 90, "the sandbox to be removed")
        left = kubectl("get", "namespace", row.namespace, "-o", "jsonpath={.status.phase}", check=False)
        assert left.returncode != 0 or left.stdout == "Terminating"


def restart_postgresql() -> float:
    """Stop the suite's PostgreSQL (fast: every connection is cut) and start it again; the
    seconds it was away."""
    env = {**os.environ, "PG_PORT": str(connection.settings_dict["PORT"])}
    script = str(ROOT / "docker" / "services" / "postgres.sh")
    started = time.monotonic()
    subprocess.run(["bash", script, "stop"], env=env, check=True, capture_output=True)
    subprocess.run(["bash", script, "start"], env=env, check=True, capture_output=True)
    connection.close()  # ours was cut too; the next query opens a new one
    return time.monotonic() - started


def test_it_converges_after_postgresql_restarts_mid_provision(
    start_worker: Callable[[], subprocess.Popen[bytes]], kubectl: Kubectl
) -> None:
    start_worker()
    sandbox = lifecycle.create_sandbox(User.objects.create_user("interrupted"), enqueue=False)
    from sandbox import tasks

    tasks.provision.delay(sandbox.pk)
    wait_for(lambda: state_of(sandbox).progress not in ("", "1/0"), 30, "provisioning to start")
    # The worker waits on the frozen API server while its database goes away under it; its next
    # write meets a cut connection.
    with frozen_apiserver():
        away = restart_postgresql()
    started = time.monotonic()
    wait_for(lambda: state_of(sandbox).state == State.READY, 120, "the sandbox to become ready")
    print(f"  PostgreSQL away {away:.1f}s; the sandbox ready {time.monotonic() - started:.1f}s after it came back")
    row = state_of(sandbox)
    names = kubectl("get", "secrets,rolebindings", "-n", row.namespace, "-o", "name").stdout.split()
    assert "secret/sandbox-token-anchor" in names
    assert names.count("rolebinding.rbac.authorization.k8s.io/sandbox-student") == 1
