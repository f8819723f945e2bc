"""The pure parts of the per-student resource ceiling: finding the cgroup hierarchies, the
group's paths and limit files, counters, and the settings' validation.
The ceiling under attack is tests/security/test_terminal_ceiling.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.checks import CheckMessage
from django.test import override_settings

from sandbox import checks
from sandbox.terminal import ceiling

# This project's CI host: cgroup v1 controllers, each on its own mount, plus an empty v2.
HYBRID = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""
# A systemd host with only the unified hierarchy.
UNIFIED = "29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n"
# Older hosts co-mount cpu and cpuacct, with optional fields before the separator.
COMOUNTED = """\
27 21 0:23 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct
28 21 0:24 / /sys/fs/cgroup/memory rw,nosuid shared:10 - cgroup cgroup rw,memory
29 21 0:25 / /sys/fs/cgroup/pids rw,nosuid shared:11 - cgroup cgroup rw,pids
"""
LIMITS = ceiling.Limits(memory_bytes=512 * 1024 * 1024, processes=1024, cpu_weight=100)


def test_it_uses_the_v1_controllers_when_the_unified_hierarchy_has_none() -> None:
    layout = ceiling.choose_layout(ceiling.parse_mountinfo(HYBRID), v2_controllers=set())
    assert layout == ceiling.Layout(
        1,
        {
            "cpu": Path("/sys/fs/cgroup/cpu"),
            "memory": Path("/sys/fs/cgroup/memory"),
            "pids": Path("/sys/fs/cgroup/pids"),
        },
    )


def test_it_uses_the_unified_hierarchy_when_it_holds_memory_and_pids() -> None:
    layout = ceiling.choose_layout(ceiling.parse_mountinfo(UNIFIED), {"cpu", "io", "memory", "pids"})
    root = Path("/sys/fs/cgroup")
    assert layout == ceiling.Layout(2, {"memory": root, "pids": root, "cpu": root})


def test_it_reads_co_mounted_controllers_and_escaped_mount_points() -> None:
    mounts = ceiling.parse_mountinfo(COMOUNTED + "30 21 0:26 / /mnt/my\\040pids rw - cgroup cgroup rw,pids\n")
    assert mounts["cpu"] == ("cgroup", Path("/sys/fs/cgroup/cpu,cpuacct"))
    assert mounts["pids"] == ("cgroup", Path("/sys/fs/cgroup/pids"))  # the first mount wins
    assert ceiling.parse_mountinfo("40 1 0:1 / /mnt/x rw - cgroup cgroup rw,pids\n")["pids"][1] == Path("/mnt/x")
    assert ceiling.parse_mountinfo("41 1 0:1 / /mnt/a\\040b rw - cgroup cgroup rw,memory\n")["memory"][1] == Path(
        "/mnt/a b"
    )


def test_it_finds_no_layout_without_a_memory_or_pids_controller() -> None:
    only_cpu = "32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu\n"
    assert ceiling.choose_layout(ceiling.parse_mountinfo(only_cpu), set()) is None
    assert ceiling.choose_layout(ceiling.parse_mountinfo(UNIFIED), {"cpu", "io"}) is None
    assert ceiling.choose_layout(ceiling.parse_mountinfo("garbage\n\n1 2 3\n"), set()) is None


def test_it_builds_one_group_per_student_under_the_parent() -> None:
    layout = ceiling.choose_layout(ceiling.parse_mountinfo(HYBRID), set())
    assert layout is not None
    paths = ceiling.group_paths(layout, "k8s-sandbox-terminals/sbx", 42)
    assert paths["memory"] == Path("/sys/fs/cgroup/memory/k8s-sandbox-terminals/sbx/student-42")
    assert paths["pids"] == Path("/sys/fs/cgroup/pids/k8s-sandbox-terminals/sbx/student-42")
    group = ceiling.Group(layout, "k8s-sandbox-terminals/sbx", 42, LIMITS)
    assert group.join_files == [  # v1: `tasks`, which spares a global lock (see ceiling.py)
        Path(f"/sys/fs/cgroup/{name}/k8s-sandbox-terminals/sbx/student-42/tasks") for name in ("cpu", "memory", "pids")
    ]
    unified = ceiling.Group(ceiling.Layout(2, {"memory": Path("/c"), "pids": Path("/c")}), "p", 7, LIMITS)
    assert unified.join_files == [Path("/c/p/student-7/cgroup.procs")]  # one directory in v2
    with pytest.raises(ValueError, match="never negative"):
        ceiling.group_name(-1)


def test_it_writes_the_limits_in_each_version_s_terms() -> None:
    v1 = {(c, f): v for c, f, v in ceiling.limit_files(1, LIMITS)}
    assert v1[("memory", "memory.limit_in_bytes")] == str(512 * 1024 * 1024)
    assert v1[("memory", "memory.memsw.limit_in_bytes")] == str(512 * 1024 * 1024)
    assert v1[("pids", "pids.max")] == "1024"
    assert v1[("cpu", "cpu.shares")] == "1024"  # weight 100 = an ordinary group = 1024 shares
    files = [f for _c, f, _v in ceiling.limit_files(1, LIMITS)]
    assert files.index("memory.limit_in_bytes") < files.index("memory.memsw.limit_in_bytes")
    v2 = {(c, f): v for c, f, v in ceiling.limit_files(2, ceiling.Limits(64 << 20, 32, 1))}
    assert v2 == {
        ("memory", "memory.max"): str(64 << 20),
        ("memory", "memory.swap.max"): "0",
        ("pids", "pids.max"): "32",
        ("cpu", "cpu.weight"): "1",
        ("cpu", "cpu.max"): "max 100000",
    }
    assert (
        dict(((c, f), v) for c, f, v in ceiling.limit_files(1, ceiling.Limits(1, 1, 1)))[("cpu", "cpu.shares")] == "10"
    )


def test_it_reads_the_oom_kill_counter_of_either_version() -> None:
    assert ceiling.counter("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill") == 3
    assert ceiling.counter("low 0\nhigh 0\nmax 12\noom 2\noom_kill 2\noom_group_kill 0\n", "oom_kill") == 2
    assert ceiling.counter("oom_kill_disable 0\n", "oom_kill") == 0
    assert ceiling.counter("", "oom_kill") == 0


@pytest.mark.parametrize("parent", ["k8s-sandbox-terminals/sbx", "/k8s/x/", "a.b_c-d"])
def test_it_accepts_plain_relative_parents(parent: str) -> None:
    assert ceiling.validate_parent(parent) == parent.strip("/")


@pytest.mark.parametrize("parent", ["../escape", "a/../b", "a//b", "a b", "a/\n", "-x", "é", "a" * 65, "."])
def test_it_refuses_parents_that_are_not_plain_names(parent: str) -> None:
    with pytest.raises(ValueError, match="TERMINAL_CGROUP_PARENT"):
        ceiling.validate_parent(parent)


def test_it_turns_groups_off_with_off() -> None:
    assert ceiling.validate_parent("off") == ""
    with override_settings(TERMINAL_CGROUP_PARENT="off"):
        assert ceiling.detect() == (None, "TERMINAL_CGROUP_PARENT=off")


def test_it_validates_the_limit_settings() -> None:
    assert ceiling.validate_limits(512, 1024, 100) == []
    problems = ceiling.validate_limits(63, 15, 10_001)
    assert [p.split()[0] for p in problems] == ["TERMINAL_MEMORY_MB", "TERMINAL_PROCESSES", "TERMINAL_CPU_WEIGHT"]
    assert ceiling.validate_limits(64, 16, 1) == []
    assert len(ceiling.validate_limits(64, 16, 0)) == 1
    assert ceiling.validate_limits(64, 16, 1, 100) == []
    assert len(ceiling.validate_limits(64, 16, 1, 5)) == 1  # too little to run kubectl at all


def test_a_cpu_cap_is_a_quota_per_period() -> None:
    capped = ceiling.Limits(64 << 20, 32, 100, cpu_percent=150)
    v1 = dict(((c, f), v) for c, f, v in ceiling.limit_files(1, capped))
    assert (v1[("cpu", "cpu.cfs_period_us")], v1[("cpu", "cpu.cfs_quota_us")]) == ("100000", "150000")
    v2 = dict(((c, f), v) for c, f, v in ceiling.limit_files(2, capped))
    assert v2[("cpu", "cpu.max")] == "150000 100000"
    uncapped = ceiling.Limits(64 << 20, 32, 100)
    assert dict(((c, f), v) for c, f, v in ceiling.limit_files(1, uncapped))[("cpu", "cpu.cfs_quota_us")] == "-1"
    assert dict(((c, f), v) for c, f, v in ceiling.limit_files(2, uncapped))[("cpu", "cpu.max")] == "max 100000"


def ids(messages: list[CheckMessage]) -> list[str | None]:
    return [m.id for m in messages]


@override_settings(TERMINAL_CPU_WEIGHT=20_000)
def test_the_system_check_refuses_a_bad_ceiling_setting() -> None:
    assert ids(checks.check_terminal_ceiling(None)) == ["sandbox.E004"]


@override_settings(TERMINAL_CGROUP_PARENT="../../etc")
def test_the_system_check_refuses_a_parent_outside_the_hierarchy() -> None:
    assert ids(checks.check_terminal_ceiling(None)) == ["sandbox.E004"]


@override_settings(TERMINAL_CGROUP_PARENT="off")
def test_the_system_check_warns_when_the_ceiling_is_not_enforced() -> None:
    [message] = checks.check_terminal_ceiling(None)
    assert message.id == "sandbox.W003"
    assert "TERMINAL_CGROUP_PARENT=off" in message.msg


def test_the_terminal_speaks_the_page_s_language() -> None:
    from sandbox.realtime.language import scope_language as _language  # the socket's language, which the terminal uses

    assert _language({"cookies": {"django_language": "zh-hans"}, "headers": []}) == "zh-hans"
    assert _language({"headers": [(b"accept-language", b"zh-CN,zh;q=0.9,en;q=0.8")]}) == "zh-hans"
    assert _language({"headers": [(b"accept-language", b"fr-FR, de;q=0.5")]}) == "en"
    assert _language({"cookies": {"django_language": "xx"}, "headers": [(b"accept-language", b"*")]}) == "en"
    assert _language({}) == "en"
