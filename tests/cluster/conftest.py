"""Fixtures for tests against the real local API server (`make cluster` starts it).

A missing cluster is a failure, not a skip: `make test` always starts one, and a suite that
silently skipped its cluster tests would prove nothing."""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
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
