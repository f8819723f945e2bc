"""Shadowing benchmark: prints figures, asserts nothing.

    make bench-shadow

A student runs `echo` lines in the browser terminal (a real WebSocket to a real daphne server,
the Redis channel layer, real kubectl credentials) while staff watch from the class's watch
page. For each line: how much later a watcher's socket has the output than the student's own
socket (the shadow view's added latency; goal p95 < 50 ms), with 1 and with 5 watchers; and the
student's own round trip (send -> output) with 0, 1 and 5 watchers, so publishing can be seen
not to slow the student's terminal.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import websockets  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.roles import Role, grant  # noqa: E402
from classroom.models import Classroom, Member, MemberRole  # noqa: E402
from sandbox import provisioning  # noqa: E402
from sandbox.models import LIVE_STATES, Sandbox  # noqa: E402
from tests.bench.students import page_socket, signed_in_student  # noqa: E402
from tests.processes import free_port, start_daphne, stop  # noqa: E402

# A port nobody else's benchmark holds (several may run on one machine).
PORT = int(os.environ.get("BENCH_SHADOW_PORT", "0")) or free_port()
ROUNDS = 200


def staff_cookie(name: str) -> tuple[User, str]:
    user = User.objects.create_user(f"{name}-{time.monotonic_ns()}")
    grant(user, Role.INSTRUCTOR)
    client = Client()
    client.force_login(user)
    return user, f"sessionid={client.cookies['sessionid'].value}"


async def watch_socket(path: str, cookie: str) -> websockets.ClientConnection:
    ws = await websockets.connect(
        f"ws://127.0.0.1:{PORT}{path}",
        additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{PORT}"},
        max_size=None,
    )
    while json.loads(await ws.recv())["type"] != "shadow.hello":
        pass
    return ws


async def arrival(ws: websockets.ClientConnection, text: str, buffer: list[str]) -> float:
    """When `text` has arrived in the terminal output this socket receives."""
    while text not in buffer[0]:
        message = json.loads(await ws.recv())
        if message["type"] == "terminal.output":
            buffer[0] += message["data"]
    buffer[0] = buffer[0][buffer[0].index(text) + len(text) :]
    return time.perf_counter()


async def rounds(student: websockets.ClientConnection, watchers: list[websockets.ClientConnection], tag: str) -> None:
    own, behind = [], []
    mine = [""]
    theirs = [[""] for _ in watchers]
    for i in range(ROUNDS):
        # The output line differs from the typed line ("echo mark-N ...") that watchers see too.
        marker = f"{tag}-{i} done"
        sent = time.perf_counter()
        await student.send(json.dumps({"type": "terminal.run", "line": f"echo {marker}"}))
        pairs = zip(watchers, theirs, strict=True)
        waits = [asyncio.create_task(arrival(ws, f"\n{marker}\r\n", buf)) for ws, buf in pairs]
        got = await arrival(student, f"{marker}\r\n", mine)
        while json.loads(await student.recv())["type"] != "terminal.exit":
            pass
        own.append((got - sent) * 1000)
        for seen in await asyncio.gather(*waits):
            behind.append((seen - got) * 1000)
        await asyncio.sleep(0.02)  # a person does not type a line every millisecond
    print(f"{len(watchers)} watcher(s):")
    print(f"  student's own round trip   p50={pct(own, 50):6.1f} ms  p95={pct(own, 95):6.1f} ms  (n={len(own)})")
    if behind:
        print(
            f"  watcher behind the student p50={pct(behind, 50):6.1f} ms  p95={pct(behind, 95):6.1f} ms  "
            f"max={max(behind):6.1f} ms  (goal p95 < 50 ms, n={len(behind)})"
        )


def pct(values: list[float], p: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1] if len(values) > 1 else values[0]


async def run(student_cookie: str, path: str, cookies: list[str]) -> None:
    student = await page_socket(PORT, student_cookie)
    await student.send(json.dumps({"type": "terminal.run", "line": "echo warm"}))  # token, caches
    while json.loads(await student.recv())["type"] != "terminal.exit":
        pass
    await rounds(student, [], "none")
    for count in (1, 5):
        watchers = [await watch_socket(path, cookie) for cookie in cookies[:count]]
        await rounds(student, watchers, f"w{count}")
        for ws in watchers:
            await ws.close()
    await student.close()


def main() -> None:
    call_command("migrate", verbosity=0)
    sandbox, student_cookie = signed_in_student("shadowed")
    assert sandbox.owner is not None
    staff = [staff_cookie(f"watcher{i}") for i in range(5)]
    now = timezone.now()
    classroom = Classroom.objects.create(
        name="bench", owner=staff[0][0], starts_at=now, ends_at=now + timedelta(hours=2)
    )
    for user, _ in staff:
        Member.objects.create(classroom=classroom, user=user, role=MemberRole.CO_INSTRUCTOR)
    Member.objects.create(classroom=classroom, user=sandbox.owner, role=MemberRole.STUDENT)
    env = {
        **os.environ,
        "CHANNEL_LAYER": "redis",
        "LOG_LEVEL": "WARNING",
        "SOCKET_RATE_TERMINAL_RUN": "10000/10",  # the benchmark types faster than a person
    }
    server = start_daphne(PORT, env)
    try:
        path = f"/ws/class/{classroom.pk}/watch/{sandbox.owner.pk}/"
        asyncio.run(run(student_cookie, path, [cookie for _, cookie in staff]))
    finally:
        stop(server)
        classroom.delete()
        for row in Sandbox.objects.filter(state__in=LIVE_STATES):
            provisioning.destroy(row.pk)


if __name__ == "__main__":
    main()
