"""`make run`'s processes under their supervisor, with real processes killed outright.

Before: a restarted Redis made the watcher die on the connection error, and the process runner
then stopped every other process. Now a dead process is started again and the others carry on,
and the watcher rides out a Redis restart, taking its lock again in the new Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from django.conf import settings

from tests.processes import ROOT, free_port

CONF = ROOT / "docker" / "services" / "supervisord.conf"
PROGRAMS = {"redis", "web", "worker", "watcher", "beat"}


class Supervised:
    def __init__(self, env: dict[str, str], services: Path) -> None:
        self.env, self.services = env, services
        self.web_port, self.redis_port = int(env["WEB_PORT"]), int(env["REDIS_PORT"])
        self.proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "supervisord"), "-c", str(CONF)],
            cwd=ROOT,
            env=env,
            stdout=open(services / "output.log", "wb"),  # noqa: SIM115  (closed with the process)
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def status(self) -> dict[str, tuple[str, int]]:
        """program -> (state, pid) from supervisorctl."""
        out = subprocess.run(
            [str(Path(sys.executable).parent / "supervisorctl"), "-c", str(CONF), "status"],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        found = {}
        for line in out.splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] in PROGRAMS:
                pid = int(parts[3].rstrip(",")) if len(parts) > 3 and parts[2] == "pid" else 0
                found[parts[0]] = (parts[1], pid)
        return found

    def log(self) -> str:
        return (self.services / "output.log").read_text(errors="replace")[-4000:]


def wait_for(condition: Callable[[], bool], seconds: float, what: str, supervised: Supervised) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    raise AssertionError(f"{what} not within {seconds}s; status {supervised.status()}\n{supervised.log()}")


def all_running(supervised: Supervised) -> bool:
    status = supervised.status()
    return set(status) == PROGRAMS and all(state == "RUNNING" for state, _ in status.values())


def healthy(port: int) -> bool:
    with contextlib.suppress(OSError), urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as answer:
        return bool(answer.status == 200)
    return False


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def supervised(tmp_path: Path, transactional_db: None) -> Iterator[Supervised]:
    web, redis_port = free_port(), free_port()
    env = {
        **os.environ,
        "WEB_PORT": str(web),
        "REDIS_PORT": str(redis_port),
        "SERVICES_DIR": str(tmp_path),
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
        # The processes share the suite's test database (its name is only known at run time).
        "DATABASE_URL": (
            f"postgres://{settings.DATABASES['default']['USER']}@127.0.0.1:"
            f"{settings.DATABASES['default']['PORT']}/{settings.DATABASES['default']['NAME']}"
        ),
        # No sweep while the test runs: it is not what is tested here.
        "SANDBOX_SWEEP_SECONDS": "3600",
    }
    running = Supervised(env, tmp_path)
    try:
        yield running
    finally:
        pids = [pid for _, pid in running.status().values() if pid]
        running.proc.send_signal(signal.SIGINT)  # what Ctrl-C on `make run` sends
        running.proc.wait(timeout=60)
        time.sleep(0.5)
        left = [pid for pid in pids if alive(pid)]
        for pid in left:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        assert not left, f"processes left running after Ctrl-C: {left}"


def test_a_dead_process_is_restarted_and_redis_restarts_are_ridden_out(supervised: Supervised) -> None:
    web_port, redis_port = supervised.web_port, supervised.redis_port
    wait_for(lambda: all_running(supervised) and healthy(web_port), 90, "every process running", supervised)
    # DEBUG is off (as `make run` serves) and the page's static files are still served.
    assert supervised.env["DEBUG"] == "0"
    with urllib.request.urlopen(f"http://127.0.0.1:{web_port}/static/css/app.css", timeout=5) as answer:
        assert answer.status == 200
        assert b"{" in answer.read()
    lock_key = f"k8s-sandbox:watcher:{settings.SANDBOX_NAMESPACE_PREFIX}"
    client = redis.Redis(port=redis_port, socket_timeout=2)
    wait_for(lambda: client.get(lock_key) is not None, 30, "the watcher holding its lock", supervised)

    # 1. The watcher killed outright: started again; nobody else is touched.
    before = supervised.status()
    os.kill(before["watcher"][1], signal.SIGKILL)
    took = wait_for(
        lambda: (
            supervised.status().get("watcher", ("", 0))[1] not in (0, before["watcher"][1]) and all_running(supervised)
        ),
        60,
        "the watcher back",
        supervised,
    )
    after = supervised.status()
    for name in PROGRAMS - {"watcher"}:
        assert after[name][1] == before[name][1], f"{name} was restarted too"
    print(f"\n  watcher killed -> running again in {took:.1f}s")

    # 2. Redis killed outright (a crash; it comes back empty): it is started again, and the web
    # server, the worker and the watcher ride it out in place — the watcher takes its lock again.
    before = supervised.status()
    os.kill(before["redis"][1], signal.SIGKILL)
    took = wait_for(
        lambda: supervised.status().get("redis", ("", 0))[1] not in (0, before["redis"][1]) and all_running(supervised),
        60,
        "Redis back",
        supervised,
    )
    relocked = wait_for(lambda: client.get(lock_key) is not None, 30, "the watcher's lock taken again", supervised)
    after = supervised.status()
    for name in ("web", "worker", "watcher", "beat"):
        assert after[name][1] == before[name][1], f"{name} died when Redis restarted"
    assert healthy(web_port)
    print(f"  Redis killed -> running again in {took:.1f}s; watcher lock re-taken {relocked:.1f}s later")
