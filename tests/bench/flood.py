"""Flood benchmark: prints figures, asserts nothing.

    make bench-flood

Student A floods the page's WebSocket from several sockets at once with the expensive messages
(cluster.subscribe, lesson.reset, lesson.open, lesson.hint), each socket keeping up to WINDOW
unanswered messages in flight, as fast as the server answers. Meanwhile student B types `help`
in the terminal again and again. Printed: B's round trip (send -> terminal.exit) p50/p95/max
before the flood and during it (goal: p95 < 50 ms during), and what became of A's messages.

Two rounds, each against a fresh daphne (real server, Redis channel layer, a Celery worker
running the resets that get through): with the default limits, and with the rate limits lifted
(only the in-flight bound and the thread pool between A and B). Loopback only, bounded in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import websockets  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from redis import asyncio as aioredis  # noqa: E402

from lessons import loader  # noqa: E402
from sandbox import provisioning  # noqa: E402
from sandbox.models import LIVE_STATES, Sandbox  # noqa: E402
from tests.bench.students import page_socket, signed_in_student  # noqa: E402
from tests.processes import server_log, start_celery_worker, start_daphne, stop  # noqa: E402

PORT = 18767
SECONDS = float(os.environ.get("BENCH_SECONDS", "15"))  # length of the flood
BEFORE = int(os.environ.get("BENCH_BEFORE", "40"))  # B's round trips before the flood
FLOOD_SOCKETS = 6  # A's sockets (a student may open 8)
WINDOW = 100  # unanswered messages per flooding socket
STALL = 0.5  # seconds without an answer after which a flooding socket sends its next WINDOW anyway
MAX_PER_SOCKET = 200_000  # a bound on what one socket sends, whatever the speed
PACE = 0.2  # seconds between two of B's lines (a fast typist; within B's own line limit)
FLOOD = [
    {"type": "cluster.subscribe"},
    {"type": "lesson.reset"},
    {"type": "lesson.open", "slug": "pod", "language": "en"},
    {"type": "lesson.hint", "step": "apply"},
]
FLOOD_TEXT = [json.dumps(message) for message in FLOOD]  # serialised once: the client stays light
# The replies that answer one of A's messages (counted to keep WINDOW in flight).
ANSWERS = {"error", "cluster.snapshot", "lesson.state", "lesson.error"}
UNLIMITED = {f"SOCKET_RATE_{kind.replace('.', '_').upper()}": "1000000/1" for kind in settings.SOCKET_RATES}


async def connect(cookie: str) -> websockets.ClientConnection:
    return await page_socket(PORT, cookie)


async def help_round_trip(ws: websockets.ClientConnection, refused: Counter[str]) -> float:
    start = time.perf_counter()
    await ws.send(json.dumps({"type": "terminal.run", "line": "help"}))
    while True:
        message = json.loads(await ws.recv())
        if message["type"] == "terminal.exit":
            return time.perf_counter() - start
        if message["type"] == "error":
            refused[message.get("code", "error")] += 1


def figures(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    return f"p50={statistics.median(ms):6.1f} ms  p95={p95:6.1f} ms  max={ms[-1]:6.1f} ms  (n={len(ms)})"


class Flooder:
    """One of A's sockets: sends FLOOD round and round, WINDOW ahead of the answers; when the
    server closes it for flooding, opens a new one at once and goes on."""

    def __init__(self, cookie: str) -> None:
        self.cookie = cookie
        self.sent = 0
        self.answered = 0
        self.connections = 0
        self.closed_by_server: Counter[int] = Counter()
        self.refused_handshakes = 0
        self.unanswered = 0
        self.replies: Counter[str] = Counter()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set() and self.sent < MAX_PER_SOCKET:
            try:
                ws = await connect(self.cookie)
            except (websockets.InvalidStatus, websockets.ConnectionClosed):
                # Over the sockets-per-user cap until the server has let go of a closed one.
                self.refused_handshakes += 1
                await asyncio.sleep(0.01)
                continue
            self.connections += 1
            reader = asyncio.create_task(self.read(ws))
            try:
                waiting_since = None
                while not stop.is_set() and not reader.done() and self.sent < MAX_PER_SOCKET:
                    if self.sent - self.answered >= WINDOW:
                        waiting_since = waiting_since or time.monotonic()
                        if time.monotonic() - waiting_since > STALL:
                            # The server stopped answering (it drops a flood's refusals): go on.
                            self.unanswered += self.sent - self.answered
                            self.answered, waiting_since = self.sent, None
                        await asyncio.wait([reader], timeout=0.01)
                        continue
                    waiting_since = None
                    await ws.send(FLOOD_TEXT[self.sent % len(FLOOD_TEXT)])
                    self.sent += 1
            except websockets.ConnectionClosed:
                pass
            finally:
                await ws.close()
                await asyncio.gather(reader, return_exceptions=True)
                if ws.close_code is not None and ws.close_code >= 4000:
                    self.closed_by_server[ws.close_code] += 1
            self.answered = self.sent  # what the closed socket never answered is not waited for

    async def read(self, ws: websockets.ClientConnection) -> None:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                message = json.loads(raw)
                kind = message["type"]
                if kind == "error" and message.get("code") != "rate_limited":
                    kind = f"error: {message.get('message', '')[:60]}"
                elif kind == "error":
                    # The in-flight refusal says so (A's socket speaks English: lesson.open above).
                    busy = "still running" in message.get("message", "")
                    kind = f"refused ({'in flight' if busy else 'rate'}): {message.get('kind')}"
                self.replies[kind] += 1
                if message["type"] in ANSWERS:
                    self.answered += 1


async def max_queue_length(stop: asyncio.Event, seen: list[int]) -> None:
    """The Celery queue's length in Redis, sampled while the flood runs."""
    client = aioredis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        while not stop.is_set():
            seen.append(int(await client.llen("celery")))
            await asyncio.sleep(0.05)
    finally:
        await client.aclose()


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def flood(cookie: str, seconds: float) -> dict[str, Any]:
    """Student A, in a process of its own (as on another machine): B's figures then measure
    the server, not this client's event loop."""
    flooders = [Flooder(cookie) for _ in range(FLOOD_SOCKETS)]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(f.run(stop)) for f in flooders]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.wait(tasks, timeout=10)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    closed: Counter[int] = sum((f.closed_by_server for f in flooders), Counter())
    return {
        "sent": sum(f.sent for f in flooders),
        "replies": sum((f.replies for f in flooders), Counter()),
        "connections": sum(f.connections for f in flooders),
        "closed": {str(code): n for code, n in closed.items()},
        "refused_handshakes": sum(f.refused_handshakes for f in flooders),
        "unanswered": sum(f.unanswered for f in flooders),
    }


async def round_(a_cookie: str, b_cookie: str, title: str, server_pid: int) -> None:
    b = await connect(b_cookie)
    b_refused: Counter[str] = Counter()
    await help_round_trip(b, b_refused)  # the first line fetches a token
    before = []
    for _ in range(BEFORE):
        before.append(await help_round_trip(b, b_refused))
        await asyncio.sleep(PACE)

    flooder = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--flood", a_cookie, str(SECONDS + 1), stdout=asyncio.subprocess.PIPE
    )
    stop = asyncio.Event()
    queue_lengths: list[int] = []
    sampler = asyncio.create_task(max_queue_length(stop, queue_lengths))
    await asyncio.sleep(1)  # the flood is under way
    during = []
    started = time.monotonic()
    server_cpu = cpu_seconds(server_pid)
    while time.monotonic() - started < SECONDS:
        during.append(await help_round_trip(b, b_refused))
        await asyncio.sleep(PACE)
    measured = time.monotonic() - started
    server_cpu = (cpu_seconds(server_pid) - server_cpu) / measured
    stdout, _ = await asyncio.wait_for(flooder.communicate(), timeout=60)
    stop.set()
    await sampler
    await b.close()

    a = json.loads(stdout)
    replies = Counter(a["replies"])
    refused = sum(n for kind, n in replies.items() if kind.startswith("refused"))
    flood_seconds = SECONDS + 1
    print(f"\n{title}")
    print(f"  B `help` round trip, before the flood  {figures(before)}")
    print(f"  B `help` round trip, during the flood  {figures(during)}   (goal p95 < 50 ms)")
    print(f"  B's messages refused: {sum(b_refused.values())}")
    print(
        f"  A sent {a['sent']} messages from {FLOOD_SOCKETS} sockets in {flood_seconds:.0f} s "
        f"({a['sent'] / flood_seconds:.0f}/s); {refused} refused with an answer; "
        f"{a['unanswered']} still unanswered after {STALL} s (refusals dropped, or a slow server)"
    )
    for kind, n in sorted(replies.items()):
        print(f"    {n:8d}  {kind}")
    print(
        f"  A's connections: {a['connections']} opened, closed by the server {a['closed']}, "
        f"{a['refused_handshakes']} handshakes refused"
    )
    print(f"  Celery queue length in Redis during the flood: max {max(queue_lengths, default=0)}")
    print(f"  Server CPU during the flood: {server_cpu:.0%} of a core; load average {os.getloadavg()[0]:.1f}")


def main() -> None:
    if sys.argv[1:2] == ["--flood"]:
        print(json.dumps(asyncio.run(flood(sys.argv[2], float(sys.argv[3])))))
        return
    call_command("migrate", verbosity=0)
    loader.load()
    a_sandbox, a_cookie = signed_in_student("flood-a")
    _b_sandbox, b_cookie = signed_in_student("flood-b")
    env = {**os.environ, "LOG_LEVEL": "WARNING"}
    worker = start_celery_worker(env, name="flood")
    try:
        for title, extra in (
            ("Round 1: default limits", {}),
            ("Round 2: rate limits lifted (only the in-flight bound and the thread pool)", UNLIMITED),
        ):
            server = start_daphne(PORT, {**env, **extra})
            try:
                asyncio.run(round_(a_cookie, b_cookie, title, server.pid))
            finally:
                stop(server)
            log = server_log(server)
            failures = [line for line in log.splitlines() if " ERROR " in line]
            print(f"  Errors in the server's log: {len(failures)}")
            for line in dict.fromkeys(failures[:5]):
                print(f"    {line[:200]}")
            if failures:
                print("    last lines: " + " | ".join(log.strip().splitlines()[-3:])[:600])
        a_sandbox.refresh_from_db()
        print(f"\nA's sandbox at the end: {a_sandbox.state}")
    finally:
        stop(worker)
        for sandbox in Sandbox.objects.filter(state__in=LIVE_STATES):
            provisioning.destroy(sandbox.pk)


if __name__ == "__main__":
    main()
