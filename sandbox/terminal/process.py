"""Starting real kubectl for a student: no shell, a clean environment, a private HOME and
working directory, limits, and — when the server runs as root — an unprivileged user.

Why each piece (see shared notes on what kubectl can do to its host):
- PATH points at an empty folder, so `kubectl foo` finds no plugin and nothing else can run;
- HOME is private per session, so ~/.kube/cache and ~/.kube/config are never shared;
- KUBECONFIG is the student's own (a short-lived token for their namespace), never ours;
- no KUBE_EDITOR or EDITOR, KUBECTL_EXTERNAL_DIFF is ours (`kubectl diff` runs Debian's diff,
  by its full path, on two folders kubectl writes), and kuberc is off;
- as root, each session's kubectl runs as a user id of its own (from SESSION_UIDS, no login,
  no home), which can read neither the platform's files nor another session's token, even if a
  flag slipped past the policy; the session's folder and files belong to root, readable by the
  session's group only, so nothing the student's kubectl does can make root write elsewhere.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from sandbox.cluster.tools import kubectl as kubectl_path

# Only root can write here, so nobody can plant a binary that root would then start.
SHARED_BIN = Path("/usr/local/lib/k8s-sandbox/bin")


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int

    @property
    def drop(self) -> bool:
        return self.uid != os.geteuid()


# Ids no account uses on Debian (they stop well below a million); one per live session.
SESSION_UIDS = range(2_000_000, 3_000_000)


# The ids this process's live sessions hold (handed out, not yet released).
_handed: set[int] = set()
_handed_lock = threading.Lock()


def identity() -> Identity:
    """A fresh, unused user and group id for a session when we can switch ids (root), else ours.
    Unused means: no process runs as it, no session of this server holds it (one with no line
    running has no process), and no session folder of another server on this machine is owned
    by it. Random ids alone would collide: two of 200 sessions share one in about 2 % of
    classes, and each could then read the other's kubeconfig. release() gives it back."""
    if os.geteuid() != 0:
        return Identity(os.geteuid(), os.getegid())
    with _handed_lock:
        busy = {st.st_uid for st in _process_stats()} | _session_owners() | _handed
        while True:
            uid = secrets.choice(SESSION_UIDS)
            if uid not in busy:
                _handed.add(uid)
                return Identity(uid, uid)


def release(ident: Identity) -> None:
    """The session that held this identity has ended (its folder is gone)."""
    with _handed_lock:
        _handed.discard(ident.uid)


def _session_owners() -> set[int]:
    owners = set()
    for home in Path(tempfile.gettempdir()).glob(f"{SESSION_PREFIX}*/home"):
        with contextlib.suppress(OSError):
            owners.add(home.stat().st_uid)
    return owners


def _process_stats() -> list[os.stat_result]:
    stats = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                stats.append(entry.stat())
    return stats


def executable(ident: Identity) -> str:
    """kubectl, at a path the session's user can execute. The build cache usually lives under
    /root, which other users cannot enter, so root copies the binary out once."""
    source = Path(kubectl_path())
    if not ident.drop:
        return str(source)
    target = SHARED_BIN / f"kubectl-{source.stat().st_size}"
    if not target.exists():
        SHARED_BIN.mkdir(parents=True, exist_ok=True)
        for folder in (SHARED_BIN, SHARED_BIN.parent):
            folder.chmod(0o755)
        tmp = target.with_suffix(".tmp")
        shutil.copyfile(source, tmp)
        tmp.chmod(stat.S_IRWXU | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        tmp.replace(target)
    return str(target)


KUBECTL_MEMORY = 1024 * 1024 * 1024
DIFF = shutil.which("diff", path="/usr/bin:/bin") or "/usr/bin/diff"


def environment(home: Path, kubeconfig: Path, empty_path: Path, cols: int, rows: int) -> dict[str, str]:
    return {
        # Collect garbage well before the hard memory limit set by limits().
        "GOMEMLIMIT": str(KUBECTL_MEMORY // 2),
        # When the cap is hit, say "out of memory", not a thousand lines of goroutines.
        "GOTRACEBACK": "none",
        "HOME": str(home),
        "PATH": str(empty_path),
        "KUBECONFIG": str(kubeconfig),
        "KUBECTL_KUBERC": "false",
        # PATH finds nothing, so `kubectl diff` needs the program's full path; with its options.
        "KUBECTL_EXTERNAL_DIFF": f"{DIFF} -u -N",
        "KUBERC": "off",
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "COLUMNS": str(cols),
        "LINES": str(rows),
    }


def launcher() -> str:
    """The terminal's launcher (sandbox/terminal/launch.c, built by `make deps`)."""
    path = Path(settings.TERMINAL_LAUNCHER)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"the terminal launcher is missing at {path}: run `make deps`, which builds it")
    return str(path)


def limits(ident: Identity) -> list[str]:
    """Each kubectl's own limits, set by the launcher before it execs: a ceiling per process,
    beside the student's group (sandbox.terminal.ceiling) that caps their processes together.
    Setting the limits of a running process of another user needs CAP_SYS_RESOURCE, which a
    container often lacks (seen here), so the process sets its own."""
    values = [
        "core=0",
        "nofile=256",
        # Memory: a Go template can double a string in a loop; one line could otherwise take the
        # machine's memory (Go maps its heap, which RLIMIT_DATA counts).
        f"data={KUBECTL_MEMORY}",
        f"fsize={64 * 1024 * 1024}",  # kubectl writes only its small discovery cache
    ]
    if ident.drop:
        # Processes and threads of the session's own user (kubectl's Go runtime uses a few dozen);
        # only with a user of its own: otherwise it would count the server's threads too.
        values.append("nproc=256")
    return [flag for value in values for flag in ("-l", value)]


def launch(argv: list[str], ident: Identity, join_files: list[Path] | None = None) -> list[str]:
    """`argv` (an absolute path first) started through the launcher, which in one exec: enters
    the student's resource group in each hierarchy (`join_files`; it stops with status 126
    rather than run outside it), sets the process's limits, drops to the session's user (when
    `ident` is one of its own), and then ties the command's life to this server's with the
    parent-death signal, set after the change of ids, which would clear it. A web process that
    is killed outright (SIGKILL, OOM) takes its kubectl with it, as a process group kill cannot."""
    command = [launcher()]
    for path in join_files or []:
        command += ["-j", str(path)]
    command += limits(ident)
    if ident.drop:
        command += ["-u", str(ident.uid)]
    return [*command, "--", *argv]


SESSION_PREFIX = "k8s-terminal-"
STALE_AFTER_SECONDS = 24 * 3600


def session_prefix() -> str:
    """A session folder's name begins with its server's pid and that process's start time, so
    the next server can tell a folder whose server is gone (its processes died with it) from
    one of a server still running beside it."""
    return f"{SESSION_PREFIX}{os.getpid()}.{_start_time(os.getpid())}-"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot (field 22 of /proc/PID/stat): with the
    pid, it names one process even after the pid is reused."""
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat_line.rpartition(")")[2].split()[19]


def _server_gone(name: str) -> bool:
    """Is the server named in a session folder's name (see session_prefix) no longer running?
    False for a name without one (an older folder: left to the age rule)."""
    owner, dash, _ = name.removeprefix(SESSION_PREFIX).partition("-")
    pid, dot, started = owner.partition(".")
    if not (dash and dot and pid.isdigit() and started.isdigit()):
        return False
    return _start_time(int(pid)) != started


def write_for_group(path: Path, text: str, ident: Identity) -> None:
    """Write a file that the session's user may read and nobody else, atomically, in a folder
    the session's user cannot write to (so there is no symlink to follow)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o640 if ident.drop else 0o600)
    try:
        if ident.drop:
            os.fchown(fd, 0, ident.gid)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


_swept: list[bool] = []


def sweep_stale_sessions(folder: str, *, force: bool = False) -> list[Path]:
    """Remove the folders of sessions that ended without cleaning up: at once those of a server
    that is gone (killed: its kubectl died with it, see bound_to_server), after a day any other.
    Once per process (the first session; `force` for tests): a new session need not scan the
    temporary folder again. Returns what it removed."""
    if _swept and not force:
        return []
    _swept.append(True)
    cutoff = time.time() - STALE_AFTER_SECONDS
    removed = []
    for entry in Path(folder).glob(f"{SESSION_PREFIX}*"):
        with contextlib.suppress(OSError):
            if not entry.is_dir() or entry.is_symlink():
                continue
            if _server_gone(entry.name) or entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry, ignore_errors=True)
                removed.append(entry)
    return removed


def kill_everything_of(ident: Identity) -> None:
    """End every process running as the session's own user id: whatever a command may have
    left behind (a process in a new session escapes the process-group kill)."""
    kill = shutil.which("kill", path="/usr/bin:/bin")  # a system binary the session's user can run
    if not ident.drop or kill is None:
        return
    subprocess.run(
        [kill, "-9", "-1"],  # procps kill: signal 9 to pid -1, every process this user may signal
        user=ident.uid,
        group=ident.gid,
        extra_groups=[],
        env={},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        timeout=10,
        check=False,
    )


def exit_status(returncode: int | None) -> int:
    """A shell-style status: killed by signal N becomes 128+N (130 for Ctrl-C)."""
    if returncode is None:
        return 1
    return 128 - returncode if returncode < 0 else returncode
