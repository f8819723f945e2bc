"""Paths of the programs that the cluster backends and the terminal run."""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import cache
from pathlib import Path

from django.conf import settings

BASE_DIR = Path(__file__).resolve().parents[2]
LOCALCLUSTER_DIR = BASE_DIR / "docker" / "localcluster"
DEFAULT_KUBECTL = BASE_DIR / ".cluster" / "bin" / "kubectl"


@cache
def localcluster_bin() -> Path:
    """The build cache folder for the pinned versions (build.sh owns the layout)."""
    out = subprocess.run(
        ["bash", str(LOCALCLUSTER_DIR / "build.sh"), "--print-bin"], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip())


def kubectl() -> str:
    """The kubectl to run: settings.KUBECTL, by default .cluster/bin/kubectl, which `cluster up`
    links to the one built with the local control plane (its version matches the cluster's)."""
    path = Path(settings.KUBECTL)
    if not os.access(path, os.X_OK):
        raise FileNotFoundError(f"no kubectl at {path}: run `make cluster` to build and link it, or set KUBECTL")
    return str(path)


def link_kubectl() -> Path | None:
    """Point settings.KUBECTL at the built kubectl, when it is the default path under
    .cluster/ (a KUBECTL set elsewhere is the operator's own choice). Run by `cluster up`, so
    that nothing at run time has to ask the build script where its output is."""
    target = Path(settings.KUBECTL)
    if target != DEFAULT_KUBECTL:
        return None
    built = localcluster_bin() / "kubectl"
    if not built.is_file():
        found = shutil.which("kubectl")
        if not found:
            return None
        built = Path(found)
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.exists():
        if target.resolve() == built.resolve():
            return target
        target.unlink()
    target.symlink_to(built)
    return target


def write_private(path: Path, text: str) -> None:
    """Write a credentials file readable by its owner only, atomically (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    tmp.chmod(0o600)
    tmp.replace(path)


def pinned_versions() -> dict[str, str]:
    """KUBE_VERSION, ETCD_VERSION and KWOK_VERSION as pinned in docker/localcluster/versions.env."""
    versions = {}
    for line in (LOCALCLUSTER_DIR / "versions.env").read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#"):
            versions[name.strip()] = value.strip()
    return versions
