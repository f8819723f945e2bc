"""The web process SIGKILLed while a student's terminals run, then started again, as its
supervisor would: the kubectl processes die with it (nothing keeps running without a server to
stop it), the lines that were running stay in the audit log (unfinished), the page's socket
connects again and gets a working prompt, and the new server removes the dead one's session
folders when it opens its first session.

Real processes throughout: daphne (the production ASGI server) on the test database and the test
Redis, real kubectl against the real API server, a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import websockets
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client

from sandbox.terminal import process
from sandbox.terminal.models import CommandAudit
from tests.cluster.conftest import wait_for
from tests.processes import free_port, server_log, start_daphne, stop

pytestmark = pytest.mark.django_db(transaction=True)

WATCHES = ["kubectl get pods -w", "kubectl get events -w"]  # one terminal each


def server_env() -> dict[str, str]:
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CLUSTER_KUBECONFIG": str(settings.CLUSTER_KUBECONFIG),
        "CHANNEL_LAYER": "redis",
    }


def cookie_for(user: User) -> str:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}"


def stat_fields(pid: int) -> list[str]:
    """/proc/PID/stat from field 3 (state) on; [] when the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return []


def running(pid: int) -> bool:
    """Alive, not a zombie waiting for init to reap it."""
    fields = stat_fields(pid)
    return bool(fields) and fields[0] != "Z"


def kubectl_children(server: int) -> list[int]:
    """The server's kubectl processes (the launcher execs into kubectl, so each is a direct
    child of the server)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = stat_fields(int(entry.name))
        try:
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if fields and fields[1] == str(server) and comm.startswith("kubectl") and running(int(entry.name)):
            found.append(int(entry.name))
    return found


def assert_limited(pid: int) -> None:
    """The kubectl's own limits (sandbox.terminal.process.limits) are in force, and it runs as
    a user of its own when the server is root."""
    limits = {
        line[:26].strip(): line[26:].split()[:2] for line in Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    }
    assert limits["Max core file size"] == ["0", "0"]
    assert limits["Max open files"] == ["256", "256"]
    assert limits["Max data size"] == [str(process.KUBECTL_MEMORY)] * 2
    assert limits["Max file size"] == [str(64 * 1024 * 1024)] * 2
    if os.geteuid() == 0:
        assert limits["Max processes"] == ["256", "256"]
        assert Path(f"/proc/{pid}").stat().st_uid in process.SESSION_UIDS


def processes_in(folder: Path) -> list[int]:
    """Live processes working in a session folder (a kubectl orphaned there)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cwd = Path(os.readlink(entry / "cwd"))
            except OSError:
                continue
            if cwd.is_relative_to(folder) and running(int(entry.name)):
                found.append(int(entry.name))
    return found


def until(condition: Callable[[], bool], seconds: float, what: str) -> float:
    """The moment condition() held, polled every millisecond (a figure, not an assertion); the
    test fails if it did not within `seconds`."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds}s waiting for {what}")
        time.sleep(0.001)
    return time.monotonic()


async def page_socket(port: int, cookie: str) -> Any:
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/sandbox/",
        additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"},
        open_timeout=5,
    )
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello", hello
    return ws


async def reconnect(port: int, cookie: str, seconds: float = 60) -> Any:
    """As the page does: try again (every 100 ms here) until the server answers."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            return await page_socket(port, cookie)
        except (TimeoutError, OSError, websockets.InvalidHandshake):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)


async def run_line(ws: Any, line: str) -> tuple[str, int]:
    await ws.send(json.dumps({"type": "terminal.run", "line": line}))
    output = []
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), timeout=60))
        if message["type"] == "terminal.output":
            output.append(message["data"])
        elif message["type"] == "terminal.exit":
            return "".join(output), int(message["status"])


async def closed(ws: Any) -> bool:
    try:
        while True:
            await asyncio.wait_for(ws.recv(), timeout=10)
    except websockets.ConnectionClosed:
        return True


def test_it_survives_the_web_process_killed_while_terminals_run(make_sandbox: Any) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)
    cookie = cookie_for(owner)
    port = free_port()
    env = server_env()
    server = start_daphne(port, env)
    restarted = None
    # One event loop for the client's sockets, run between the test's blocking steps.
    loop = asyncio.new_event_loop()
    try:
        sockets = loop.run_until_complete(_start_watches(port, cookie))
        wait_for(lambda: len(kubectl_children(server.pid)) == len(WATCHES), 60, "both kubectl to run")
        children = kubectl_children(server.pid)
        folders = {Path(os.readlink(f"/proc/{pid}/cwd")).parent for pid in children}
        for pid in children:  # each runs as the session's user, within its own limits
            assert_limited(pid)
        assert all(f.name.startswith(f"k8s-terminal-{server.pid}.") for f in folders), folders
        # The lines are in the audit log while they run, as unfinished.
        wait_for(
            lambda: CommandAudit.objects.filter(sandbox=sandbox, outcome="unfinished").count() == len(WATCHES),
            30,
            "the running lines' audit rows",
        )

        killed_at = time.monotonic()
        server.send_signal(signal.SIGKILL)
        server.wait()
        gone = until(lambda: not any(running(pid) for pid in children), 30, "the kubectl processes to end")
        print(f"\n  kubectl processes of the killed server gone {(gone - killed_at) * 1000:.1f} ms after the SIGKILL")
        for folder in folders:
            assert processes_in(folder) == []

        # The supervisor starts the server again (here: at once, on the same port).
        restarted = start_daphne(port, env)
        back, (output, status) = loop.run_until_complete(_after_restart(port, cookie, sockets, killed_at))
        print(f"  the page's socket connected again {back:.2f} s after the kill (daphne's start included)")
        assert status == 0, output
        assert "No resources found" in output or "NAME" in output

        # What ran is in the audit log: the killed lines as unfinished, the new one as ran.
        killed_lines = CommandAudit.objects.filter(sandbox=sandbox, line__in=WATCHES)
        assert sorted(killed_lines.values_list("line", "outcome")) == sorted((line, "unfinished") for line in WATCHES)
        wait_for(
            lambda: CommandAudit.objects.filter(sandbox=sandbox, line="kubectl get pods", outcome="ran").exists(),
            10,
            "the new line's audit row",
        )
        # The new server's first session removed the dead server's folders.
        for folder in folders:
            assert not folder.exists(), folder
    finally:
        loop.close()
        stop(*(p for p in (server, restarted) if p is not None))
        if restarted is not None and restarted.returncode not in (0, -signal.SIGTERM):
            print(server_log(restarted))


async def _start_watches(port: int, cookie: str) -> list[Any]:
    sockets = []
    for line in WATCHES:
        ws = await page_socket(port, cookie)
        await ws.send(json.dumps({"type": "terminal.run", "line": line}))
        sockets.append(ws)
    return sockets


async def _after_restart(port: int, cookie: str, old: list[Any], killed_at: float) -> tuple[float, tuple[str, int]]:
    for ws in old:  # the pages see their sockets close
        assert await closed(ws)
    ws = await reconnect(port, cookie)
    back = time.monotonic() - killed_at
    try:
        return back, await run_line(ws, "kubectl get pods")
    finally:
        await ws.close()
