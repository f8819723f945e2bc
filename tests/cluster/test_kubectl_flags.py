"""The policy must read every allowed command's flags exactly as the kubectl we run does: a flag
it thinks takes a value while kubectl thinks it is a boolean (or the other way round) shifts
every word after it, which is how a refused flag could slip through. This asks the real
kubectl (`--help`) about every allowed subcommand and compares."""

from __future__ import annotations

import re
import subprocess

import pytest

from sandbox.cluster.tools import kubectl
from sandbox.terminal import kubectl_policy as kp

FLAG_LINE = re.compile(r"^\s+(?:-(\w), )?--([\w-]+)=(.*):\s*$")
# Flags with a default used when given alone (pflag NoOptDefVal): kubectl's help cannot tell.
WITH_DEFAULT = {name for name, kind in kp.FLAGS.items() if kind == "default"}


def commands() -> list[tuple[str, ...]]:
    found: list[tuple[str, ...]] = []
    for sub, children in kp.CHILDREN.items():
        if sub in ("help", "port-forward"):  # help runs nothing; port-forward never runs kubectl
            continue
        real = "get" if sub == "edit" else sub  # `edit` is run as `kubectl get ... -o yaml`
        if children is None or sub in kp.FLAGS_INSTEAD_OF_CHILD:
            found.append((real,))
        found += [(real, child) for child in sorted(children or ())]
    return found


def kubectl_flags(command: tuple[str, ...]) -> dict[str, tuple[str | None, str]]:
    """name -> (shorthand, "bool" | "value") as the real kubectl declares them."""
    help_text = subprocess.run([kubectl(), *command, "--help"], capture_output=True, text=True, check=True).stdout
    flags: dict[str, tuple[str | None, str]] = {}
    for line in help_text.splitlines():
        match = FLAG_LINE.match(line)
        if match:
            short, name, default = match.groups()
            flags[name] = (short, "bool" if default in ("true", "false") else "value")
    return flags


@pytest.mark.parametrize("command", commands(), ids=lambda c: " ".join(c))
def test_it_reads_each_flag_as_kubectl_does(command: tuple[str, ...]) -> None:
    sub = command[0]
    shorts = {**kp.SHORT, **kp.SHORT_IN.get(sub, {})}
    for name, (short, kind) in kubectl_flags(command).items():
        if name in kp.FLAGS and name not in WITH_DEFAULT:
            ours = kp._kind(name, sub)
            assert (ours == "bool") == (kind == "bool"), f"kubectl {' '.join(command)} --{name}: {ours} vs {kind}"
        if short and short in shorts and shorts[short] in kp.FLAGS:
            ours = kp._kind(shorts[short], sub)
            if shorts[short] not in WITH_DEFAULT:
                assert (ours == "bool") == (kind == "bool"), f"kubectl {' '.join(command)} -{short}: {ours} vs {kind}"
