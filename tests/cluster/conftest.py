"""Fixtures for tests against the real local API server (`make cluster` starts it).

A missing cluster is a failure, not a skip: `make test` always starts one, and a suite that
silently skipped its cluster tests would prove nothing."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from sandbox import k8s
from sandbox.cluster.tools import kubectl as kubectl_binary

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """Seconds until condition() held; the test fails if it did not within `seconds`."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            pytest.fail(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.05)
    return time.monotonic() - started


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/cluster/" in str(item.fspath):
            item.add_marker(pytest.mark.cluster)


@pytest.fixture(scope="session")
def admin_kubeconfig() -> str:
    path = settings.CLUSTER_ADMIN_KUBECONFIG
    if not path.is_file():
        pytest.fail(f"no kubeconfig at {path}: start the cluster with `make cluster`")
    return str(path)


def run_kubectl(
    kubeconfig: str, *args: str, input: str | None = None, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [kubectl_binary(), "--kubeconfig", kubeconfig, *args],
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def kubectl(admin_kubeconfig: str) -> Kubectl:
    """Real kubectl (the version built with the cluster) as the cluster admin."""

    def run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return run_kubectl(admin_kubeconfig, *args, **kwargs)

    return run


def kubectl_json(kubectl: Kubectl, *args: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(kubectl(*args, "-o", "json").stdout)
    return data


def apiserver_ready(timeout: float = 2) -> bool:
    """The local API server answers /readyz with ok."""
    probe = run_kubectl(
        str(settings.CLUSTER_ADMIN_KUBECONFIG),
        f"--request-timeout={timeout}s",
        "get",
        "--raw=/readyz",
        check=False,
        timeout=timeout + 10,
    )
    return probe.returncode == 0 and probe.stdout.strip() == "ok"


@dataclass
class Outage:
    """When the API server was killed, started again and ready again (time.monotonic())."""

    killed_at: float = 0.0
    started_at: float = 0.0
    ready_at: float = 0.0


@contextlib.contextmanager
def apiserver_down(ready_within: float = 120) -> Iterator[Outage]:
    """The local kube-apiserver killed with SIGKILL (a crash) for the block, then started again
    exactly as kwokctl started it (its command line, working folder, environment and log file;
    its pid file updated, so that `make cluster-down` still finds it), and waited for until
    ready. Every client of the cluster notices: keep the outage short, and such tests few."""
    cluster = settings.CLUSTER_ADMIN_KUBECONFIG.parent / "kwok" / "clusters" / "sandbox"
    pid_file = cluster / "pids" / "kube-apiserver.pid"
    pid = int(pid_file.read_text())
    proc = Path(f"/proc/{pid}")
    argv = (proc / "cmdline").read_bytes().rstrip(b"\0").split(b"\0")
    if not argv[0].endswith(b"kube-apiserver"):
        pytest.fail(f"{pid_file} names {argv[0]!r}, not the API server")
    cwd = os.readlink(proc / "cwd")
    env = dict(item.split(b"=", 1) for item in (proc / "environ").read_bytes().split(b"\0") if b"=" in item)
    log_path = os.readlink(proc / "fd" / "2")
    outage = Outage()
    os.kill(pid, signal.SIGKILL)
    while proc.exists() and "zombie" not in (proc / "status").read_text(errors="replace"):
        time.sleep(0.01)
    outage.killed_at = time.monotonic()
    try:
        yield outage
    finally:
        with open(log_path, "ab") as log:
            server = subprocess.Popen(
                argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        pid_file.write_text(str(server.pid))
        outage.started_at = time.monotonic()
        deadline = outage.started_at + ready_within
        while not apiserver_ready():
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the API server did not come back (exit {server.poll()}); see {log_path}")
            time.sleep(0.1)
        outage.ready_at = time.monotonic()


@pytest.fixture(scope="module")
def real_node(admin_kubeconfig: str) -> None:
    """The real worker node is there and Ready: `make test` requires it (LOCAL_REAL_NODE=require),
    so a cluster without it fails the tests that need it instead of skipping them."""
    from sandbox.cluster.nodeconfig import NODE_NAME

    node = run_kubectl(admin_kubeconfig, "get", "node", NODE_NAME, "-o", "json", check=False)
    if node.returncode != 0:
        pytest.fail(f"node {NODE_NAME} is missing: run `make cluster` on a machine that can run it\n{node.stderr}")
    conditions = json.loads(node.stdout)["status"].get("conditions", [])
    if not any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
        pytest.fail(f"node {NODE_NAME} is not Ready: run `make cluster`")


@pytest.fixture
def namespace(kubectl: Kubectl) -> Iterator[str]:
    """A fresh namespace per test, removed afterwards (without waiting for finalizers)."""
    name = f"test-{uuid.uuid4().hex[:10]}"
    kubectl("create", "namespace", name)
    # The ServiceAccount controller creates `default` asynchronously; pods need it to exist.
    kubectl("wait", "--for=create", "serviceaccount/default", "-n", name, "--timeout=30s")
    yield name
    kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(autouse=True)
def _fresh_client() -> Iterator[None]:
    yield
    k8s.reset_clients()


@pytest.fixture
def make_sandbox(db: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., tuple[Any, str]]]:
    """Provision a real sandbox for a new student; returns (sandbox, path of the student's
    kubeconfig). Every sandbox made is destroyed afterwards."""
    from django.contrib.auth.models import User

    from sandbox import credentials, lifecycle, provisioning

    made: list[int] = []

    def make(username: str | None = None, **options: Any) -> tuple[Any, str]:
        owner = User.objects.create_user(username or f"student-{uuid.uuid4().hex[:8]}")
        sandbox = lifecycle.create_sandbox(owner, enqueue=False, **options)
        made.append(sandbox.pk)
        assert provisioning.provision(sandbox.pk)
        sandbox.refresh_from_db()
        path = tmp_path_factory.mktemp("kubeconfig") / f"{owner.username}.yaml"
        path.write_text(credentials.student_kubeconfig(sandbox))
        return sandbox, str(path)

    yield make
    for pk in made:
        provisioning.destroy(pk)


@pytest.fixture
def eager_celery() -> Iterator[None]:
    """Run enqueued tasks in-process, and destroy every sandbox left live afterwards: for tests
    about what the functions do rather than about the broker (test_faults uses real workers)."""
    from config.celery import app
    from sandbox import provisioning
    from sandbox.models import LIVE_STATES, Sandbox

    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    yield
    app.conf.task_always_eager = False
    for sandbox in Sandbox.objects.filter(state__in=LIVE_STATES):
        provisioning.destroy(sandbox.pk)
