"""Real server processes for tests and benchmarks: daphne (the production ASGI server) and a
Celery worker, on whatever database and Redis the environment names."""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The web servers' logs, by pid. A file, not a pipe: a pipe that nobody reads fills up after
# 64 KiB of log lines, and the server then blocks on its next log line (a long benchmark hung so).
_logs: dict[int, IO[bytes]] = {}


def server_log(server: subprocess.Popen[bytes]) -> str:
    """What a server started by start_daphne (or a watcher by start_watcher) has logged so far."""
    log = _logs.get(server.pid)
    if log is None:
        return ""
    log.seek(0)
    return log.read().decode(errors="replace")


def start_daphne(
    port: int, env: Mapping[str, str], timeout: float = 20, *, module: str = "daphne"
) -> subprocess.Popen[bytes]:
    """Start the web server and wait until it accepts connections (`module`: daphne, or a
    benchmark's wrapper of it that takes the same arguments)."""
    log = tempfile.TemporaryFile()  # noqa: SIM115  (kept open for the server's lifetime)
    server = subprocess.Popen(
        [sys.executable, "-m", module, "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    _logs[server.pid] = log
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                server.wait()
                detail = server_log(server)
                raise RuntimeError(f"daphne did not start: {detail}") from None
            time.sleep(0.1)


def start_celery_worker(env: Mapping[str, str], name: str = "worker") -> subprocess.Popen[bytes]:
    """One worker process that runs one task at a time."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--pool=solo",
            "--loglevel=WARNING",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "-n",
            f"{name}@%h",
        ],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def start_watcher(env: Mapping[str, str], *, elected: bool = False) -> subprocess.Popen[bytes]:
    """The live view's watcher: a private copy, or (elected) one that takes part in the Redis
    election as `make run`'s does, active only while it holds the lock."""
    log = tempfile.TemporaryFile()  # noqa: SIM115  (kept open for the watcher's lifetime)
    watcher = subprocess.Popen(
        [sys.executable, "manage.py", "watch_sandboxes", *([] if elected else ["--no-lock"])],
        cwd=ROOT,
        env=dict(env),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    _logs[watcher.pid] = log
    return watcher


def stop(*processes: subprocess.Popen[bytes], timeout: float = 20) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def answers_on(process: subprocess.Popen[bytes], port: int, seconds: float = 60) -> bool:
    """True once `process` accepts connections on the loopback port, False if it exited first or
    never did within `seconds` (a wait limit for a slow machine, not a timed assert)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False
