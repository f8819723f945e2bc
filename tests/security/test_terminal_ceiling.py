"""One student cannot take the web host's memory: every process of all their terminals shares
one resource group (sandbox/terminal/ceiling.py).

The attack a review found: a kubectl go-template that doubles a string (27 doublings of "ab"
reach 256 MiB and take ~870 MiB of resident memory per kubectl, measured with /usr/bin/time on
this project's kubectl), five of them piped on one line, in four terminals of the same student
at once — ~17 GiB without a shared ceiling, each process staying under its own 1 GiB prlimit.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.models import User

from sandbox.models import Sandbox
from sandbox.terminal import ceiling, process
from sandbox.terminal.session import Session
from tests.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]

DOUBLING = '{{$s := "ab"}}{{range 27}}{{$s = printf "%s%s" $s $s}}{{end}}{{len $s}}'
STAGE = f"kubectl get serviceaccount default -o go-template='{DOUBLING}'"
ATTACK = " | ".join([STAGE] * 5)
TERMINALS = 4
# The kernel's own high-water mark may pass a v1 group's limit a little: it counts the per-CPU
# batches of pre-charged pages and lets tasks that are being OOM-killed finish their allocations.
# Seen here: 80 KiB and 0.8 MiB over 512 MiB. The sampled RssAnon gets no such allowance.
KERNEL_SLACK = settings.TERMINAL_MEMORY_MB * 1024 * 1024 // 100


class Collect:
    def __init__(self) -> None:
        self.text = ""

    async def write(self, data: bytes) -> None:
        self.text += data.decode(errors="replace")


async def run(session: Session, line: str) -> tuple[int, str, float]:
    out = Collect()
    began = time.perf_counter()
    status = await asyncio.wait_for(session.run_line(line, out), timeout=180)
    return status, out.text, time.perf_counter() - began


class Sampler(threading.Thread):
    """Samples, every few milliseconds, the anonymous memory (what the doubling allocates) of
    every process in the student's group, summed — a measure that does not come from the
    group's own accounting."""

    def __init__(self, group: ceiling.Group) -> None:
        super().__init__(daemon=True)
        self.procs_file = group.paths["memory"] / "cgroup.procs"
        self.highest = 0
        self.samples = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.is_set():
            total = 0
            for pid in self.procs_file.read_text().split():
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue  # it ended between the two reads
                for line in status.splitlines():
                    if line.startswith("RssAnon:"):
                        total += int(line.split()[1]) * 1024
            self.highest = max(self.highest, total)
            self.samples += 1
            time.sleep(0.005)


def require_ceiling(group: ceiling.Group | None) -> ceiling.Group:
    """Never run the attack unconfined: it would take ~17 GiB of a shared machine."""
    if group is None:
        pytest.fail(f"the ceiling is not enforced on this host: {ceiling.problem()}")
    group.ensure()  # (a session's first line creates it)
    memory = group.paths["memory"]
    limit_file = "memory.limit_in_bytes" if group.layout.version == 1 else "memory.max"
    assert int((memory / limit_file).read_text()) == settings.TERMINAL_MEMORY_MB * 1024 * 1024
    assert int((group.paths["pids"] / "pids.max").read_text()) == settings.TERMINAL_PROCESSES
    return group


@pytest.mark.cluster
def test_it_holds_the_memory_ceiling_against_doubling_templates_in_four_terminals(make_sandbox: MakeSandbox) -> None:
    attacker_box, _ = make_sandbox()
    bystander_box, _ = make_sandbox()
    attacker = User.objects.get(sandboxes=attacker_box)
    bystander = User.objects.get(sandboxes=bystander_box)
    ceiling_bytes = settings.TERMINAL_MEMORY_MB * 1024 * 1024

    async def scenario() -> None:
        terminals = [Session(attacker, attacker_box) for _ in range(TERMINALS)]
        terminals[0].language = "zh-hans"
        other = Session(bystander, bystander_box)
        try:
            for session in terminals:  # credentials fetched, workspace ready, group created
                assert (await run(session, "kubectl get pods"))[0] == 0
            group = require_ceiling(terminals[0].group)
            assert other.group is not None
            assert other.group.paths != group.paths
            baseline = [(await run(other, "kubectl get pods"))[2] for _ in range(5)]

            sampler = Sampler(group)
            sampler.start()
            attacking = [asyncio.ensure_future(run(session, ATTACK)) for session in terminals]
            bystander_lines = []
            while not all(task.done() for task in attacking):
                bystander_lines.append(await run(other, "kubectl get pods"))
            results = await asyncio.gather(*attacking)
            sampler.stopping.set()
            sampler.join()
            peak = group.peak_bytes()
            during = [seconds for _status, _text, seconds in bystander_lines]
            kills = group.oom_kills()

            print(
                f"\nceiling {ceiling_bytes >> 20} MiB; group peak {peak / 2**20:.1f} MiB; summed RssAnon of the "
                f"group's processes at most {sampler.highest / 2**20:.1f} MiB over {sampler.samples} samples; "
                f"{kills} OOM kills; attack lines took " + ", ".join(f"{seconds:.1f} s" for _s, _t, seconds in results)
            )
            print(
                f"bystander `kubectl get pods`: before p50 {statistics.median(baseline) * 1000:.0f} ms; during the "
                f"attack {len(during)} lines, p50 {statistics.median(during) * 1000:.0f} ms, "
                f"max {max(during) * 1000:.0f} ms"
            )
            # (a) the student's total never went over the ceiling — by the kernel's own peak and
            # by our sampling — and the attack did reach it (so it ran inside the group).
            assert peak <= ceiling_bytes + KERNEL_SLACK
            assert sampler.highest <= ceiling_bytes
            assert peak > ceiling_bytes // 2
            assert kills >= TERMINALS
            # (b) every attacking line was stopped, non-zero, with the message in its language.
            for index, (status, text, _seconds) in enumerate(results):
                assert status == 137, text
                if index == 0:
                    assert f"你的所有终端合计使用的内存超过了 {settings.TERMINAL_MEMORY_MB} MiB" in text, text
                else:
                    assert f"your terminals together used more than {settings.TERMINAL_MEMORY_MB} MiB" in text, text
            # (d) the other student's lines all completed while it ran.
            assert bystander_lines
            assert all(status == 0 and "No resources found" in text for status, text, _s in bystander_lines)
            # (c) the same student's terminals carry on.
            for session in terminals:
                status, text, _seconds = await run(session, "kubectl get pods")
                assert status == 0, text
                assert "No resources found" in text
        finally:
            for session in [*terminals, other]:
                await session.close()
        # The group goes with the student's last session: nothing is left behind.
        assert not any(path.exists() for path in group.paths.values())

    run_async(scenario)


@pytest.mark.cluster
def test_it_does_not_blame_the_ceiling_for_an_ordinary_failure(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)

    async def scenario() -> list[tuple[int, str, float]]:
        session = Session(owner, sandbox)
        try:
            require_ceiling(session.group)
            return [
                await run(session, "kubectl get pod nothing-here | grep x"),
                await run(session, "kubectl get serviceaccount default -o go-template='{{len .metadata.name}}'"),
            ]
        finally:
            await session.close()

    (missing, _t1, _s1), (fine, text, _s2) = run_async(scenario)
    assert missing != 137
    assert fine == 0
    assert text.strip() == "7"


@pytest.mark.cluster
def test_without_groups_it_warns_once_and_keeps_the_per_process_limits(
    make_sandbox: MakeSandbox, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A host without cgroups (here: switched off): sessions still run, under prlimit alone."""
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)
    monkeypatch.setattr(ceiling, "_state", ceiling._Registry())  # detect afresh in this test
    monkeypatch.setattr(settings, "TERMINAL_CGROUP_PARENT", "off")

    async def scenario() -> list[tuple[int, str, float]]:
        sessions = [Session(owner, sandbox), Session(owner, sandbox)]
        try:
            assert [session.group for session in sessions] == [None, None]
            return [await run(session, "kubectl get pods") for session in sessions]
        finally:
            for session in sessions:
                await session.close()

    for status, text, _seconds in run_async(scenario):
        assert status == 0, text
    warnings = [r for r in caplog.records if r.name == "sandbox.terminal.ceiling" and r.levelname == "WARNING"]
    assert len(warnings) == 1
    assert "TERMINAL_CGROUP_PARENT=off" in warnings[0].getMessage()


def test_it_removes_the_empty_groups_a_killed_server_left_and_keeps_busy_ones() -> None:
    layout, reason = ceiling.detect()
    if layout is None:
        pytest.fail(f"the ceiling is not enforced on this host: {reason}")
    parent = ceiling.validate_parent(settings.TERMINAL_CGROUP_PARENT)
    ceiling.prepare_parent(layout, parent)
    limits = ceiling.current_limits()
    left_empty = ceiling.Group(layout, parent, 990_001, limits)
    left_busy = ceiling.Group(layout, parent, 990_002, limits)
    kept = ceiling.Group(layout, parent, 990_003, limits)
    for group in (left_empty, left_busy, kept):
        group.ensure()
    # A process still inside one of them (a kubectl a killed server never reaped).
    ours = process.Identity(os.geteuid(), os.getegid())  # no change of user: only the group
    sleeper = subprocess.Popen(process.launch(["/bin/sleep", "30"], ours, left_busy.join_files))
    try:
        deadline = time.monotonic() + 5
        while str(sleeper.pid) not in (left_busy.paths["memory"] / "cgroup.procs").read_text():
            assert time.monotonic() < deadline, "the launcher did not enter its group"
            time.sleep(0.01)
        ceiling.sweep(layout, parent, keep={990_003})
        assert not any(path.exists() for path in left_empty.paths.values())
        assert all(path.exists() for path in left_busy.paths.values())
        assert all(path.exists() for path in kept.paths.values())
    finally:
        sleeper.kill()
        sleeper.wait()
        for group in (left_busy, kept):
            group.remove()
    assert not any(path.exists() for path in left_busy.paths.values())
