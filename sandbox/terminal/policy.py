"""Decide, before anything runs, what each command of a parsed line is and whether it may run.
Nothing is executed for a line with any refused part."""

from __future__ import annotations

from dataclasses import dataclass

from sandbox.terminal import kubectl_policy
from sandbox.terminal.errors import Denied
from sandbox.terminal.parser import Command, Line
from sandbox.terminal.tools import TEXT_TOOLS, Tool

BUILTINS = {
    "help": "show what this terminal can do",
    "clear": "clear the screen (also Ctrl-L)",
    "history": "list the commands typed in this session",
    "ls": "list the workspace files",
    "cat": "print a workspace file: cat NAME",
    "echo": "print its arguments",
}
# Builtins that produce output others can read from a pipe.
PRODUCERS = {"cat", "echo", "ls", "history", "help"}


@dataclass(frozen=True)
class KubectlStep:
    """kubectl runs: alone in a pseudo-terminal, or as a stage of a pipeline."""

    argv: tuple[str, ...]
    call: kubectl_policy.KubectlCall


@dataclass(frozen=True)
class EditStep:
    """`kubectl edit TYPE NAME`, answered by the platform: `read_argv` (kubectl get ... -o yaml)
    reads the object, which opens in the page's editor."""

    read_argv: tuple[str, ...]
    target: tuple[str, ...]


@dataclass(frozen=True)
class ForwardStep:
    """`kubectl port-forward [KIND/]NAME PORT`, answered with a link: no port opens."""

    kind: str  # pod, service or deployment
    name: str
    port: int | str  # a number or a port's name


@dataclass(frozen=True)
class ToolStep:
    name: str
    tool: Tool


@dataclass(frozen=True)
class BuiltinStep:
    name: str
    args: tuple[str, ...]


Step = KubectlStep | EditStep | ForwardStep | ToolStep | BuiltinStep


@dataclass(frozen=True)
class Plan:
    """The checked line: for each pipeline, how it joins the previous one and its steps."""

    pipelines: tuple[tuple[str, tuple[Step, ...]], ...]


def check_command(command: Command, position: int, length: int, workspace: set[str]) -> Step:
    name, args = command.name, list(command.argv[1:])
    if name == "kubectl":
        call = kubectl_policy.check(args, workspace)
        if call.interactive and length > 1:
            raise Denied("interactive kubectl (-i/-t) cannot be part of a pipeline")
        if (call.edit_target or call.forward) and length > 1:
            raise Denied(f"kubectl {call.subcommand} cannot be part of a pipeline")
        if call.edit_target:
            rest = command.argv[command.argv.index("edit") + 1 :]
            return EditStep(("kubectl", "get", *rest, "-o", "yaml"), tuple(call.edit_target))
        if call.forward:
            return ForwardStep(*call.forward)
        return KubectlStep(command.argv, call)
    if name in TEXT_TOOLS:
        if position == 0:
            raise Denied(f"{name} reads only from a pipe here, e.g. `kubectl get pods | {name} ...`")
        return ToolStep(name, TEXT_TOOLS[name](args))
    if name in BUILTINS:
        if position > 0:
            raise Denied(f"{name} cannot read from a pipe; put it first")
        if name not in PRODUCERS and length > 1:
            raise Denied(f"{name} cannot be used in a pipeline")
        if name == "cat":
            if len(args) != 1 or args[0] in ("-", ".", "./"):
                raise Denied("usage: cat NAME (one workspace file; `ls` lists them)")
            kubectl_policy.check_path(args[0], "cat", workspace)
        if name in ("ls", "clear", "history", "help") and args:
            raise Denied(f"{name} takes no arguments here")
        return BuiltinStep(name, tuple(args))
    if "=" in name and name.split("=", 1)[0].replace("_", "").isalnum():
        raise Denied(f"{name}: setting environment variables is not supported; kubectl's environment is fixed")
    if name.startswith(("/", ".")) or "/" in name:
        raise Denied(f"{name}: running programs by path is not allowed; type `help` to see the commands")
    raise Denied(f"{name}: command not found. This terminal runs kubectl and a few helpers; type `help`")


def check_line(line: Line, workspace: set[str]) -> Plan:
    """Check every command of the line; raise Denied for the first refused one."""
    pipelines = []
    for step in line.steps:
        commands = step.pipeline.commands
        checked = tuple(check_command(c, i, len(commands), workspace) for i, c in enumerate(commands))
        pipelines.append((step.joiner, checked))
    return Plan(tuple(pipelines))
