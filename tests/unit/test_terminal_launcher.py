"""The terminal's launcher (sandbox/terminal/launch.c), run for real: it enters the groups,
sets the limits and changes user before the command runs, and stops rather than run a command
with less than it was asked for. That kubectl dies with its server is
tests/unit/test_terminal_server_death.py; the groups under attack, tests/security/."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from django.test import override_settings

from sandbox import checks
from sandbox.terminal import process

ME = process.Identity(os.geteuid(), os.getegid())  # no change of user: only the limits


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, env={}, timeout=30)


def limits_of(text: str) -> dict[str, list[str]]:
    return {line[:26].strip(): line[26:].split()[:2] for line in text.splitlines()[1:]}


def test_it_stops_instead_of_running_outside_its_group(tmp_path: Path) -> None:
    """A group file that cannot be written (gone, or not a cgroup) ends the launcher with 126
    and a sentence; the command never runs."""
    marker = tmp_path / "ran"
    result = run(process.launch(["/bin/touch", str(marker)], ME, [tmp_path / "missing" / "cgroup.procs"]))
    assert result.returncode == 126
    assert result.stderr.strip() == "could not enter the resource group; try again"
    assert not marker.exists()


def test_it_writes_its_own_pid_into_each_group_then_execs_the_command(tmp_path: Path) -> None:
    joins = [tmp_path / "a", tmp_path / "b"]
    for path in joins:
        path.touch()
    result = run(process.launch(["/bin/echo", "it ran", "with $HOME untouched"], ME, joins))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "it ran with $HOME untouched\n"  # arguments pass through, never a shell
    assert [p.read_text() for p in joins] == ["0\n", "0\n"]  # "0" is the writer itself


def test_it_does_not_follow_a_link_planted_for_a_group_file(tmp_path: Path) -> None:
    target, link = tmp_path / "elsewhere", tmp_path / "tasks"
    target.write_text("")
    link.symlink_to(target)
    result = run(process.launch(["/bin/true"], ME, [link]))
    assert result.returncode == 126
    assert target.read_text() == ""


def test_the_command_runs_under_its_own_limits() -> None:
    result = run(process.launch(["/bin/cat", "/proc/self/limits"], ME))
    assert result.returncode == 0, result.stderr
    limits = limits_of(result.stdout)
    assert limits["Max core file size"] == ["0", "0"]
    assert limits["Max open files"] == ["256", "256"]
    assert limits["Max data size"] == [str(process.KUBECTL_MEMORY)] * 2
    assert limits["Max file size"] == [str(64 * 1024 * 1024)] * 2
    # Without a user of its own, a process cap would count the server's own threads too.
    assert limits["Max processes"] != ["256", "256"]


@pytest.mark.skipif(os.geteuid() != 0, reason="only root changes user ids")
def test_it_becomes_the_session_user_with_no_other_group_and_a_process_cap() -> None:
    ident = process.Identity(2_000_123, 2_000_123)
    result = run(process.launch(["/bin/cat", "/proc/self/status", "/proc/self/limits"], ident))
    assert result.returncode == 0, result.stderr
    status = dict(line.split(":", 1) for line in result.stdout.splitlines() if line[:4] in ("Uid:", "Gid:", "Grou"))
    assert status["Uid"].split() == ["2000123"] * 4  # real, effective, saved, filesystem
    assert status["Gid"].split() == ["2000123"] * 4
    assert status["Groups"].split() == []
    assert "Max processes             256                  256" in result.stdout


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--", "bin/true"], "absolute path"),
        (["-x", "1", "--", "/bin/true"], "unknown option"),
        (["-u", "0", "--", "/bin/true"], "other than 0"),
        (["-u", "12ab", "--", "/bin/true"], "other than 0"),
        (["-l", "stack=1", "--", "/bin/true"], "unknown limit"),
        (["-l", "nofile=-1", "--", "/bin/true"], "bad value"),
        (["-j"], "without its value"),
        ([], "absolute path"),
    ],
)
def test_a_malformed_call_runs_nothing_and_says_why(argv: list[str], said: str) -> None:
    result = run([process.launcher(), *argv])
    assert result.returncode == 125
    assert said in result.stderr


def test_a_command_that_cannot_start_is_reported_by_name(tmp_path: Path) -> None:
    result = run(process.launch([str(tmp_path / "no-such-kubectl")], ME))
    assert result.returncode == 127
    assert "no-such-kubectl: No such file or directory" in result.stderr


def test_a_missing_launcher_is_a_clear_error_and_a_system_check(tmp_path: Path) -> None:
    with override_settings(TERMINAL_LAUNCHER=tmp_path / "nowhere"):
        with pytest.raises(FileNotFoundError, match="make deps"):
            process.launch(["/bin/true"], ME)
        [message] = checks.check_terminal_launcher(None)
    assert message.id == "sandbox.W006"
    assert checks.check_terminal_launcher(None) == []
