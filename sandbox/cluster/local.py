"""The local control plane: upstream etcd, kube-apiserver, kube-controller-manager and
kube-scheduler run as plain processes by `kwokctl --runtime binary`, with kwok playing the
kubelet on a few fake nodes, and a real worker node beside them wherever the machine can run
one (sandbox/cluster/node.py; LOCAL_REAL_NODE, CLUSTER=local-sim). Built by
docker/localcluster/build.sh; nothing is downloaded."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings

from sandbox.cluster import hoststate
from sandbox.cluster.nodeconfig import KWOK_TAINT, apiserver_options, apiserver_patches
from sandbox.cluster.tools import LOCALCLUSTER_DIR, localcluster_bin, write_private

if TYPE_CHECKING:
    from sandbox.cluster.node import RealNode

NAME = "sandbox"
BINARIES = {
    "--kube-apiserver-binary": "kube-apiserver",
    "--kube-controller-manager-binary": "kube-controller-manager",
    "--kube-scheduler-binary": "kube-scheduler",
    "--kwok-controller-binary": "kwok",
    "--etcd-binary": "etcd",
}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _say(message: str) -> None:
    print(f"cluster: {message}", flush=True)


class LocalCluster:
    def __init__(self, real_node: str = "auto") -> None:
        """real_node: "auto" (where the machine can run it), "require" or "off"."""
        self.kubeconfig: Path = settings.CLUSTER_ADMIN_KUBECONFIG
        self.workdir = self.kubeconfig.parent / "kwok"
        # kwokctl reads its configuration once, when it creates the cluster; the stamp says
        # which configuration the existing cluster was created with.
        self.config = self.kubeconfig.parent / "kwokctl.yaml"
        self.stamp = self.kubeconfig.parent / "kwokctl.sha256"
        self.mode = real_node
        # Decided by `up` for "auto"; before that, whether a real node is asked for at all.
        self.real_node = real_node != "off"

    # --- commands -------------------------------------------------------------------------
    def up(self) -> None:
        started = time.monotonic()
        self.real_node = self._decide_real_node()
        self._build()
        if self.real_node:
            # Before the control plane is (re)created with the real node's options.
            missing = self.node().binaries_lack()
            if missing:
                raise RuntimeError("the real node's programs are missing: " + "; ".join(missing))
        config = self._render_config()
        if self.real_node:
            # The API server binds the node's address: it must exist before the API server starts.
            self.node().prepare_host()
        if self._admin_kubeconfig().is_file() and self._stamp() != _digest(config):
            _say("the cluster configuration changed (docker/localcluster/kwokctl.yaml); recreating the cluster")
            self._kwokctl("delete", "cluster", check=False)
            shutil.rmtree(self.workdir, ignore_errors=True)
        if self._ready(self._admin_kubeconfig()):
            _say("already running")
        elif self._admin_kubeconfig().is_file():
            _say("restarting the existing cluster")
            self._kwokctl("stop", "cluster", check=False)
            if self._kwokctl("start", "cluster", check=False).returncode != 0 or not self._wait_ready(60):
                _say("restart failed; recreating the cluster")
                self._kwokctl("delete", "cluster", check=False)
                self._create()
        else:
            self._create()
        self._kubectl("apply", "-f", str(LOCALCLUSTER_DIR / "nodes.yaml"))
        if self.real_node:
            # Students' Pods go to the real node; only Pods that tolerate this stay on kwok's.
            self._kubectl("taint", "nodes", "-l", "type=kwok", KWOK_TAINT, "--overwrite")
            self.node().up()
            self._cluster_dns()
        elif (self.kubeconfig.parent / "node").exists():
            _say("no real node asked for: removing the one that ran")
            self.node().down()
        self._kubectl("wait", "--for=condition=Ready", "node", "--all", "--timeout=60s")
        # The controllers are up once the ServiceAccount controller has made `default`.
        self._kubectl("wait", "--for=create", "serviceaccount/default", "-n", "default", "--timeout=120s")
        self._write_kubeconfig()
        _say(f"ready in {time.monotonic() - started:.1f}s; kubeconfig: {self.kubeconfig}")

    def down(self) -> None:
        # Whatever the setting says now: a node that runs is stopped and the machine restored,
        # also after a killed node of another checkout (its record is the machine's).
        if (self.kubeconfig.parent / "node").exists() or hoststate.STATE_FILE.exists():
            self.node().down()
        if self.workdir.exists():
            self._kwokctl("delete", "cluster", check=False)
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.kubeconfig.unlink(missing_ok=True)
        self.stamp.unlink(missing_ok=True)
        _say("removed")

    def status(self) -> int:
        if not self._ready(self._admin_kubeconfig()):
            _say("not running (start it with `make cluster`)")
            return 1
        self._kubectl("version")
        self._kubectl("get", "nodes", "-o", "wide")
        if self.mode == "require" or (self.kubeconfig.parent / "node").exists():
            # The system Pods (CoreDNS) that run on it.
            self._kubectl("get", "pods", "-n", "kube-system", "-o", "wide")
            states = self.node().status()
            for program, state in states:
                _say(f"node: {program}: {state}")
            if any(state == "not running" for _, state in states):
                _say("node: a program of the real node is not running (`make cluster` restarts it)")
                return 1
        return 0

    # --- steps ----------------------------------------------------------------------------
    def _decide_real_node(self) -> bool:
        if self.mode == "off":
            return False
        from sandbox.cluster.node import machine_lacks

        missing = machine_lacks()
        if not missing:
            return True
        lacks = "; ".join(missing)
        if self.mode == "require":
            raise RuntimeError(
                f"the real node is required (LOCAL_REAL_NODE=require; `make test` asks for it) but this machine "
                f"lacks: {lacks}"
            )
        _say(f"starting the simulated nodes only: a real node needs what this machine lacks: {lacks}")
        _say("(CLUSTER=local-sim asks for the simulated nodes on purpose, without this message)")
        return False

    def _build(self) -> None:
        node = ["--node"] if self.real_node else ["--no-node"]
        subprocess.run(["bash", str(LOCALCLUSTER_DIR / "build.sh"), *node], check=True)

    def _create(self) -> None:
        _say("creating (etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kwok)")
        bin_dir = localcluster_bin()
        flags: list[str] = []
        for flag, binary in BINARIES.items():
            flags += [flag, str(bin_dir / binary)]
        config = self._render_config()
        self.config.parent.mkdir(parents=True, exist_ok=True)
        self.config.write_text(config)
        self._kwokctl(
            "-c",
            str(self.config),
            "create",
            "cluster",
            # Keep kwokctl away from ~/.kube/config: our kubeconfig is written below.
            "--kubeconfig",
            "",
            "--wait",
            "90s",
            *flags,
        )
        if not self._wait_ready(60):
            raise RuntimeError(f"the API server did not become ready; see logs in {self.workdir}/clusters/{NAME}/logs")
        self.stamp.write_text(_digest(config))

    def _cluster_dns(self) -> None:
        """CoreDNS behind the kube-dns Service (the address the kubelet gives Pods)."""
        from sandbox.cluster import images

        manifest = (LOCALCLUSTER_DIR / "coredns.yaml").read_text().replace("@COREDNS_IMAGE@", images.coredns_image())
        self._kubectl("apply", "-f", "-", input=manifest)
        self._kubectl("rollout", "status", "deployment/coredns", "-n", "kube-system", "--timeout=90s")

    def _render_config(self) -> str:
        """docker/localcluster/kwokctl.yaml with the API server's and kwok's options for the
        real node when it runs (without it the marker line goes, so the configuration is exactly
        the simulated cluster's)."""
        text = (LOCALCLUSTER_DIR / "kwokctl.yaml").read_text()
        options = apiserver_options() if self.real_node else ""
        patches = apiserver_patches(self._pki()) if self.real_node else ""
        text = re.sub(r"^  # @REAL_NODE_OPTIONS@.*\n", lambda _: options, text, count=1, flags=re.M)
        return re.sub(r"^  # @REAL_NODE_PATCHES@.*\n", lambda _: patches, text, count=1, flags=re.M)

    def _stamp(self) -> str:
        return self.stamp.read_text().strip() if self.stamp.is_file() else ""

    def _write_kubeconfig(self) -> None:
        write_private(self.kubeconfig, self._kwokctl("get", "kubeconfig", capture=True).stdout)

    def node(self) -> RealNode:
        """The real node of this cluster (whether it runs or not)."""
        from sandbox.cluster.node import RealNode

        server = ""
        if self._admin_kubeconfig().is_file():
            server = subprocess.run(
                [
                    str(localcluster_bin() / "kubectl"),
                    "config",
                    "view",
                    "--kubeconfig",
                    str(self._admin_kubeconfig()),
                    "-o",
                    "jsonpath={.clusters[0].cluster.server}",
                ],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        return RealNode(self.kubeconfig.parent, self._pki(), server, self._admin_kubeconfig())

    # --- helpers --------------------------------------------------------------------------
    def _admin_kubeconfig(self) -> Path:
        return self.workdir / "clusters" / NAME / "kubeconfig.yaml"

    def _pki(self) -> Path:
        """The certificates kwokctl generated: its CA signs the real node's."""
        return self.workdir / "clusters" / NAME / "pki"

    def _env(self) -> dict[str, str]:
        bin_dir = localcluster_bin()
        return {
            **os.environ,
            "KWOK_WORKDIR": str(self.workdir),
            "KWOK_KUBECTL_BINARY": str(bin_dir / "kubectl"),
            # Nothing may be downloaded: a binary path left unset would make kwokctl try.
            "KWOK_RUNTIME": "binary",
        }

    def _kwokctl(self, *args: str, check: bool = True, capture: bool = False) -> subprocess.CompletedProcess[str]:
        command = [str(localcluster_bin() / "kwokctl"), "--name", NAME, *args]
        return subprocess.run(command, env=self._env(), check=check, text=True, capture_output=capture)

    def _kubectl(self, *args: str, input: str | None = None) -> None:
        command = [str(localcluster_bin() / "kubectl"), "--kubeconfig", str(self._admin_kubeconfig()), *args]
        subprocess.run(command, check=True, stdout=sys.stdout, stderr=sys.stderr, input=input, text=True)

    def _ready(self, kubeconfig: Path) -> bool:
        if not kubeconfig.is_file():
            return False
        probe = subprocess.run(
            [
                str(localcluster_bin() / "kubectl"),
                "--kubeconfig",
                str(kubeconfig),
                "--request-timeout=2s",
                "get",
                "--raw=/readyz",
            ],
            capture_output=True,
            text=True,
        )
        return probe.returncode == 0 and probe.stdout.strip() == "ok"

    def _wait_ready(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._ready(self._admin_kubeconfig()):
                return True
            time.sleep(0.5)
        return False
