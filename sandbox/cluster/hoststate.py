"""What the real node changes on the machine, and how `cluster down` puts it back.

The kubelet, kube-proxy, containerd and the CNI plugins change kernel settings, add iptables
chains, network devices and mounts, and create a few folders outside the node's own. This module
records the machine's state before the node first starts, undoes each kind of change, and takes
the snapshot that the tests compare before and after.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import TypedDict

from sandbox.cluster.nodeconfig import CGROUP_ROOT

# Kernel settings the node changes: the kubelet's kernel tunables (protectKernelDefaults off),
# kube-proxy's and the bridge plugin's.
SYSCTLS = (
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.keys.root_maxkeys",
    "kernel.keys.root_maxbytes",
    "vm.overcommit_memory",
    "vm.panic_on_oom",
    "net.ipv4.ip_forward",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.all.route_localnet",
    "net.ipv6.conf.all.forwarding",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
)
# Folders that the programs create whatever their flags say (device plugins, /var/log/containers
# symlinks, the CNI result cache, shim sockets): removed at `down` if they did not exist before.
OUTSIDE_PATHS = (
    "/var/lib/kubelet",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/cni",
    "/run/containerd",
    "/var/run/netns",
    "/etc/cni",
    "/opt/cni",
    "/opt/containerd",
    "/usr/libexec/kubernetes",
)
CHAIN_PREFIXES = ("KUBE-", "CNI-", "SBX-")
# One real node per machine (its addresses are fixed), so what it changed is recorded for the
# machine, not for the checkout that started it: a clone whose node was killed outright (its
# `down` never ran) leaves the record for the next checkout's `up` and `down` to honour. Under
# /run because a reboot resets the kernel settings it holds.
MACHINE_DIR = Path("/run/k8s-sandbox-node")
STATE_FILE = MACHINE_DIR / "host-state.json"
OWNER_FILE = MACHINE_DIR / "node-root"
# Empty built-in chains are left out of snapshots: iptables-nft keeps a table once it was used.
BUILTIN_CHAINS = {"INPUT", "OUTPUT", "FORWARD", "PREROUTING", "POSTROUTING"}


def _sysctl_path(name: str) -> Path:
    return Path("/proc/sys") / name.replace(".", "/")


def read_sysctls() -> dict[str, str]:
    values = {}
    for name in SYSCTLS:
        try:
            values[name] = _sysctl_path(name).read_text().strip()
        except OSError:
            continue  # a module that is not loaded (br_netfilter): nothing to restore either
    return values


def owner() -> Path | None:
    """The node folder of the checkout whose node last started on this machine."""
    try:
        return Path(OWNER_FILE.read_text().strip())
    except OSError:
        return None


def claim(root: Path) -> None:
    MACHINE_DIR.mkdir(parents=True, exist_ok=True)
    OWNER_FILE.write_text(str(root))


def release() -> None:
    OWNER_FILE.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        MACHINE_DIR.rmdir()


def record(state_file: Path) -> None:
    """The machine as it was before the node's first start; kept until `down` has restored it,
    so that a second `up` (or one after a crash) never records the node's own changes."""
    if state_file.is_file():
        return
    state = {
        "sysctls": read_sysctls(),
        "existing_paths": [path for path in OUTSIDE_PATHS if os.path.lexists(path)],
    }
    state_file.parent.mkdir(parents=True, exist_ok=True)
    state_file.write_text(json.dumps(state, indent=2))


def restore(state_file: Path) -> list[str]:
    """Put back the recorded kernel settings and remove the outside folders the node created."""
    if not state_file.is_file():
        return []
    state = json.loads(state_file.read_text())
    problems = []
    for name, value in state["sysctls"].items():
        path = _sysctl_path(name)
        try:
            if path.read_text().strip() != value:
                path.write_text(value)
        except OSError as exc:
            problems.append(f"sysctl {name}: {exc.strerror}")
    for folder in OUTSIDE_PATHS:
        if folder not in state["existing_paths"] and os.path.lexists(folder):
            shutil.rmtree(folder, ignore_errors=True)
    state_file.unlink()
    return problems


def pids_mentioning(text: str) -> list[int]:
    """Processes with `text` anywhere in their command line (another checkout's node folder)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline and not _zombie(int(entry.name)):
            found.append(int(entry.name))
    return found


# --- processes --------------------------------------------------------------------------------
def pids_with_argument(argument: str) -> list[int]:
    """Processes whose command line contains `argument` exactly (a path of ours, such as the
    node's containerd socket): how containerd's shims, which outlive containerd, are found."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            args = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argument.encode() in args:
            found.append(int(entry.name))
    return found


def kill_all(pids: list[int], grace: float = 5.0) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while pids and time.monotonic() < deadline:
        pids = [pid for pid in pids if Path(f"/proc/{pid}").exists() and not _zombie(pid)]
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except (OSError, IndexError):
        return True


# --- cgroups ------------------------------------------------------------------------------------
def cgroup_hierarchies(*, v1_only: bool = False) -> list[Path]:
    """The cgroup hierarchies mounted here: v1 (cpu, memory, pids, ...) and, on a hybrid host,
    the unified v2 one, where runc creates the containers' cgroups too."""
    kinds = {"cgroup"} if v1_only else {"cgroup", "cgroup2"}
    found = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        fields = line.split()
        if len(fields) > 2 and fields[2] in kinds:
            found.append(Path(fields[1]))
    return found


def make_cgroup_root(name: str) -> None:
    """The kubelet refuses a cgroup root that does not exist; cpuset needs the parent's values."""
    for hierarchy in cgroup_hierarchies(v1_only=True):
        folder = hierarchy / name
        folder.mkdir(exist_ok=True)
        for setting in ("cpuset.cpus", "cpuset.mems"):
            if (folder / setting).exists() and not (folder / setting).read_text().strip():
                (folder / setting).write_text((hierarchy / setting).read_text())


def cgroup_pids(name: str) -> list[int]:
    pids: set[int] = set()
    for hierarchy in cgroup_hierarchies():
        for procs in (hierarchy / name).rglob("cgroup.procs") if (hierarchy / name).is_dir() else []:
            pids.update(int(pid) for pid in procs.read_text().split())
    return sorted(pids)


def remove_cgroups(name: str) -> None:
    """Every cgroup under the node's root, deepest first (a cgroup folder must be empty)."""
    for hierarchy in cgroup_hierarchies():
        top = hierarchy / name
        if not top.is_dir():
            continue
        folders = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for folder in [*folders, top]:
            with contextlib.suppress(OSError):
                folder.rmdir()


# --- mounts ---------------------------------------------------------------------------------
def mounts_under(root: Path) -> list[str]:
    prefix = str(root.resolve())
    points = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        # Mount points escape spaces as \040.
        point = line.split()[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            points.append(point)
    return points


def unmount_under(root: Path) -> None:
    # Deepest first; the kubelet also bind-mounts its root folder onto itself (maybe twice).
    for _ in range(3):
        points = sorted(set(mounts_under(root)), key=lambda p: p.count("/"), reverse=True)
        if not points:
            return
        for point in points:
            subprocess.run(["umount", point], capture_output=True)
    for point in mounts_under(root):
        subprocess.run(["umount", "-l", point], capture_output=True)


# --- network -------------------------------------------------------------------------------------
# kube-router's ip sets: the peers of each policy (source and destination), never the machine's.
IP_SET_PREFIXES = ("KUBE-SRC-", "KUBE-DST-")


def remove_ip_sets() -> None:
    """Destroy kube-router's ip sets (after remove_chains: a set a rule uses cannot go)."""
    if not shutil.which("ipset"):
        return
    names = subprocess.run(["ipset", "list", "-n"], capture_output=True, text=True).stdout.split()
    for name in names:
        if name.removeprefix("inet6:").startswith(IP_SET_PREFIXES):
            subprocess.run(["ipset", "destroy", name], capture_output=True)


def remove_chains() -> None:
    """Remove the KUBE-* and CNI-* chains (the kubelet's canaries and firewall, kube-proxy's
    rules, the bridge and portmap plugins' masquerading) with the jumps to them, and nothing
    else: the machine's own rules stay as they are. The rules go back through iptables-restore
    --noflush, which reads iptables-save's quoting (comments hold quoted Pod ids)."""
    for save, restore in (("iptables-save", "iptables-restore"), ("ip6tables-save", "ip6tables-restore")):
        if not shutil.which(save):
            continue
        table = ""
        ours: dict[str, list[str]] = {}
        jumps: list[tuple[str, str]] = []
        for line in subprocess.run([save], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("*"):
                table = line[1:]
                ours.setdefault(table, [])
            elif line.startswith(":") and line[1:].startswith(CHAIN_PREFIXES):
                ours[table].append(line[1:].split()[0])
            elif (
                line.startswith("-A ")
                and not line.split()[1].startswith(CHAIN_PREFIXES)
                and any(f"-j {prefix}" in line or f"-g {prefix}" in line for prefix in CHAIN_PREFIXES)
            ):
                jumps.append((table, "-D " + line[3:]))
        # One rule at a time: a rule that went away meanwhile must not stop the others.
        for table, rule in jumps:
            _restore(restore, table, [rule])
        for table, chains in ours.items():
            if chains:
                _restore(restore, table, [f"-F {chain}" for chain in chains] + [f"-X {chain}" for chain in chains])


def _restore(command: str, table: str, lines: list[str]) -> None:
    script = "\n".join([f"*{table}", *lines, "COMMIT", ""])
    subprocess.run([command, "-w", "--noflush"], input=script, capture_output=True, text=True)


def delete_link(name: str) -> None:
    if Path(f"/sys/class/net/{name}").exists():
        subprocess.run(["ip", "link", "delete", name], capture_output=True)


# --- snapshot for tests -----------------------------------------------------------------------------
class Snapshot(TypedDict):
    links: list[str]
    lo_addresses: list[str]
    iptables: list[str]
    mounts: list[str]
    sysctls: dict[str, str]
    outside_paths: list[str]
    cgroups: list[str]
    ip_sets: list[str]


def snapshot() -> Snapshot:
    """The parts of the machine's state that the node touches, comparable before and after."""

    def run(*command: str) -> str:
        if not shutil.which(command[0]):
            return ""
        return subprocess.run(command, capture_output=True, text=True).stdout

    chains = []
    for save in ("iptables-save", "ip6tables-save"):
        table = ""
        for line in run(save).splitlines():
            if line.startswith("*"):
                table = line[1:]
            elif line.startswith("-A "):
                chains.append(f"{save} {table} {line}")
            elif line.startswith(":") and not line.startswith(
                (":INPUT", ":OUTPUT", ":FORWARD", ":PREROUTING", ":POSTROUTING")
            ):
                chains.append(f"{save} {table} chain {line.split()[0]}")
    return {
        "links": sorted(p.name for p in Path("/sys/class/net").iterdir()),
        "lo_addresses": sorted(line.split()[3] for line in run("ip", "-o", "addr", "show", "dev", "lo").splitlines()),
        "iptables": sorted(chains),
        "mounts": sorted(line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()),
        "sysctls": read_sysctls(),
        "outside_paths": [path for path in OUTSIDE_PATHS if os.path.lexists(path)],
        "cgroups": sorted(str(h / CGROUP_ROOT) for h in cgroup_hierarchies() if (h / CGROUP_ROOT).exists()),
        "ip_sets": sorted(run("ipset", "list", "-n").split()),
    }
