"""Lines from the official kubectl Quick Reference for work inside one namespace that a new
user typed and the terminal refused although they are harmless: each is accepted now, reading
only workspace files, and the dangerous neighbours of each stay refused."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.terminal import policy, tools
from sandbox.terminal.errors import Denied
from sandbox.terminal.kubectl_policy import KubectlCall
from sandbox.terminal.parser import parse

WORKSPACE = {"cols.txt", "tpl.txt", "path.txt", "pod.yaml"}


def kubectl_call(line: str) -> KubectlCall:
    step = policy.check_line(parse(line), WORKSPACE).pipelines[0][1][0]
    assert isinstance(step, policy.KubectlStep)
    return step.call


def refusal(line: str) -> str:
    with pytest.raises(Denied) as refused:
        policy.check_line(parse(line), WORKSPACE)
    return refused.value.message


def test_events_by_type() -> None:
    assert kubectl_call("kubectl events --types=Warning").flags["types"] == ["Warning"]
    assert kubectl_call("kubectl events --types Warning,Normal -w").streaming


def forward_step(line: str) -> policy.ForwardStep:
    step = policy.check_line(parse(line), WORKSPACE).pipelines[0][1][0]
    assert isinstance(step, policy.ForwardStep)
    return step


def test_port_forward_to_a_named_port() -> None:
    assert forward_step("kubectl port-forward svc/petclinic 5000:http") == policy.ForwardStep(
        "service", "petclinic", "http"
    )
    assert forward_step("kubectl port-forward petclinic web-ui") == policy.ForwardStep("pod", "petclinic", "web-ui")
    assert forward_step("kubectl port-forward deploy/petclinic 8080") == policy.ForwardStep(
        "deployment", "petclinic", 8080
    )
    for bad in ["HTTP", "a--b", "-x", "port-name-too-long", "http/../x"]:
        assert "usage: kubectl port-forward" in refusal(f"kubectl port-forward svc/petclinic '5000:{bad}'")


@pytest.mark.parametrize(
    ("line", "files"),
    [
        ("kubectl get pods -o custom-columns-file=cols.txt", ["cols.txt"]),
        ("kubectl get pods -o go-template-file=tpl.txt", ["tpl.txt"]),
        ("kubectl get pods -o=jsonpath-file=path.txt", ["path.txt"]),
        ("kubectl get pods -o go-template-file --template=tpl.txt", ["tpl.txt"]),
        ("kubectl get pods --template=tpl.txt -o templatefile", ["tpl.txt"]),
        # An inline template that merely contains the word "file" is a template, not a file.
        ("kubectl get pods -o go-template --template='{{.metadata.name}}-file'", []),
    ],
)
def test_output_templates_from_workspace_files(line: str, files: list[str]) -> None:
    assert kubectl_call(line).files == files


@pytest.mark.parametrize(
    "line",
    [
        "kubectl get pods -o custom-columns-file=/etc/passwd",
        "kubectl get pods -o jsonpath-file=../cols.txt",
        "kubectl get pods -o go-template-file --template=/etc/shadow",
        "kubectl get pods -o go-template-file=missing.txt",
    ],
)
def test_templates_outside_the_workspace_stay_refused(line: str) -> None:
    message = refusal(line)
    assert "workspace file" in message


def test_cluster_info_dump_prints_to_the_terminal_only() -> None:
    assert kubectl_call("kubectl cluster-info dump").subcommand == "cluster-info"
    assert kubectl_call("kubectl cluster-info dump --namespaces=kube-system -o yaml").flags["namespaces"]
    assert "files on the server" in refusal("kubectl cluster-info dump --output-directory=/tmp/dump")
    assert "usage: kubectl cluster-info" in refusal("kubectl cluster-info dump more")


def test_grep_context_flags_in_pipes() -> None:
    for line in [
        "kubectl get pods | grep -A 2 web",
        "kubectl get pods | grep -B1 web",
        "kubectl get pods | grep -C 3 -n x",
    ]:
        policy.check_line(parse(line), WORKSPACE)
    assert "-A needs a number" in refusal("kubectl get pods | grep -A x web")
    assert "-C needs a number" in refusal("kubectl get pods | grep -C 100000 web")


async def _run_grep(args: list[str], text: list[str]) -> list[str]:
    tool = tools.grep(args)
    out: list[str] = []

    async def lines() -> AsyncIterator[str]:
        for line in text:
            yield line

    async def emit(line: str) -> None:
        out.append(line)

    await tool(lines(), emit)
    return out


@pytest.mark.skipif(shutil.which("grep") is None, reason="GNU grep is the reference")
@settings(max_examples=150, deadline=None)
@given(
    lines=st.lists(st.sampled_from(["web-1", "db", "web-2", "cache", "api", "web-3", "x"]), max_size=25),
    after=st.integers(0, 3),
    before=st.integers(0, 3),
    both=st.one_of(st.none(), st.integers(0, 3)),
    number=st.booleans(),
    invert=st.booleans(),
)
def test_grep_context_matches_gnu_grep(
    lines: list[str], after: int, before: int, both: int | None, number: bool, invert: bool
) -> None:
    args = (["-n"] if number else []) + (["-v"] if invert else [])
    args += ["-C", str(both)] if both is not None else []
    args += ["-A", str(after), "-B", str(before)]
    args.append("web")
    ours = asyncio.run(_run_grep(args, lines))
    gnu = subprocess.run(["grep", *args], input="".join(f"{line}\n" for line in lines), capture_output=True, text=True)
    assert ours == gnu.stdout.splitlines()
