"""Starting real kubectl for a student: no shell, a clean environment, a private HOME and
working directory, limits, and — when the server runs as root — an unprivileged user.

Why each piece (see shared notes on what kubectl can do to its host):
- PATH points at an empty folder, so `kubectl foo` finds no plugin and nothing else can run;
- HOME is private per session, so ~/.kube/cache and ~/.kube/config are never shared;
- KUBECONFIG is the student's own (a short-lived token for their namespace), never ours;
- no KUBE_EDITOR, EDITOR or KUBECTL_EXTERNAL_DIFF, and kuberc is off;
- as root, kubectl runs as `nobody`, which cannot read the platform's files even if a flag
  slipped past the policy.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import resource
import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

from sandbox.cluster.tools import kubectl as kubectl_path

UNPRIVILEGED = "nobody"
# Only root can write here, so nobody can plant a binary that root would then start.
SHARED_BIN = Path("/usr/local/lib/k8s-sandbox/bin")


@dataclass(frozen=True)
class Identity:
    uid: int
    gid: int

    @property
    def drop(self) -> bool:
        return self.uid != os.geteuid()


def identity() -> Identity:
    if os.geteuid() == 0:
        entry = pwd.getpwnam(UNPRIVILEGED)
        return Identity(entry.pw_uid, entry.pw_gid)
    return Identity(os.geteuid(), os.getegid())


def executable(ident: Identity) -> str:
    """kubectl, at a path the (possibly unprivileged) user can execute. The build cache usually
    lives under /root, which `nobody` cannot enter, so root copies the binary out once."""
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


def environment(home: Path, kubeconfig: Path, empty_path: Path, cols: int, rows: int) -> dict[str, str]:
    return {
        "HOME": str(home),
        "PATH": str(empty_path),
        "KUBECONFIG": str(kubeconfig),
        "KUBECTL_KUBERC": "false",
        "KUBERC": "off",
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "COLUMNS": str(cols),
        "LINES": str(rows),
    }


def apply_limits(pid: int) -> None:
    """Set right after the start (a preexec function is unsafe in a threaded server)."""
    for limit, value in (
        (resource.RLIMIT_CORE, 0),
        (resource.RLIMIT_NOFILE, 256),
        (resource.RLIMIT_FSIZE, 64 * 1024 * 1024),  # kubectl writes only its small discovery cache
    ):
        # The process may already have ended, or the platform forbid it: the other guards remain.
        with contextlib.suppress(OSError):
            resource.prlimit(pid, limit, (value, value))
