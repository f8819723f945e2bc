"""Live view benchmark: prints figures, asserts nothing.

    make bench-liveview

200 sandboxes, each with a student subscribed to the live view over a real WebSocket (daphne,
Redis channel layer, the watch_sandboxes process). Pods are created in random sandboxes at a
steady rate; for each, the time from just before the API call to the student's WebSocket
receiving the change. Also the watcher's CPU and memory, and its connections to the API server
(which must not grow with the number of students).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import websockets  # noqa: E402
from asgiref.sync import sync_to_async  # noqa: E402
from django.core.management import call_command  # noqa: E402

from sandbox import k8s, provisioning  # noqa: E402
from sandbox.models import LIVE_STATES, Sandbox  # noqa: E402
from tests.bench.simulated import ON_KWOK  # noqa: E402
from tests.bench.students import page_socket, signed_in_student  # noqa: E402
from tests.processes import start_daphne, start_watcher, stop  # noqa: E402

PORT = 18766
SANDBOXES = int(os.environ.get("BENCH_SANDBOXES", "200"))
SECONDS = float(os.environ.get("BENCH_SECONDS", "30"))
RATE = float(os.environ.get("BENCH_RATE", "10"))  # pod creations per second


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


def api_connections(pid: int, port: int) -> int:
    out = subprocess.run(["ss", "-tnp", "state", "established"], capture_output=True, text=True).stdout
    return sum(
        1
        for line in out.splitlines()
        if f"pid={pid}," in line and f":{port} " in line.replace(f":{port}\t", f":{port} ")
    )


async def main_async(made: list[tuple[Sandbox, str]], watcher_pid: int, api_port: int) -> None:
    arrived: dict[str, float] = {}
    sockets = []
    for _sandbox, cookie in made:
        ws = await page_socket(PORT, cookie)
        await ws.send(json.dumps({"type": "cluster.subscribe"}))
        while json.loads(await ws.recv())["type"] != "cluster.snapshot":
            pass
        sockets.append(ws)

    async def listen(ws: websockets.ClientConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "cluster.event" and message["object"]["kind"] == "Pod":
                arrived.setdefault(message["object"]["name"], time.perf_counter())

    listeners = [asyncio.create_task(listen(ws)) for ws in sockets]
    cpu0, t0 = cpu_seconds(watcher_pid), time.monotonic()
    rss = [rss_mib(watcher_pid)]
    sent: dict[str, float] = {}

    def create(namespace: str, name: str) -> None:
        with k8s.as_admin():
            k8s.core().create_namespaced_pod(
                namespace,
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": name},
                    "spec": {"containers": [{"name": "c", "image": "nginx"}], **ON_KWOK},
                },
            )

    n = 0
    while time.monotonic() - t0 < SECONDS:
        sandbox, _ = random.choice(made)  # noqa: S311  (load pattern, not security)
        name = f"bench-{n}"
        sent[name] = time.perf_counter()
        await sync_to_async(create, thread_sensitive=False)(sandbox.namespace, name)
        n += 1
        if n % int(RATE * 5) == 0:
            rss.append(rss_mib(watcher_pid))
        await asyncio.sleep(max(0.0, n / RATE - (time.monotonic() - t0)))
    await asyncio.sleep(3)
    elapsed = time.monotonic() - t0
    cpu = (cpu_seconds(watcher_pid) - cpu0) / elapsed * 100
    rss.append(rss_mib(watcher_pid))
    connections = api_connections(watcher_pid, api_port)
    for task in listeners:
        task.cancel()
    for ws in sockets:
        await ws.close()
    latencies = sorted((arrived[name] - sent[name]) * 1000 for name in sent if name in arrived)
    lost = len(sent) - len(latencies)
    p95 = latencies[max(0, int(len(latencies) * 0.95) - 1)] if latencies else float("nan")
    print(f"{SANDBOXES} subscribed sandboxes, {len(sent)} pods created at {RATE:.0f}/s over {elapsed:.0f} s")
    print(
        f"  API change -> WebSocket message  p50={statistics.median(latencies):6.1f} ms  p95={p95:6.1f} ms  "
        f"max={latencies[-1]:6.1f} ms  lost={lost}  (goal p95 < 250 ms)"
    )
    print(f"  watcher CPU {cpu:5.1f}% of one core; RSS {rss[0]:.1f} -> {rss[-1]:.1f} MiB")
    print(f"  watcher connections to the API server: {connections} (one watch per kind: 9 kinds)")


def main() -> None:
    call_command("migrate", verbosity=0)
    print(f"provisioning {SANDBOXES} sandboxes…", flush=True)
    made = [signed_in_student(f"live{i}") for i in range(SANDBOXES)]
    env = {**os.environ, "CHANNEL_LAYER": "redis", "LOG_LEVEL": "WARNING"}
    server = start_daphne(PORT, env)
    watcher = start_watcher(env)
    try:
        time.sleep(6)  # the watcher lists every kind before the clock starts
        with k8s.as_admin():
            api_port = int(k8s.api_client().configuration.host.rsplit(":", 1)[1])
        asyncio.run(main_async(made, watcher.pid, api_port))
    finally:
        stop(server, watcher)
        for sandbox in Sandbox.objects.filter(state__in=LIVE_STATES):
            provisioning.destroy(sandbox.pk)


if __name__ == "__main__":
    main()
