"""The local cluster's real worker node: a private containerd, the kubelet and kube-proxy, and
kube-router's DaemonSet as the NetworkPolicy controller.

Started by `manage.py cluster up` after the control plane wherever the machine can run it
(LOCAL_REAL_NODE, sandbox/cluster/local.py), so that Pods run real containers (runc, a CNI
bridge network) beside kwok's fake nodes. Everything lives in .cluster/node/ (see
nodeconfig.py); hoststate.py records and undoes what the programs change on the machine.
Needs root.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from sandbox.cluster import hoststate, images, pki
from sandbox.cluster.nodeconfig import (
    APISERVER_CHAIN,
    APISERVER_PORT,
    BRIDGE,
    CGROUP_ROOT,
    CNI_NETWORK,
    NODE_IP,
    NODE_NAME,
    SERVICE_RANGE,
    NodePaths,
    as_text,
    cni_conflist,
    containerd_config,
    kube_proxy_config,
    kubeconfig,
    kubelet_config,
)
from sandbox.cluster.tools import LOCALCLUSTER_DIR, localcluster_bin

# The node's own programs in the order they stop (the reverse of the order they start).
PROGRAMS = ("kube-proxy", "kubelet", "containerd")

HOST_PROGRAMS = {
    "containerd": "containerd",
    "containerd-shim-runc-v2": "containerd",
    "runc": "runc",
    "ctr": "containerd",
    "iptables": "iptables",
    "ipset": "ipset",
    "ip": "iproute2",
}


# What the node's Pods need from the kernel, each with a read-only way to tell: overlay image
# layers and the bridge network (veth is checked by using it: this kernel builds it in without
# a trace in /sys/module).
KERNEL_FEATURES = {
    "overlay": ("/sys/module/overlay", "overlay"),
    "bridge": ("/sys/module/bridge", "bridge"),
}


def _say(message: str) -> None:
    print(f"cluster: node: {message}", flush=True)


def machine_lacks() -> list[str]:
    """What this machine lacks to run the real node (besides the binaries we build), in words a
    person can act on. Empty: the node can run here."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (the node mounts, creates network devices and cgroups; run as root)")
    for program, package in HOST_PROGRAMS.items():
        if not shutil.which(program):
            missing.append(f"{program} (Debian package {package}; docker/system-deps.sh installs it)")
    if not images.BUSYBOX.is_file():
        missing.append("/bin/busybox for the busybox image (Debian package busybox-static)")
    if not Path("/usr/lib/cni/bridge").is_file():
        missing.append("the CNI plugins in /usr/lib/cni (Debian package containernetworking-plugins)")
    if not hoststate.cgroup_hierarchies(v1_only=True):
        missing.append("cgroup v1 hierarchies under /sys/fs/cgroup")
    missing += [f"the kernel's {feature} support" for feature in KERNEL_FEATURES if not kernel_has(feature)]
    return missing


def kernel_has(feature: str) -> bool:
    """Loaded, built in, or available to load; nothing is loaded here."""
    sysfs, module = KERNEL_FEATURES[feature]
    if Path(sysfs).exists():
        return True
    if feature == "overlay" and "overlay" in Path("/proc/filesystems").read_text():
        return True
    release = os.uname().release
    for listing in ("modules.builtin", "modules.dep"):
        with contextlib.suppress(OSError):
            if f"/{module}.ko" in Path("/lib/modules", release, listing).read_text():
                return True
    return False


@dataclass(frozen=True)
class Program:
    name: str
    command: list[str]


class RealNode:
    def __init__(self, cluster_dir: Path, pki_dir: Path, server: str, admin_kubeconfig: Path) -> None:
        """cluster_dir: .cluster; pki_dir: the kwokctl cluster's pki (its CA signs the node's
        certificates); server: the API server's URL; admin_kubeconfig: to read what the kubelet
        knows (the node's own identity may not)."""
        self.admin_kubeconfig = admin_kubeconfig
        self.paths = NodePaths(cluster_dir / "node")
        self.cluster_pki = pki_dir
        self.server = server
        self.state_file = hoststate.STATE_FILE
        self.stamp = self.paths.root / "config.sha256"
        self._started: dict[str, subprocess.Popen[bytes]] = {}
        self._since = datetime.datetime.now(datetime.UTC)

    # --- commands ---------------------------------------------------------------------------
    def preflight(self) -> list[str]:
        """What this machine lacks to run the node, in words a person can act on."""
        return machine_lacks() + self.binaries_lack()

    def binaries_lack(self) -> list[str]:
        return [
            f"{binary} (bash docker/localcluster/build.sh --node builds it)"
            for binary in ("kubelet", "kube-proxy", "coredns", "kube-router")
            if not (localcluster_bin() / binary).is_file()
        ]

    def up(self) -> None:
        started = time.monotonic()
        self._started = {}  # the programs this call starts
        # Heartbeats have a one-second resolution.
        self._since = datetime.datetime.now(datetime.UTC).replace(microsecond=0) - datetime.timedelta(seconds=1)
        missing = self.preflight()
        if missing:
            raise RuntimeError("the real node cannot start; missing: " + "; ".join(missing))
        self.prepare_host()
        digest = self._write_files()
        if self.stamp.is_file() and self.stamp.read_text().strip() != digest:
            _say("configuration or certificates changed; restarting the node's programs")
            for program in PROGRAMS:
                self._stop(program)
        hoststate.make_cgroup_root(CGROUP_ROOT)
        self._ensure(self._containerd())
        self._wait_containerd()
        self._import_images()
        self._ensure(self._kubelet())
        self._ensure(self._kube_proxy())
        self.stamp.write_text(digest)
        self._wait_ready(90)
        self._policy_controller(90)
        _say(f"{NODE_NAME} Ready in {time.monotonic() - started:.1f}s")

    def down(self) -> None:
        """Stop everything the node started and put the machine back as it was."""
        other = hoststate.owner()
        if other not in (None, self.paths.root) and hoststate.pids_mentioning(str(other) + "/"):
            # The machine's node is another checkout's, and it runs: its state is not ours to undo.
            _say(f"the real node running on this machine is {other}'s; left as it is")
            if not hoststate.mounts_under(self.paths.root):
                shutil.rmtree(self.paths.root, ignore_errors=True)
            return
        for program in ("kube-proxy", "kubelet"):  # containerd after the Pods, below
            self._stop(program)
        # Also a copy whose pid file was lost: its command line names our configuration.
        for stray in (self._kube_proxy(), self._kubelet()):
            hoststate.kill_all(hoststate.pids_with_argument(stray.command[1]), grace=5)
        # The Pods' processes, then containerd's shims (they outlive containerd), then containerd.
        for _ in range(3):
            pids = hoststate.cgroup_pids(CGROUP_ROOT)
            if not pids:
                break
            hoststate.kill_all(pids, grace=2)
        hoststate.kill_all(hoststate.pids_with_argument(str(self.paths.socket)), grace=2)
        self._stop("containerd")
        hoststate.kill_all(hoststate.pids_with_argument(str(self.paths.containerd_config)), grace=5)
        sandboxes = self._sandbox_ids()
        hoststate.unmount_under(self.paths.root)
        hoststate.remove_cgroups(CGROUP_ROOT)
        hoststate.delete_link(BRIDGE)
        subprocess.run(["ip", "addr", "del", f"{NODE_IP}/32", "dev", "lo"], capture_output=True)
        hoststate.remove_chains()
        hoststate.remove_ip_sets()  # kube-router's, once no rule uses them
        # The CNI result cache (outside our folder, named after the network and the sandbox).
        for cached in Path("/var/lib/cni/results").glob("*"):
            if cached.name.startswith(f"{CNI_NETWORK}-") or any(f"-{sandbox}-" in cached.name for sandbox in sandboxes):
                cached.unlink(missing_ok=True)
        self._clear_other_checkout()
        hoststate.release()
        problems = hoststate.restore(self.state_file)
        if hoststate.mounts_under(self.paths.root):
            problems.append(f"mounts left under {self.paths.root}")
        else:
            shutil.rmtree(self.paths.root, ignore_errors=True)
        for problem in problems:
            _say(f"could not restore: {problem}")
        _say("stopped and removed")

    def _sandbox_ids(self) -> list[str]:
        """The Pod sandboxes our containerd made (their loopback results are cached by id)."""
        folder = self.paths.containerd / "root" / "io.containerd.grpc.v1.cri" / "sandboxes"
        return [entry.name for entry in folder.iterdir()] if folder.is_dir() else []

    def status(self) -> list[tuple[str, str]]:
        """(program, state) of containerd, the kubelet and kube-proxy (kube-router is a Pod)."""
        return [(name, f"running (pid {pid})" if pid else "not running") for name, pid in self.pids().items()]

    def pids(self) -> dict[str, int | None]:
        return {name: self._pid(name) for name in reversed(PROGRAMS)}

    # --- files ----------------------------------------------------------------------------------
    def _write_files(self) -> str:
        """Write every configuration file and certificate; return a digest of them all, so that
        `up` restarts the programs when any changed (e.g. a recreated cluster's new CA)."""
        p = self.paths
        for folder in (
            p.pki,
            p.containerd,
            p.cni_conf,
            p.cni_ipam,
            p.kubelet_root,
            p.pod_logs,
            p.kube_proxy,
            p.logs,
            p.run,
        ):
            folder.mkdir(parents=True, exist_ok=True)
        p.root.chmod(0o700)
        ca_file = self.cluster_pki / "ca.crt"
        pki.node_certificates(
            ca_cert=ca_file, ca_key=self.cluster_pki / "ca.key", out=p.pki, node_name=NODE_NAME, node_ip=NODE_IP
        )
        files = {
            p.containerd_config: containerd_config(p),
            p.cni_conf / "10-sandbox-pods.conflist": as_text(cni_conflist(p)),
            p.kubelet / "config.yaml": as_text(kubelet_config(p, ca_file)),
            p.kubelet / "kubeconfig": as_text(
                kubeconfig(
                    self.server,
                    ca_file,
                    p.pki / "kubelet-client.crt",
                    p.pki / "kubelet-client.key",
                    f"system:node:{NODE_NAME}",
                )
            ),
            p.kube_proxy / "config.yaml": as_text(kube_proxy_config(p)),
            p.kube_proxy / "kubeconfig": as_text(
                kubeconfig(
                    self.server, ca_file, p.pki / "kube-proxy.crt", p.pki / "kube-proxy.key", "system:kube-proxy"
                )
            ),
        }
        digest = hashlib.sha256()
        for path, text in files.items():
            if not path.is_file() or path.read_text() != text:
                path.write_text(text)
            digest.update(f"{path}\0{text}\0".encode())
        for cert in sorted(p.pki.iterdir()):
            digest.update(cert.read_bytes())
        digest.update(ca_file.read_bytes())
        return digest.hexdigest()

    # --- network --------------------------------------------------------------------------------
    def prepare_host(self) -> None:
        """What the control plane needs of the node before it starts (the API server binds the
        node's address), recorded first so that `down` can put the machine back."""
        self.paths.root.mkdir(parents=True, exist_ok=True)
        self._clear_other_checkout()
        hoststate.record(self.state_file)
        hoststate.claim(self.paths.root)
        self._network()

    def _clear_other_checkout(self) -> None:
        """Another checkout's node on this machine: if it runs, refuse (they would share the
        node's address, bridge and ports); if it was killed outright, unmount what it left. Its
        chains, bridge, cgroups and the kernel settings are the machine's and `down` handles them."""
        other = hoststate.owner()
        if other is None or other == self.paths.root:
            return
        running = hoststate.pids_mentioning(str(other) + "/")
        if running:
            raise RuntimeError(
                f"another checkout's real node runs on this machine ({other}; pids "
                f"{', '.join(map(str, running[:5]))}); only one can run at a time: run "
                f"`make cluster-down` in that checkout first"
            )
        _say(f"clearing what a killed node left in {other}")
        hoststate.unmount_under(other)

    def _network(self) -> None:
        addresses = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True).stdout
        if f" {NODE_IP}/32 " not in addresses:
            subprocess.run(["ip", "addr", "add", f"{NODE_IP}/32", "dev", "lo"], check=True)
        # Bridged Pod traffic must pass iptables (Services, masquerading): br_netfilter.
        if not Path("/proc/sys/net/bridge").is_dir():
            subprocess.run(["modprobe", "br_netfilter"], capture_output=True)
        # Local clients (kwokctl's kubeconfigs name 127.0.0.1) reach the API server on the node's
        # address. Only this machine's own connections: nat OUTPUT never sees forwarded traffic.
        nat = ["iptables", "-w", "-t", "nat"]
        subprocess.run([*nat, "-N", APISERVER_CHAIN], capture_output=True)
        subprocess.run([*nat, "-F", APISERVER_CHAIN], check=True)
        redirect = ["-d", "127.0.0.1/32", "-p", "tcp", "--dport", str(APISERVER_PORT)]
        target = ["-j", "DNAT", "--to-destination", f"{NODE_IP}:{APISERVER_PORT}"]
        subprocess.run([*nat, "-A", APISERVER_CHAIN, *redirect, *target], check=True)
        if subprocess.run([*nat, "-C", "OUTPUT", "-j", APISERVER_CHAIN], capture_output=True).returncode != 0:
            subprocess.run([*nat, "-I", "OUTPUT", "-j", APISERVER_CHAIN], check=True)

    # --- programs -------------------------------------------------------------------------------
    def _containerd(self) -> Program:
        return Program(
            "containerd", [shutil.which("containerd") or "containerd", "--config", str(self.paths.containerd_config)]
        )

    def _kubelet(self) -> Program:
        p = self.paths
        return Program(
            "kubelet",
            [
                str(localcluster_bin() / "kubelet"),
                f"--config={p.kubelet / 'config.yaml'}",
                f"--kubeconfig={p.kubelet / 'kubeconfig'}",
                f"--root-dir={p.kubelet_root}",
                f"--cert-dir={p.pki}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={NODE_IP}",
                "--v=1",
            ],
        )

    def _kube_proxy(self) -> Program:
        return Program(
            "kube-proxy",
            [str(localcluster_bin() / "kube-proxy"), f"--config={self.paths.kube_proxy / 'config.yaml'}", "--v=1"],
        )

    def _admin(self, *args: str, input: str | None = None) -> subprocess.CompletedProcess[str]:
        command = [str(localcluster_bin() / "kubectl"), "--kubeconfig", str(self.admin_kubeconfig), *args]
        return subprocess.run(command, input=input, capture_output=True, text=True)

    def _pid_file(self, name: str) -> Path:
        return self.paths.run / f"{name}.pid"

    def _pid(self, name: str) -> int | None:
        """The program's pid if it is alive and is ours (a reused pid would not have our
        configuration on its command line)."""
        try:
            pid = int(self._pid_file(name).read_text())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return None
        if str(self.paths.root) not in cmdline or hoststate._zombie(pid):
            return None
        return pid

    def _alive(self, name: str) -> bool:
        """A program started by this call is watched through its Popen (exact); one adopted from
        an earlier `up`, through its pid file."""
        if name in self._started:
            return self._started[name].poll() is None
        return self._pid(name) is not None

    def _ensure(self, program: Program) -> None:
        if self._pid(program.name):
            return
        if program.name == "containerd":
            # A containerd killed outright leaves its socket; a new one would refuse to start.
            for stale in self.paths.containerd.glob("containerd.sock*"):
                stale.unlink()
        log = (self.paths.logs / f"{program.name}.log").open("ab")
        process = subprocess.Popen(
            program.command,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            # Its own session: Ctrl-C in the terminal that ran `make cluster` does not stop it.
            start_new_session=True,
            close_fds=True,
        )
        log.close()
        self._started[program.name] = process
        self._pid_file(program.name).write_text(str(process.pid))
        _say(f"started {program.name} (pid {process.pid}; log {self.paths.logs / program.name}.log)")

    def _stop(self, name: str) -> None:
        pid = self._pid(name)
        if pid:
            hoststate.kill_all([pid], grace=10)
        self._pid_file(name).unlink(missing_ok=True)

    def _ctr(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ctr", "--address", str(self.paths.socket), "--namespace", "k8s.io", *args],
            capture_output=True,
            text=True,
            check=check,
        )

    def _wait_containerd(self) -> None:
        deadline = time.monotonic() + 30
        answer = ""
        while time.monotonic() < deadline:
            if self.paths.socket.exists():
                probe = self._ctr("version", check=False)
                if probe.returncode == 0:
                    return
                answer = probe.stderr.strip()
            if not self._alive("containerd"):
                break
            time.sleep(0.2)
        raise RuntimeError(
            f"containerd did not start ({answer or 'no socket'}); see {self.paths.logs / 'containerd.log'}"
        )

    def _import_images(self) -> None:
        present = set(self._ctr("images", "list", "--quiet").stdout.split())
        cache = localcluster_bin().parent / "images"
        for image in images.images():
            tar = images.archive(image, cache)
            if any(name not in present or self._imported_from(name) != tar.name for name in image.names):
                # One archive holds every tag of the image (PetClinic's two versions).
                self._ctr("images", "import", str(tar))
                for name in image.names:
                    self._ctr("images", "label", name, f"sandbox.local/archive={tar.name}")
                _say(f"imported {', '.join(image.names)}")

    def _imported_from(self, name: str) -> str:
        listing = self._ctr("images", "list", f"name=={name}").stdout.splitlines()[1:]
        for line in listing:
            for label in line.split()[-1].split(","):
                key, _, value = label.partition("=")
                if key == "sandbox.local/archive":
                    return value
        return ""

    def _wait_ready(self, seconds: float) -> None:
        kubectl = [str(localcluster_bin() / "kubectl"), "--kubeconfig", str(self.paths.kubelet / "kubeconfig")]
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for name in self.pids():
                if not self._alive(name):
                    raise RuntimeError(f"{name} exited; see {self.paths.logs / name}.log")
            if self._ready(kubectl):
                admin = [str(localcluster_bin() / "kubectl"), "--kubeconfig", str(self.admin_kubeconfig)]
                self._wait_pods_adopted(admin, deadline)
                return
            time.sleep(0.5)
        raise RuntimeError(f"node {NODE_NAME} did not become Ready; see {self.paths.logs}/kubelet.log")

    def _policy_controller(self, seconds: float) -> None:
        """kube-router's DaemonSet (its image was imported with the others), then wait until it
        has synced its informers and written its first rules: a student's Pod created before
        would run unguarded for a moment."""
        manifest = (
            (LOCALCLUSTER_DIR / "kube-router.yaml")
            .read_text()
            .replace("@KUBE_ROUTER_IMAGE@", images.kube_router_image())
            .replace("@SERVICE_RANGE@", SERVICE_RANGE)
        )
        applied = self._admin("apply", "-f", "-", input=manifest)
        if applied.returncode:
            raise RuntimeError(f"kube-router's DaemonSet was refused: {applied.stderr.strip()}")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            chain = subprocess.run(["iptables", "-w", "-S", "KUBE-ROUTER-FORWARD"], capture_output=True)
            if chain.returncode == 0:
                return
            time.sleep(0.5)
        pods = self._admin("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-router", "-o", "wide")
        logs = self._admin("logs", "-n", "kube-system", "daemonset/kube-router", "--tail=20")
        raise RuntimeError(
            f"kube-router wrote no rules in {seconds:.0f}s:\n{pods.stdout}{pods.stderr}{logs.stdout}{logs.stderr}"
        )

    def _ready(self, kubectl: list[str]) -> bool:
        """Ready, said by the kubelet that runs now. A Node left from before keeps saying Ready
        for a while, so a kubelet started by this call must have posted its status since; one
        that was already running posts its status only on changes, but renews its Lease every
        10 s."""
        node = subprocess.run(
            [*kubectl, "get", "node", NODE_NAME, "-o", "json", "--request-timeout=5s"], capture_output=True, text=True
        )
        if node.returncode != 0:
            return False
        ready = [
            c
            for c in json.loads(node.stdout)["status"].get("conditions", [])
            if c["type"] == "Ready" and c["status"] == "True"
        ]
        if not ready:
            return False
        if "kubelet" in self._started:
            return datetime.datetime.fromisoformat(ready[0]["lastHeartbeatTime"]) >= self._since
        lease = subprocess.run(
            [*kubectl, "get", "lease", NODE_NAME, "-n", "kube-node-lease", "-o", "jsonpath={.spec.renewTime}"],
            capture_output=True,
            text=True,
        )
        if lease.returncode != 0 or not lease.stdout:
            return False
        renewed = datetime.datetime.fromisoformat(lease.stdout.strip())
        return datetime.datetime.now(datetime.UTC) - renewed < datetime.timedelta(seconds=40)

    def _wait_pods_adopted(self, kubectl: list[str], deadline: float) -> None:
        """After a restart the kubelet reports Ready before it knows the Pods already bound to
        it, and `kubectl exec`/`logs` answer "pod does not exist" meanwhile: wait until the
        kubelet's own Pod list (read through the API server) holds every running one."""
        while time.monotonic() < deadline:
            bound = subprocess.run(
                [
                    *kubectl,
                    "get",
                    "pods",
                    "-A",
                    "--field-selector",
                    f"spec.nodeName={NODE_NAME},status.phase=Running",
                    "-o",
                    "jsonpath={.items[*].metadata.uid}",
                ],
                capture_output=True,
                text=True,
            )
            known = subprocess.run(
                [*kubectl, "get", "--raw", f"/api/v1/nodes/{NODE_NAME}/proxy/pods"], capture_output=True, text=True
            )
            if bound.returncode == 0 and known.returncode == 0:
                uids = {item["metadata"]["uid"] for item in json.loads(known.stdout).get("items") or []}
                if set(bound.stdout.split()) <= uids:
                    return
            time.sleep(0.5)
        raise RuntimeError(f"the kubelet did not take back its Pods; see {self.paths.logs}/kubelet.log")
