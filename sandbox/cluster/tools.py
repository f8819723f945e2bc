"""Paths of the programs that the cluster backends and the terminal run."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache
from pathlib import Path

from django.conf import settings

LOCALCLUSTER_DIR = Path(__file__).resolve().parents[2] / "docker" / "localcluster"


@cache
def localcluster_bin() -> Path:
    """The build cache folder for the pinned versions (build.sh owns the layout)."""
    out = subprocess.run(
        ["bash", str(LOCALCLUSTER_DIR / "build.sh"), "--print-bin"], check=True, capture_output=True, text=True
    )
    return Path(out.stdout.strip())


def kubectl() -> str:
    """The kubectl to run: $KUBECTL, else the one built with the local control plane, whose
    version matches the cluster's (the machine's own kubectl may be out of skew)."""
    if settings.KUBECTL:
        return settings.KUBECTL
    built = localcluster_bin() / "kubectl"
    if built.is_file():
        return str(built)
    found = shutil.which("kubectl")
    if found:
        return found
    raise FileNotFoundError("kubectl not found: run `make cluster` to build it, or set KUBECTL")


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
