"""What a web process that is killed outright leaves behind: its kubectl processes die with it
(the parent-death signal set by the terminal's launcher), and the next server removes its session folders at
once, while it leaves alone the folders of a server that still runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from sandbox.terminal import process

# Stands in for the web server: starts a long command the way the runner does, says its pid,
# and waits to be killed.
SERVER = """
import subprocess, sys, time
child = subprocess.Popen([*sys.argv[1:], "/bin/sleep", "300"], start_new_session=True)
print(child.pid, flush=True)
time.sleep(300)
"""


def running(pid: int) -> bool:
    """Alive and not a zombie waiting for init to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until_ended(pid: int, seconds: float = 10) -> bool:
    """A bound on the wait for a slow machine, not a timed assertion."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not running(pid):
            return True
        time.sleep(0.01)
    return False


def start_server(prefix: list[str]) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen([sys.executable, "-c", SERVER, *prefix], stdout=subprocess.PIPE, text=True)
    assert server.stdout is not None
    child = int(server.stdout.readline())
    # Past the launcher and its change of ids: the command itself runs.
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}/comm").read_text().strip() != "sleep" and time.monotonic() < deadline:
        time.sleep(0.005)
    return server, child


def test_a_command_dies_with_the_server_that_started_it() -> None:
    server, child = start_server(process.launch([], process.Identity(os.geteuid(), os.getegid())))
    try:
        assert running(child)
        server.send_signal(signal.SIGKILL)
        server.wait()
        assert wait_until_ended(child)
    finally:
        if running(child):
            os.kill(child, signal.SIGKILL)


def test_without_the_prefix_the_command_would_outlive_its_server() -> None:
    """The test above can fail: a command started in a session of its own survives otherwise."""
    server, child = start_server([])
    try:
        server.send_signal(signal.SIGKILL)
        server.wait()
        time.sleep(0.3)
        assert running(child)
    finally:
        os.kill(child, signal.SIGKILL)


def test_the_signal_survives_the_change_to_the_session_user() -> None:
    if os.geteuid() != 0:
        return  # only root changes ids; as another user the prefix holds no --reuid
    server, child = start_server(process.launch([], process.Identity(2_000_321, 2_000_321)))
    try:
        assert Path(f"/proc/{child}").stat().st_uid == 2_000_321
        server.send_signal(signal.SIGKILL)
        server.wait()
        assert wait_until_ended(child)
    finally:
        if running(child):
            os.kill(child, signal.SIGKILL)


def test_the_next_server_sweeps_the_folders_of_a_dead_server_at_once(tmp_path: Path) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "import os; print(os.getpid())"], stdout=subprocess.PIPE, text=True)
    dead.wait()
    # A folder named as the dead server named its own (pid and start time), with a session
    # user's kubectl cache inside; one of a server that still runs (this one); one of an older
    # version, with no server in its name.
    dead_folder = tmp_path / f"{process.SESSION_PREFIX}{dead.pid}.12345-abc"
    (dead_folder / "home" / ".kube").mkdir(parents=True)
    live_folder = tmp_path / f"{process.session_prefix()}def"
    live_folder.mkdir()
    old_style = tmp_path / f"{process.SESSION_PREFIX}ghi"
    old_style.mkdir()
    removed = process.sweep_stale_sessions(str(tmp_path), force=True)
    assert removed == [dead_folder]
    assert not dead_folder.exists()
    assert live_folder.exists()
    assert old_style.exists()  # left to the age rule: a day


def test_a_reused_pid_is_not_the_same_server(tmp_path: Path) -> None:
    """Our own pid, with another start time: the server that made it is gone."""
    folder = tmp_path / f"{process.SESSION_PREFIX}{os.getpid()}.1-xyz"
    folder.mkdir()
    assert process.sweep_stale_sessions(str(tmp_path), force=True) == [folder]
