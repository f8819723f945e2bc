"""A student's Pod printing as fast as it can must not fill the node's disk: the LimitRange gives
every container an ephemeral-storage limit (its log counts towards it) and the kubelet evicts the
Pod once over it, while another student's Pod keeps running. The figures (time to eviction, the
log folder's peak) are printed; the README keeps them."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from kubernetes.utils.quantity import parse_quantity

from sandbox.manifests import PRESETS
from tests.cluster.conftest import run_kubectl, wait_for

pytestmark = [pytest.mark.usefixtures("real_node"), pytest.mark.django_db]

MakeSandbox = Callable[..., tuple[Any, str]]
BUSYBOX = "busybox:1.35"
LINE = "x" * 99


def pod(name: str, command: list[str]) -> str:
    # No resources: the sandbox's LimitRange fills them in, as for the article's Pods.
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 1,
                "containers": [{"name": "main", "image": BUSYBOX, "command": command}],
            },
        }
    )


def pod_status(config: str, namespace: str, name: str) -> dict[str, Any]:
    got = run_kubectl(config, "get", "pod", name, "-n", namespace, "-o", "json", check=False)
    if got.returncode != 0:
        return {}
    status: dict[str, Any] = json.loads(got.stdout).get("status", {})
    return status


def log_bytes(namespace: str, name: str) -> int:
    logs = Path(settings.CLUSTER_ADMIN_KUBECONFIG).parent / "node" / "pod-logs"
    total = 0
    for folder in logs.glob(f"{namespace}_{name}_*"):
        for file in folder.rglob("*"):
            with contextlib.suppress(FileNotFoundError):  # rotated away while we counted
                total += file.stat().st_size if file.is_file() else 0
    return total


def test_the_sandbox_limits_disk_per_container_and_in_all(make_sandbox: MakeSandbox) -> None:
    sandbox, config = make_sandbox()
    preset = PRESETS["small"]
    too_big = json.loads(pod("big", ["sleep", "60"]))
    too_big["spec"]["containers"][0]["resources"] = {"limits": {"ephemeral-storage": "2Gi"}}
    refused = run_kubectl(config, "apply", "-n", sandbox.namespace, "-f", "-", input=json.dumps(too_big), check=False)
    assert refused.returncode != 0
    assert "ephemeral-storage" in refused.stderr
    assert preset.max_ephemeral_storage in refused.stderr

    quota = run_kubectl(config, "get", "resourcequota", "-n", sandbox.namespace, "-o", "json")
    hard = json.loads(quota.stdout)["items"][0]["status"]["hard"]
    # The API server writes quantities in its own canonical form (5120Mi comes back as 5Gi).
    wanted = 2 * preset.pods * preset.default_limit_ephemeral_storage_mib * 2**20
    assert parse_quantity(hard["limits.ephemeral-storage"]) == wanted


def test_a_pod_flooding_its_log_is_evicted_and_another_students_pod_runs_on(make_sandbox: MakeSandbox) -> None:
    flooder, flooder_config = make_sandbox()
    other, other_config = make_sandbox()
    run_kubectl(other_config, "apply", "-n", other.namespace, "-f", "-", input=pod("calm", ["sleep", "600"]))
    run_kubectl(other_config, "wait", "--for=condition=Ready", "pod/calm", "-n", other.namespace, "--timeout=90s")

    run_kubectl(flooder_config, "apply", "-n", flooder.namespace, "-f", "-", input=pod("flood", ["yes", LINE]))
    spec = json.loads(run_kubectl(flooder_config, "get", "pod", "flood", "-n", flooder.namespace, "-o", "json").stdout)[
        "spec"
    ]
    assert spec["containers"][0]["resources"]["limits"]["ephemeral-storage"] == "256Mi"
    run_kubectl(flooder_config, "wait", "--for=condition=Ready", "pod/flood", "-n", flooder.namespace, "--timeout=90s")

    started = time.monotonic()
    peak = 0

    def evicted() -> bool:
        nonlocal peak
        peak = max(peak, log_bytes(flooder.namespace, "flood"))
        return pod_status(flooder_config, flooder.namespace, "flood").get("reason") == "Evicted"

    wait_for(evicted, 180, "the flooding Pod to be evicted")
    status = pod_status(flooder_config, flooder.namespace, "flood")
    print(f"\nevicted after {time.monotonic() - started:.1f}s; its log folder peaked at {peak / 2**20:.0f} MiB")
    assert status["phase"] == "Failed"
    assert "ephemeral" in status.get("message", "").lower()

    calm = pod_status(other_config, other.namespace, "calm")
    assert calm["phase"] == "Running"
    assert not calm["containerStatuses"][0]["restartCount"]
