"""A kind cluster, where Docker and the `kind` binary are present (not on our CI machines)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from django.conf import settings

CONFIG = Path(__file__).resolve().parents[2] / "docker" / "kind" / "cluster.yaml"
NAME = "sandbox"


class KindCluster:
    def __init__(self) -> None:
        self.kubeconfig: Path = settings.CLUSTER_ADMIN_KUBECONFIG

    def _kind(self) -> str:
        found = shutil.which("kind")
        if not found:
            raise FileNotFoundError("`kind` is not on PATH; install kind and Docker, or use CLUSTER=local")
        return found

    def up(self) -> None:
        kind = self._kind()
        existing = subprocess.run([kind, "get", "clusters"], check=True, capture_output=True, text=True).stdout.split()
        self.kubeconfig.parent.mkdir(parents=True, exist_ok=True)
        if NAME not in existing:
            subprocess.run(
                [
                    kind,
                    "create",
                    "cluster",
                    "--name",
                    NAME,
                    "--config",
                    str(CONFIG),
                    "--kubeconfig",
                    str(self.kubeconfig),
                    "--wait",
                    "120s",
                ],
                check=True,
            )
        else:
            out = subprocess.run(
                [kind, "get", "kubeconfig", "--name", NAME], check=True, capture_output=True, text=True
            )
            self.kubeconfig.write_text(out.stdout)
        self.kubeconfig.chmod(0o600)
        print(f"cluster: kind cluster {NAME!r} ready; kubeconfig: {self.kubeconfig}")

    def down(self) -> None:
        subprocess.run([self._kind(), "delete", "cluster", "--name", NAME], check=True)
        self.kubeconfig.unlink(missing_ok=True)

    def status(self) -> int:
        return subprocess.run(["kubectl", "--kubeconfig", str(self.kubeconfig), "get", "nodes"]).returncode
