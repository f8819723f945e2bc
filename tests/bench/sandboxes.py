"""Sandbox provisioning benchmark: prints figures, asserts nothing.

    make bench            (starts what it needs, then runs this script)

Measures, on whatever cluster CLUSTER_KUBECONFIG points at, with real Celery workers on Redis:
cold provisioning latency (request -> ready, one at a time), warm-pool claim latency,
throughput for a burst of sandboxes with one and with two workers, and API requests per sandbox.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from sandbox import k8s, lifecycle, pool, provisioning  # noqa: E402
from sandbox.models import LIVE_STATES, Sandbox, State  # noqa: E402
from tests.processes import start_celery_worker, stop  # noqa: E402


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary(name: str, seconds: list[float]) -> None:
    ms = [s * 1000 for s in seconds]
    print(
        f"{name:<34} n={len(ms):<3} p50={statistics.median(ms):7.1f} ms  p95={percentile(ms, 95):7.1f} ms  "
        f"max={max(ms):7.1f} ms"
    )


def wait_ready(ids: list[int], timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while Sandbox.objects.filter(pk__in=ids).exclude(state=State.READY).exists():
        failed = Sandbox.objects.filter(pk__in=ids, state=State.FAILED).first()
        if failed:
            raise SystemExit(f"sandbox {failed.namespace} failed: {failed.last_error}")
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for sandboxes to become ready")
        time.sleep(0.005)


def start_workers(count: int) -> list[subprocess.Popen[bytes]]:
    workers = [start_celery_worker(os.environ, name=f"bench{i}") for i in range(count)]
    time.sleep(3)  # let them connect to the broker before the clock starts
    return workers


def users(prefix: str, count: int) -> list[User]:
    return [User.objects.create_user(f"{prefix}-{i}-{time.monotonic_ns()}") for i in range(count)]


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def cleanup() -> None:
    for sandbox in Sandbox.objects.filter(state__in=LIVE_STATES):
        provisioning.destroy(sandbox.pk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cold", type=int, default=20, help="sandboxes for the cold latency figure")
    parser.add_argument("--warm", type=int, default=20, help="claims for the warm-pool figure")
    parser.add_argument("--burst", type=int, default=50, help="sandboxes for the throughput figure")
    args = parser.parse_args()

    call_command("migrate", verbosity=0)
    cleanup()
    print(f"cluster: {k8s.discovery_version()['gitVersion']} via {settings.CLUSTER_KUBECONFIG}")

    # API requests per sandbox, counted in this process around plain provision() calls.
    with override_settings(SANDBOX_POOL_SIZE=0):
        owners = users("api", 5)
        before = k8s.request_count()
        for owner in owners:
            provisioning.provision(lifecycle.create_sandbox(owner, enqueue=False).pk)
        per_sandbox = (k8s.request_count() - before) / len(owners)
        before = k8s.request_count()
        for sandbox in Sandbox.objects.filter(owner__in=owners):
            provisioning.destroy(sandbox.pk)
        per_destroy = (k8s.request_count() - before) / len(owners)
    print(f"{'API requests per sandbox':<34} provision={per_sandbox:.1f}  destroy={per_destroy:.1f}")

    workers = start_workers(1)
    try:
        cold: list[float] = []
        for owner in users("cold", args.cold):
            start = time.perf_counter()
            sandbox = lifecycle.create_sandbox(owner)
            wait_ready([sandbox.pk])
            cold.append(time.perf_counter() - start)
        summary("cold: request -> ready (1 worker)", cold)

        with override_settings(SANDBOX_POOL_SIZE=args.warm):
            pool.refill_pool()
            wait_ready(
                list(Sandbox.objects.filter(owner__isnull=True, state__in=LIVE_STATES).values_list("pk", flat=True))
            )
            with override_settings(SANDBOX_POOL_SIZE=0):
                warm = [timed(partial(lifecycle.claim_from_pool, owner)) for owner in users("warm", args.warm)]
        summary("warm: claim from the pool", warm)
    finally:
        stop(*workers)
    cleanup()

    for count in (1, 2):
        workers = start_workers(count)
        try:
            owners = users(f"burst{count}", args.burst)
            start = time.perf_counter()
            ids = [lifecycle.create_sandbox(owner).pk for owner in owners]
            wait_ready(ids)
            elapsed = time.perf_counter() - start
        finally:
            stop(*workers)
        print(
            f"{f'throughput: {args.burst} at once, {count} worker(s)':<34} {elapsed:6.2f} s  "
            f"= {args.burst / elapsed * 60:6.0f} sandboxes/minute"
        )
        cleanup()


if __name__ == "__main__":
    main()
