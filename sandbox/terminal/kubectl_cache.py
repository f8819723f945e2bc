"""A warm kubectl cache for every new terminal session.

Each session has a home of its own, so each student's first kubectl would discover the API
(which kinds exist, in which groups) and fetch the OpenAPI schemas `apply` and `explain` read,
before doing what was typed: requests and megabytes of JSON that are the same for everyone, all
at once when a class starts. `build()` makes that cache once, with the platform's kubectl and
identity (discovery is the same for every identity), when the cluster comes up
(`manage.py cluster up`); each session gets a copy of it, owned by the session's user.

A copy's files are new, so kubectl's own expiry (6 hours for discovery) counts from the
session's start; a kind added to the cluster later is no problem either: kubectl fetches
discovery again by itself when it meets a kind its cache does not know. A cache older than that
expiry is not handed out (sessions start cold): run the install again to warm it.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import subprocess
import tempfile
import time
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)
# kubectl's own expiry for discovery: an older cache (a server running for days since the
# install) is not handed out, so that kinds removed since are not believed in.
MAX_AGE_SECONDS = 6 * 3600
# What a student's early lines need: discovery (every command), the OpenAPI schemas that
# `apply` and `explain` read for the kinds the lessons start with.
WARM_UP = (
    ["api-resources"],
    ["explain", "pods"],
    ["explain", "deployments"],
    ["explain", "services"],
)


def build(kubectl: Path, kubeconfig: Path, target: Path) -> bool:
    """Make the cache at `target` (replacing the one there). False, and nothing changed, when
    the cluster did not answer."""
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".kubectl-cache-", dir=target.parent))
    cache = scratch / "cache"
    try:
        for args in WARM_UP:
            done = subprocess.run(
                [str(kubectl), "--kubeconfig", str(kubeconfig), "--cache-dir", str(cache), *args],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
                env={"PATH": "/usr/bin:/bin", "HOME": str(scratch), "KUBECTL_KUBERC": "false"},
            )
            if done.returncode != 0:
                log.warning("kubectl %s failed while warming its cache: %s", " ".join(args), done.stderr[-300:])
                return False
        # Readable by everyone (sessions copy it as the server, which may not be root).
        for path in [cache, *cache.rglob("*")]:
            path.chmod(0o755 if path.is_dir() else 0o644)
        old = target.parent / f".{target.name}-old"
        shutil.rmtree(old, ignore_errors=True)
        if target.exists():
            target.rename(old)
        cache.rename(target)
        shutil.rmtree(old, ignore_errors=True)
        return True
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _trusted(status: os.stat_result) -> bool:
    """Made by the platform: owned by root or this server's user, and writable by no one else.
    What another user could have written is never copied into a student's session (kubectl
    believes its cache: a planted schema or discovery file would mislead every student)."""
    return status.st_uid in (0, os.geteuid()) and not status.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _not_plain(folder: str, names: list[str]) -> set[str]:
    """copytree's ignore: whatever is neither a regular file nor a folder (a link, a device), and
    whatever is not the platform's own (see _trusted)."""
    skipped = set()
    for name in names:
        status = os.lstat(os.path.join(folder, name))
        if not (stat.S_ISREG(status.st_mode) or stat.S_ISDIR(status.st_mode)) or not _trusted(status):
            skipped.add(name)
    return skipped


def seed(home: Path, uid: int | None, gid: int | None) -> bool:
    """Copy the warm cache into a new session's home (home/.kube/cache, owned by uid:gid when
    given). Call it before the session's user runs anything: we write into its home. False when
    there is no cache (this session's first kubectl then discovers the API itself)."""
    source = settings.TERMINAL_KUBECTL_CACHE
    try:
        built = source.lstat()
    except OSError:
        return False
    if not stat.S_ISDIR(built.st_mode) or time.time() - built.st_mtime > MAX_AGE_SECONDS:
        return False  # none, or as old as kubectl's own expiry: let the session discover afresh
    if not _trusted(built):
        log.warning("the kubectl cache %s is not the platform's own (owner or mode): not handed out", source)
        return False
    kube = home / ".kube"
    try:
        # copy, not copy2: new modification times (kubectl's expiry counts from them). Regular
        # files and folders only: we copy as root into a home the student's user will own.
        shutil.copytree(source, kube / "cache", ignore=_not_plain, copy_function=shutil.copy)
        if uid is not None and gid is not None:
            for path in [kube, *kube.rglob("*")]:
                os.lchown(path, uid, gid)
    except OSError as exc:  # replaced under us (a rebuild): this session starts cold
        log.info("no warm kubectl cache for this session (%s)", exc)
        shutil.rmtree(kube, ignore_errors=True)
        return False
    return True
