"""One resource group (cgroup) per student on the web host: every process that a student's
terminals start — all sessions, every stage of every pipeline — shares one memory ceiling, one
process ceiling and one CPU share.

Why: the launcher caps each kubectl on its own (1 GiB of data), but one line may run five of them
and a student may hold four terminals, so per-process limits alone let one student claim ~20 GiB.
A group's memory limit is enforced by the kernel on the sum; when it is reached the kernel's
OOM killer picks a process *inside the group*, so only that student's command dies.

How a process gets in: it is started (as root) through the terminal's launcher
(sandbox/terminal/launch.c, via process.launch), which writes `0` ("the writer") into the
group's membership file, sets the process's own limits, drops to the session's user id and
then execs kubectl. It is in the group before kubectl runs a single instruction; no window to
allocate outside it. In v1 the file is `tasks`, which moves the writing thread only — the
single-threaded launcher, so the whole process — and skips the kernel's global lock that a
write to `cgroup.procs` takes (an RCU grace period: ~13 ms per process on this project's CI
host). The launcher is one static program rather than /bin/sh, setpriv and prlimit in a chain:
that chain cost 2.4 ms more per line than a plain exec on the 2-core host.
v2 has only `cgroup.procs` for a domain group (a host may mount it with `favordynmods`).

Layouts: cgroup v1 (one mount per controller: memory, pids, cpu) and v2 (the unified hierarchy
with memory.max / pids.max / cpu.weight), found in /proc/self/mountinfo. Groups live under
`settings.TERMINAL_CGROUP_PARENT` (e.g. k8s-sandbox-terminals/sbx/student-42), are created on
a student's first line, removed when their last session in this process closes, and empty
leftovers of a killed server are removed when this process opens its first session.

Without usable cgroups (no such mounts, not root, a v2 tree we may not write, or
TERMINAL_CGROUP_PARENT=off), a warning is logged once and each kubectl keeps only its own
limits; the system check sandbox.W003 says so at start-up.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

log = logging.getLogger(__name__)

MOUNTINFO = Path("/proc/self/mountinfo")
# The controllers we use; memory and pids are required, cpu is a bonus (a share, not a cap).
REQUIRED = ("memory", "pids")
OPTIONAL = ("cpu",)
PART = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")
MAX_CPU_WEIGHT = 10_000  # cgroup v2's range for cpu.weight is 1..10000 (100 = an ordinary group)


@dataclass(frozen=True)
class Limits:
    memory_bytes: int
    processes: int
    cpu_weight: int
    # A hard cap in percent of one core (0: none). A share only divides what is contended; the
    # cap also leaves the other cores' worth to everyone else, whatever the student runs.
    cpu_percent: int = 0


@dataclass(frozen=True)
class Layout:
    """Where the hierarchies are: version 1 has one root per controller, version 2 one root."""

    version: int
    roots: dict[str, Path]  # controller -> mount point (v2: the same path for every controller)


# --- pure parts (unit-tested) -------------------------------------------------------------------


def parse_mountinfo(text: str) -> dict[str, tuple[str, Path]]:
    """Cgroup mounts in /proc/self/mountinfo: {controller: ("cgroup"|"cgroup2", mount point)}.
    For v2 the key is "" (its controllers are listed in the mount's cgroup.controllers)."""
    found: dict[str, tuple[str, Path]] = {}
    for line in text.splitlines():
        fields = line.split()
        if "-" not in fields:
            continue
        sep = fields.index("-")
        if len(fields) < sep + 4 or sep < 5:
            continue
        fstype, super_options = fields[sep + 1], fields[sep + 3]
        # Mount points escape spaces and the like as octal (\040).
        mount = Path(re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), fields[4]))
        if fstype == "cgroup":
            for option in super_options.split(","):
                if option in REQUIRED + OPTIONAL:
                    found.setdefault(option, ("cgroup", mount))
        elif fstype == "cgroup2":
            found.setdefault("", ("cgroup2", mount))
    return found


def choose_layout(mounts: dict[str, tuple[str, Path]], v2_controllers: set[str]) -> Layout | None:
    """v2 when the unified hierarchy holds memory and pids, else v1 when both have their own
    mounts (a hybrid host such as this project's CI: v2 mounted with no controllers)."""
    if "" in mounts and set(REQUIRED) <= v2_controllers:
        root = mounts[""][1]
        return Layout(2, {name: root for name in REQUIRED + OPTIONAL if name in v2_controllers})
    if all(name in mounts for name in REQUIRED):
        return Layout(1, {name: mount for name, (_kind, mount) in mounts.items() if name})
    return None


def validate_parent(parent: str) -> str:
    """The parent group as a relative path of plain names ("" or "off" turns groups off).
    Raises ValueError with a message naming the setting."""
    if parent in ("", "off"):
        return ""
    parts = parent.strip("/").split("/")
    for part in parts:
        if not PART.match(part) or part in (".", ".."):
            raise ValueError(
                f"TERMINAL_CGROUP_PARENT must be a relative path of names made of letters, digits, "
                f"'.', '_' and '-' (or 'off'); got {parent!r}"
            )
    return "/".join(parts)


def validate_limits(memory_mb: int, processes: int, cpu_weight: int, cpu_percent: int = 0) -> list[str]:
    """Problems with the ceiling settings, as sentences (empty when they are fine)."""
    problems = []
    if memory_mb < 64:
        problems.append(f"TERMINAL_MEMORY_MB must be at least 64 (one kubectl needs ~40 MiB); got {memory_mb}")
    if processes < 16:
        problems.append(f"TERMINAL_PROCESSES must be at least 16 (kubectl runs a dozen threads); got {processes}")
    if not 1 <= cpu_weight <= MAX_CPU_WEIGHT:
        problems.append(f"TERMINAL_CPU_WEIGHT must be between 1 and {MAX_CPU_WEIGHT}; got {cpu_weight}")
    most = 100 * (os.cpu_count() or 1)
    if cpu_percent and not 10 <= cpu_percent <= most:
        problems.append(f"TERMINAL_CPU_PERCENT must be 0 (no cap) or between 10 and {most}; got {cpu_percent}")
    return problems


def group_name(student_id: int) -> str:
    if student_id < 0:
        raise ValueError("a student id is never negative")
    return f"student-{student_id}"


def group_paths(layout: Layout, parent: str, student_id: int) -> dict[str, Path]:
    """The student's group in each hierarchy we use (v2: one directory for all)."""
    return {name: root / parent / group_name(student_id) for name, root in layout.roots.items()}


def limit_files(version: int, limits: Limits) -> list[tuple[str, str, str]]:
    """(controller, file, value) to write into a new group, in order. v1 counts CPU in shares
    (1024 = an ordinary group), v2 in weight (100); swap is capped too where it is accounted,
    so a student cannot move the excess to swap."""
    memory = str(limits.memory_bytes)
    period = 100_000  # microseconds: the kernel's default CFS period
    quota = limits.cpu_percent * period // 100 if limits.cpu_percent else None
    if version == 1:
        shares = max(2, limits.cpu_weight * 1024 // 100)
        return [
            ("memory", "memory.limit_in_bytes", memory),
            ("memory", "memory.memsw.limit_in_bytes", memory),  # memory + swap; after the line above
            ("pids", "pids.max", str(limits.processes)),
            ("cpu", "cpu.shares", str(shares)),
            ("cpu", "cpu.cfs_period_us", str(period)),
            ("cpu", "cpu.cfs_quota_us", str(quota if quota else -1)),
        ]
    return [
        ("memory", "memory.max", memory),
        ("memory", "memory.swap.max", "0"),
        ("pids", "pids.max", str(limits.processes)),
        ("cpu", "cpu.weight", str(limits.cpu_weight)),
        ("cpu", "cpu.max", f"{quota if quota else 'max'} {period}"),
    ]


def counter(text: str, key: str) -> int:
    """A `key value` line of memory.oom_control (v1) or memory.events (v2); 0 when absent."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key and value.strip().isdigit():
            return int(value)
    return 0


# --- the host -----------------------------------------------------------------------------------


class Unavailable(Exception):
    """The student's group could not be made: the line is refused rather than run outside it."""


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def detect() -> tuple[Layout | None, str]:
    """The layout to use, or None and the reason."""
    parent = validate_parent(settings.TERMINAL_CGROUP_PARENT)
    if not parent:
        return None, "TERMINAL_CGROUP_PARENT=off"
    mounts = parse_mountinfo(_read(MOUNTINFO))
    v2 = set(_read(mounts[""][1] / "cgroup.controllers").split()) if "" in mounts else set()
    layout = choose_layout(mounts, v2)
    if layout is None:
        return None, "this host has no cgroup memory and pids controllers mounted"
    for name in REQUIRED:
        if not os.access(layout.roots[name], os.W_OK):
            return None, f"the server may not create groups in {layout.roots[name]} (run it as root)"
    return layout, ""


class Group:
    """A student's group: created on demand, its counters, and its removal."""

    def __init__(self, layout: Layout, parent: str, student_id: int, limits: Limits) -> None:
        self.layout, self.parent, self.limits = layout, parent, limits
        self.paths = group_paths(layout, parent, student_id)

    @property
    def join_files(self) -> list[Path]:
        """The file a launcher writes `0` into, per hierarchy (see the module's docstring)."""
        name = "tasks" if self.layout.version == 1 else "cgroup.procs"
        return [path / name for path in dict.fromkeys(self.paths.values())]

    def ensure(self) -> None:
        """Create the group where it is missing (another server may have swept it while idle)
        and set its limits. A mkdir per hierarchy: cheap enough for every line."""
        try:
            for name, path in self.paths.items():
                try:
                    path.mkdir()
                except FileExistsError:
                    continue
                except FileNotFoundError:  # the parent went too (someone cleaned up by hand)
                    prepare_parent(self.layout, self.parent)
                    path.mkdir(exist_ok=True)
                self._write_limits(name, path)
        except OSError as exc:
            log.error("could not set up the terminal group %s: %s", self.paths.get("memory"), exc)
            raise Unavailable(str(exc)) from exc

    def _write_limits(self, name: str, path: Path) -> None:
        for controller, filename, value in limit_files(self.layout.version, self.limits):
            if self.paths.get(controller) != path:
                continue
            try:
                (path / filename).write_text(value)
            except OSError as exc:
                # memsw/swap files exist only with swap accounting, cpu may be missing: the
                # memory and pids limits are the ones that must hold.
                if filename in ("memory.limit_in_bytes", "memory.max", "pids.max"):
                    raise
                log.debug("could not set %s in %s: %s", filename, path, exc)

    def oom_kills(self) -> int:
        memory = self.paths["memory"]
        if self.layout.version == 1:
            return counter(_read(memory / "memory.oom_control"), "oom_kill")
        return counter(_read(memory / "memory.events"), "oom_kill")

    def peak_bytes(self) -> int:
        """The group's highest memory use since it was created (page cache included)."""
        name = "memory.max_usage_in_bytes" if self.layout.version == 1 else "memory.peak"
        text = _read(self.paths["memory"] / name).strip()
        return int(text) if text.isdigit() else 0

    def remove(self) -> None:
        """Remove the group; a group that still holds processes stays (EBUSY) for the sweep."""
        for path in dict.fromkeys(self.paths.values()):
            with contextlib.suppress(OSError):
                path.rmdir()


def prepare_parent(layout: Layout, parent: str) -> None:
    """Create the parent group in each hierarchy; in v2 enable our controllers on the way down
    (a child gets only what its parent's subtree_control lists)."""
    for root in dict.fromkeys(layout.roots.values()):
        current = root
        for part in Path(parent).parts:
            if layout.version == 2:
                _enable_controllers(current)
            current = current / part
            current.mkdir(exist_ok=True)
        if layout.version == 2:
            _enable_controllers(current)


def _enable_controllers(group: Path) -> None:
    """v2: a group's children get only the controllers enabled in its subtree_control."""
    available = set(_read(group / "cgroup.controllers").split())
    wanted = [name for name in REQUIRED + OPTIONAL if name in available]
    enabled = set(_read(group / "cgroup.subtree_control").split())
    for name in wanted:
        if name not in enabled:
            try:
                (group / "cgroup.subtree_control").write_text(f"+{name}")
            except OSError as exc:
                if name in REQUIRED:
                    raise
                log.debug("could not enable %s in %s: %s", name, group, exc)


def sweep(layout: Layout, parent: str, keep: set[int]) -> int:
    """Remove the empty student groups a killed server left behind (not those in `keep`)."""
    removed = 0
    for root in dict.fromkeys(layout.roots.values()):
        folder = root / parent
        with contextlib.suppress(OSError):
            for entry in folder.iterdir():
                name = entry.name
                if not (entry.is_dir() and name.startswith("student-") and name[8:].isdigit()):
                    continue
                if int(name[8:]) in keep:
                    continue
                try:
                    entry.rmdir()
                    removed += 1
                except OSError as exc:
                    if exc.errno != errno.EBUSY:
                        log.debug("could not remove %s: %s", entry, exc)
    return removed


# --- the registry: one group per student in this process ---------------------------------------


class _Registry:
    detected = False
    layout: Layout | None = None
    swept = False


_lock = threading.Lock()
_state = _Registry()
_users: dict[int, int] = {}  # student id -> open sessions in this process


def current_limits() -> Limits:
    return Limits(
        memory_bytes=settings.TERMINAL_MEMORY_MB * 1024 * 1024,
        processes=settings.TERMINAL_PROCESSES,
        cpu_weight=settings.TERMINAL_CPU_WEIGHT,
        cpu_percent=settings.TERMINAL_CPU_PERCENT,
    )


def _layout() -> Layout | None:
    """Detected once per process; the first failure is logged once, as a warning."""
    if not _state.detected:
        try:
            layout, reason = detect()
        except ValueError as exc:  # a bad TERMINAL_CGROUP_PARENT (system check sandbox.E004)
            layout, reason = None, str(exc)
        if layout is not None:
            try:  # the parent groups (and, in v2, their controllers) once, here
                prepare_parent(layout, validate_parent(settings.TERMINAL_CGROUP_PARENT))
            except OSError as exc:
                layout, reason = None, f"the parent group cannot be set up: {exc}"
        _state.detected, _state.layout = True, layout
        if layout is None:
            log.warning(
                "terminal resource ceiling off (%s): each kubectl keeps its own limits, "
                "but nothing caps what one student's terminals use together",
                reason,
            )
        else:
            log.info("terminal resource ceiling: cgroup v%d, %s", layout.version, current_limits())
    return _state.layout


def acquire(student_id: int) -> Group | None:
    """The student's group for a new session, or None when groups are unavailable. The first
    session of this process sweeps leftovers first."""
    with _lock:
        layout = _layout()
        if layout is None:
            return None
        parent = validate_parent(settings.TERMINAL_CGROUP_PARENT)
        if not _state.swept:
            _state.swept = True
            removed = sweep(layout, parent, keep=set(_users))
            if removed:
                log.info("removed %d empty terminal groups left by an earlier server", removed)
        _users[student_id] = _users.get(student_id, 0) + 1
        return Group(layout, parent, student_id, current_limits())


def release(student_id: int, group: Group) -> None:
    """A session ended: the student's group goes when their last session here does."""
    with _lock:
        left = _users.get(student_id, 1) - 1
        if left > 0:
            _users[student_id] = left
            return
        _users.pop(student_id, None)
        group.remove()


def problem() -> str:
    """Why the ceiling cannot be enforced here, or "" (for the system check)."""
    try:
        return detect()[1]
    except ValueError as exc:
        return str(exc)
