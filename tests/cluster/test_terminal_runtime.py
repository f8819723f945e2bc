"""The runner under the abuse a security review tried: slow regular expressions, pipelines that
stop reading, Ctrl-C followed by a new command, keystrokes flooding a command that does not
read them, and what the student's kubectl can reach on disk."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User

from sandbox.models import Sandbox
from sandbox.terminal import workspace
from sandbox.terminal.session import Session
from tests.cluster.test_terminal_socket import connect
from tests.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]


class Collect:
    def __init__(self) -> None:
        self.text = ""

    async def write(self, data: bytes) -> None:
        self.text += data.decode(errors="replace")


def run_lines(sandbox: Sandbox, *lines: str) -> list[tuple[int, str]]:
    owner = User.objects.get(sandboxes=sandbox)

    async def scenario() -> list[tuple[int, str]]:
        session = Session(owner, sandbox)
        results = []
        try:
            for line in lines:
                out = Collect()
                status = await asyncio.wait_for(session.run_line(line, out), timeout=60)
                results.append((status, out.text))
        finally:
            await session.close()
        return results

    return run_async(scenario)


def test_it_stops_a_regular_expression_that_would_never_finish(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    [(status, text)] = run_lines(sandbox, "echo " + "a" * 40 + "! | grep -E '(a|aa)+$'")
    assert status == 2
    assert "takes too long" in text


def test_it_finishes_a_pipeline_whose_reader_stops_early(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    workspace.save(sandbox, "big.txt", ("x" * 1000 + "\n") * 200)  # 200 kB: more than a pipe holds
    line = "kubectl create configmap big --dry-run=client -o yaml --from-file=big.txt | head -n 1"
    results = run_lines(sandbox, line, line)  # and the session still works afterwards
    for status, text in results:
        assert status == 0
        assert text.strip() == "apiVersion: v1"


def test_it_cuts_overlong_lines_instead_of_failing(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    workspace.save(sandbox, "wide.txt", "y" * 200_000)
    [(status, text)] = run_lines(
        sandbox, "kubectl create configmap w --dry-run=client -o json --from-file=wide.txt | wc -l"
    )
    assert status == 0
    assert int(text.split()[0]) > 5


def test_it_does_not_let_ctrl_c_kill_the_next_command(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)

    async def until_exit(communicator: WebsocketCommunicator, timeout: float) -> dict[str, Any]:
        while True:
            message: dict[str, Any] = await communicator.receive_json_from(timeout=timeout)
            if message["type"] == "terminal.exit":
                return message

    async def scenario() -> None:
        communicator = await connect(owner)
        await communicator.send_json_to({"type": "terminal.run", "line": "kubectl get pods -w"})
        await asyncio.sleep(1)
        await communicator.send_json_to({"type": "terminal.interrupt"})
        interrupted = (await until_exit(communicator, 10))["status"]
        assert interrupted != 0
        await communicator.send_json_to({"type": "terminal.run", "line": "kubectl get pods -w"})
        # Past the moment the first Ctrl-C's follow-up kill was due: the new watch must still run.
        # (receive_nothing, not a timed receive: a timed-out receive cancels the application.)
        deadline = asyncio.get_running_loop().time() + 4.5
        while asyncio.get_running_loop().time() < deadline:
            if not await communicator.receive_nothing(timeout=0.2):
                assert (await communicator.receive_json_from())["type"] != "terminal.exit"
        # Keystrokes it does not read are dropped, and the server stays responsive meanwhile.
        for _ in range(20):
            await communicator.send_to(text_data=json.dumps({"type": "terminal.input", "data": "z" * 4000}))
        await communicator.send_json_to({"type": "ping"})
        while (await communicator.receive_json_from(timeout=2))["type"] != "pong":
            pass
        await communicator.send_json_to({"type": "terminal.interrupt"})
        # Ended by this Ctrl-C like the first (not by a stray SIGKILL: 137).
        assert (await until_exit(communicator, 10))["status"] == interrupted
        await communicator.disconnect()

    run_async(scenario)


def test_it_keeps_credentials_and_files_out_of_the_students_reach(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)
    workspace.save(sandbox, "pod.yml", "kind: Pod\n")

    async def scenario() -> None:
        session = Session(owner, sandbox)
        try:
            assert await session.run_line("kubectl version --client", Collect()) == 0
            root, kubeconfig, work, home = (
                os.stat(p)
                for p in (
                    session.folder.root,
                    session.folder.kubeconfig,
                    session.folder.work / "pod.yml",
                    session.folder.home,
                )
            )
            if os.geteuid() == 0:  # kubectl runs as the session's own user id
                assert session.ident.uid >= 2_000_000
                assert (root.st_uid, stat.S_IMODE(root.st_mode)) == (0, 0o711)
                assert (kubeconfig.st_uid, kubeconfig.st_gid, stat.S_IMODE(kubeconfig.st_mode)) == (
                    0,
                    session.ident.gid,
                    0o640,
                )
                assert (work.st_uid, work.st_gid, stat.S_IMODE(work.st_mode)) == (0, session.ident.gid, 0o640)
                assert home.st_uid == session.ident.uid
            else:  # one user for everything: at least nobody else can read the token
                assert stat.S_IMODE(kubeconfig.st_mode) == 0o600
        finally:
            await session.close()
        assert not session.folder.root.exists()

    run_async(scenario)


def test_it_limits_how_many_terminals_one_student_keeps_open(make_sandbox: MakeSandbox) -> None:
    from sandbox.realtime.limits import MAX_TERMINALS_PER_USER

    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)

    async def scenario() -> None:
        tabs = [await connect(owner) for _ in range(MAX_TERMINALS_PER_USER + 1)]
        outputs = []
        for tab in tabs:
            await tab.send_json_to({"type": "terminal.run", "line": "kubectl version --client"})
            text = ""
            while (message := await tab.receive_json_from(timeout=30))["type"] != "terminal.exit":
                text += message.get("data", "")
            outputs.append((message["status"], text))
        assert [status for status, _ in outputs[:-1]] == [0] * MAX_TERMINALS_PER_USER
        assert outputs[-1][0] == 2
        assert "terminals open already" in outputs[-1][1]
        await tabs[0].disconnect()  # closing one frees its place
        again = await connect(owner)
        await again.send_json_to({"type": "terminal.run", "line": "kubectl version --client"})
        while (message := await again.receive_json_from(timeout=30))["type"] != "terminal.exit":
            pass
        assert message["status"] == 0
        for tab in [*tabs[1:], again]:
            await tab.disconnect()

    run_async(scenario)


def test_it_caps_a_flood_of_output_without_holding_it_in_memory(make_sandbox: MakeSandbox) -> None:
    import resource

    from sandbox.terminal.session import Limits

    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)
    flood = "kubectl get ns default -o go-template='{{range 100000}}{{range 100000}}AAAAAAAAAAAAAAAA{{end}}{{end}}'"

    async def scenario() -> tuple[int, str, int]:
        session = Session(owner, sandbox, Limits(bytes_per_command=4 * 1024 * 1024))
        out = Collect()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        try:
            status = await asyncio.wait_for(session.run_line(flood, out), timeout=120)
        finally:
            await session.close()
        grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
        return status, out.text[-300:], grown_kib

    status, tail, grown_kib = run_async(scenario)
    assert status == 125
    assert "output limit" in tail
    assert grown_kib < 200 * 1024  # the backlog is bounded: no gigabyte of queued output


def test_it_ends_processes_a_command_left_behind() -> None:
    import subprocess

    from sandbox.terminal import process

    ident = process.identity()
    if not ident.drop:  # one user for everything: there is nothing of a session's own to end
        process.kill_everything_of(ident)
        return
    stray = subprocess.Popen(["sleep", "60"], user=ident.uid, group=ident.gid, extra_groups=[], start_new_session=True)
    process.kill_everything_of(ident)
    assert stray.wait(timeout=10) == -9


def test_it_stops_a_template_that_would_eat_the_servers_memory(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    double = '{{$x = printf "%s%s%s%s" $x $x $x $x}}'
    line = (
        "kubectl create configmap x --from-literal=a=b --dry-run=client -o "
        f"'go-template={{{{$x := \"aaaaaaaaaaaaaaaa\"}}}}{double * 14}{{{{len $x}}}}'"
    )
    [(status, text)] = run_lines(sandbox, line)  # 16 * 4**14 bytes = 4 GiB, over kubectl's 1 GiB cap
    assert status != 0
    assert "4294967296" not in text


def test_it_opens_a_large_object_in_the_editor(make_sandbox: MakeSandbox, kubectl: Any) -> None:
    sandbox, _ = make_sandbox()
    workspace.save(sandbox, "big.txt", "z" * 130_000)
    [(created, _), (status, text)] = run_lines(
        sandbox, "kubectl create configmap big --from-file=big.txt", "kubectl edit configmap big"
    )
    assert created == 0
    assert status == 0, text
    assert "Opened edit-configmap-big.yaml" in text
    assert len(workspace.files(sandbox)["edit-configmap-big.yaml"]) > 130_000
