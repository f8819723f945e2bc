"""A student's Pod printing as fast as it can must not fill the node's disk, and another student's
Pod keeps running. Two guards: the kubelet rotates every container's log (5Mi, 2 files, checked
every 3 s), and the LimitRange gives every container an ephemeral-storage limit (its log and its
writable layer count) past which the kubelet evicts the Pod (checked every 10 s). Which guard
stops a flood first depends on how fast the node can write; the test asserts the bound both give.
The figures are printed; the README keeps them."""

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


FLOOD_SECONDS = 60
# The kubelet's eviction manager samples usage on this fixed beat (not configurable).
EVICTION_CHECK_SECONDS = 10


def log_files(namespace: str, name: str) -> dict[str, int]:
    """Each file of the Pod's log folder (current and rotated) and its size now."""
    logs = Path(settings.CLUSTER_ADMIN_KUBECONFIG).parent / "node" / "pod-logs"
    sizes: dict[str, int] = {}
    for folder in logs.glob(f"{namespace}_{name}_*"):
        for file in folder.rglob("*"):
            with contextlib.suppress(FileNotFoundError):  # rotated away while we looked
                if file.is_file():
                    sizes[str(file.relative_to(folder))] = file.stat().st_size
    return sizes


def test_a_pod_flooding_its_log_cannot_fill_the_disk_and_another_students_pod_runs_on(
    make_sandbox: MakeSandbox,
) -> None:
    """The Pod writes far more than its limit, yet its log folder never holds more than the limit
    plus what it writes between two eviction checks: a fast node evicts it, a slow one rotates
    its log faster than it grows (CI once flooded for 180 s without an eviction)."""
    flooder, flooder_config = make_sandbox()
    other, other_config = make_sandbox()
    run_kubectl(other_config, "apply", "-n", other.namespace, "-f", "-", input=pod("calm", ["sleep", "600"]))
    run_kubectl(other_config, "wait", "--for=condition=Ready", "pod/calm", "-n", other.namespace, "--timeout=90s")

    run_kubectl(flooder_config, "apply", "-n", flooder.namespace, "-f", "-", input=pod("flood", ["yes", LINE]))
    spec = json.loads(run_kubectl(flooder_config, "get", "pod", "flood", "-n", flooder.namespace, "-o", "json").stdout)[
        "spec"
    ]
    limit = int(parse_quantity(spec["containers"][0]["resources"]["limits"]["ephemeral-storage"]))
    assert limit == 256 * 2**20
    run_kubectl(flooder_config, "wait", "--for=condition=Ready", "pod/flood", "-n", flooder.namespace, "--timeout=90s")

    started = time.monotonic()
    peak = 0
    # Every file the log folder held, at the largest size seen: their sum is at least what the
    # Pod wrote (a rotated file no longer grows and lives until the next rotation, 3 s or more).
    largest: dict[str, int] = {}
    status: dict[str, Any] = {}
    while time.monotonic() - started < FLOOD_SECONDS:
        now = log_files(flooder.namespace, "flood")
        peak = max(peak, sum(now.values()))
        for name, size in now.items():
            largest[name] = max(size, largest.get(name, 0))
        status = pod_status(flooder_config, flooder.namespace, "flood")
        if status.get("reason") == "Evicted":
            break
        time.sleep(0.2)
    took = time.monotonic() - started
    written = sum(largest.values())
    evicted = status.get("reason") == "Evicted"
    print(
        f"\nin {took:.1f}s the Pod wrote at least {written / 2**20:.0f} MiB ({written / 2**20 / took:.0f} MiB/s)"
        f" in {len(largest)} log files; its log folder peaked at {peak / 2**20:.0f} MiB;"
        f" {'evicted: ' + status.get('message', '') if evicted else 'not evicted: rotation alone held it'}"
    )
    assert written > limit, "the flood must write more than the limit, or the test proves nothing"
    assert peak <= limit + written / took * EVICTION_CHECK_SECONDS
    if evicted:
        assert status["phase"] == "Failed"
        assert "ephemeral" in status.get("message", "").lower()
    else:
        assert status.get("phase") == "Running", status

    calm = pod_status(other_config, other.namespace, "calm")
    assert calm["phase"] == "Running"
    assert not calm["containerStatuses"][0]["restartCount"]


def test_a_pod_filling_its_own_filesystem_is_evicted(make_sandbox: MakeSandbox) -> None:
    """The limit counts the container's writable layer too: writing past it gets the Pod evicted."""
    sandbox, config = make_sandbox()
    fill = "dd if=/dev/zero of=/tmp/fill bs=1M count=320 && sleep 600"
    run_kubectl(config, "apply", "-n", sandbox.namespace, "-f", "-", input=pod("filler", ["sh", "-c", fill]))
    run_kubectl(config, "wait", "--for=condition=Ready", "pod/filler", "-n", sandbox.namespace, "--timeout=90s")

    took = wait_for(
        lambda: pod_status(config, sandbox.namespace, "filler").get("reason") == "Evicted",
        120,
        "the Pod that wrote 320 MiB to its filesystem to be evicted",
    )
    status = pod_status(config, sandbox.namespace, "filler")
    print(f"\nevicted {took:.1f}s after it started: {status.get('message')}")
    assert status["phase"] == "Failed"
    assert "ephemeral" in status.get("message", "").lower()
