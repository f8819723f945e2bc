"""Terminal benchmark: prints figures, asserts nothing.

    make bench-terminal
    python tests/bench/terminal.py --round-trip-only   (part 1 alone; e.g. with
        TERMINAL_CGROUP_PARENT=off and without, to price the per-student ceiling)

1. Round trip of `kubectl get pods` typed into the browser terminal (a real WebSocket to a real
   daphne server: send -> last byte of output) against running the same kubectl directly with
   the same credentials, same cluster, same run; reported as a ratio (goal <= 1.15). The two
   alternate, so load from elsewhere on the machine falls on both; on a shared machine, run it
   several times and look at the spread.
2. 50 concurrent terminals, each streaming `kubectl get pods -w` while pods are created and
   deleted: errors, events received, and the server's memory over time (goal: flat).
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import websockets  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from sandbox import credentials, provisioning  # noqa: E402
from sandbox.cluster.tools import kubectl  # noqa: E402
from sandbox.models import LIVE_STATES, Sandbox  # noqa: E402
from sandbox.realtime.limits import MAX_TERMINALS_PER_USER  # noqa: E402
from sandbox.terminal import ceiling  # noqa: E402
from tests.bench.simulated import kubectl_run_overrides  # noqa: E402
from tests.bench.students import page_socket, signed_in_student  # noqa: E402
from tests.processes import start_daphne, stop  # noqa: E402

PORT = int(os.environ.get("BENCH_TERMINAL_PORT", "18765"))
TERMINALS = 50


def rss_kib(pid: int) -> int:
    """Resident memory of a process and all its children (the kubectl processes)."""
    total = 0
    for line in subprocess.run(
        ["ps", "-o", "pid=,ppid=,rss=", "-e"], capture_output=True, text=True
    ).stdout.splitlines():
        p, parent, rss = (int(x) for x in line.split())
        if p == pid or parent == pid:
            total += rss
    return total


def server_rss(pid: int) -> int:
    return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0])


async def run_line(ws: websockets.ClientConnection, line: str) -> float:
    start = time.perf_counter()
    await ws.send(json.dumps({"type": "terminal.run", "line": line}))
    while json.loads(await ws.recv())["type"] != "terminal.exit":
        pass
    return time.perf_counter() - start


async def connect(cookie: str) -> websockets.ClientConnection:
    return await page_socket(PORT, cookie)


async def round_trip(cookie: str, kubeconfig: str, rounds: int) -> None:
    ws = await connect(cookie)
    await run_line(ws, "kubectl get pods")  # first run fetches a token and warms caches
    direct, through = [], []
    for _ in range(rounds):
        start = time.perf_counter()
        subprocess.run([kubectl(), "--kubeconfig", kubeconfig, "get", "pods"], capture_output=True, check=True)
        direct.append(time.perf_counter() - start)
        through.append(await run_line(ws, "kubectl get pods"))
    await ws.close()
    d, t = statistics.median(direct) * 1000, statistics.median(through) * 1000
    print(f"kubectl get pods, direct          p50={d:7.1f} ms  (n={rounds})")
    print(f"kubectl get pods, via WebSocket   p50={t:7.1f} ms  ratio={t / d:.2f}  (goal <= 1.15)")
    reason = ceiling.problem()
    print(f"  per-student ceiling: {'off (' + reason + ')' if reason else 'on'}")


async def watchers(cookies: list[str], namespaces: list[str], seconds: float, server_pid: int) -> None:
    sockets = [await connect(cookie) for cookie in cookies]
    received = [0] * len(sockets)
    errors: list[str] = []
    stopping = False

    async def listen(index: int, ws: websockets.ClientConnection) -> None:
        await ws.send(json.dumps({"type": "terminal.run", "line": "kubectl get pods -w"}))
        try:
            while True:
                message = json.loads(await ws.recv())
                if message["type"] == "terminal.output":
                    received[index] += message["data"].count("\n")
                elif message["type"] == "terminal.exit":
                    if not stopping:
                        errors.append(f"terminal {index} ended early with status {message['status']}")
                    return
        except websockets.ConnectionClosed as exc:
            errors.append(f"terminal {index}: connection closed ({exc})")

    tasks = [asyncio.create_task(listen(i, ws)) for i, ws in enumerate(sockets)]
    await asyncio.sleep(3)
    samples = [(0.0, rss_kib(server_pid), server_rss(server_pid))]
    start = time.monotonic()
    churned = 0
    admin = str(settings.CLUSTER_ADMIN_KUBECONFIG)
    on_kwok = kubectl_run_overrides()
    while time.monotonic() - start < seconds:
        for ns in namespaces:
            name = f"churn-{churned}"
            subprocess.run(
                [kubectl(), "--kubeconfig", admin, "-n", ns, "run", name, "--image=nginx", f"--overrides={on_kwok}"],
                capture_output=True,
            )
            subprocess.run(
                [kubectl(), "--kubeconfig", admin, "-n", ns, "delete", "pod", name, "--wait=false"], capture_output=True
            )
        churned += 1
        elapsed = time.monotonic() - start
        if elapsed - samples[-1][0] >= seconds / 4:
            samples.append((elapsed, rss_kib(server_pid), server_rss(server_pid)))
    samples.append((time.monotonic() - start, rss_kib(server_pid), server_rss(server_pid)))
    stopping = True
    for ws in sockets:
        await ws.send(json.dumps({"type": "terminal.interrupt"}))
    await asyncio.sleep(2)
    for task in tasks:
        task.cancel()
    for ws in sockets:
        await ws.close()
    print(
        f"{len(sockets)} terminals streaming `kubectl get pods -w`, {churned * len(namespaces)} pods churned "
        f"in {seconds:.0f} s"
    )
    print(f"  errors: {len(errors)}" + (f" ({errors[:3]})" if errors else ""))
    print(f"  watch lines received per terminal: min={min(received)} median={statistics.median(received):.0f}")
    for elapsed, total, own in samples:
        print(f"  t={elapsed:5.1f}s  server RSS={own / 1024:6.1f} MiB  server+kubectl RSS={total / 1024:7.1f} MiB")


def main() -> None:
    call_command("migrate", verbosity=0)
    # A student may keep MAX_TERMINALS_PER_USER terminals open: spread 50 over enough students.
    per_student = MAX_TERMINALS_PER_USER
    only_round_trip = "--round-trip-only" in sys.argv
    students = [signed_in_student(f"term{i}") for i in range(1 if only_round_trip else -(-TERMINALS // per_student))]
    env = {**os.environ, "CHANNEL_LAYER": "memory", "LOG_LEVEL": "WARNING"}
    server = start_daphne(PORT, env)
    try:
        with tempfile.NamedTemporaryFile("w", suffix=".kubeconfig") as handle:
            handle.write(credentials.student_kubeconfig(students[0][0]))
            handle.flush()
            asyncio.run(round_trip(students[0][1], handle.name, rounds=20))
        if only_round_trip:
            return
        cookies = [cookie for _, cookie in students for _ in range(per_student)][:TERMINALS]
        asyncio.run(watchers(cookies, [s.namespace for s, _ in students], seconds=30, server_pid=server.pid))
    finally:
        stop(server)
        for sandbox in Sandbox.objects.filter(state__in=LIVE_STATES):
            provisioning.destroy(sandbox.pk)


if __name__ == "__main__":
    main()
