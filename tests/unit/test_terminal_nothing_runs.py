"""A refused line starts no process at all: the whole hostile corpus goes through the real
session (the same code the WebSocket and `terminal exec` use) with process creation made to
fail loudly."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from django.contrib.auth.models import User

from sandbox.models import Sandbox, State
from sandbox.terminal.models import CommandAudit
from sandbox.terminal.session import Session
from tests.conftest import run_async
from tests.unit.test_terminal_hostile_corpus import WORKSPACE, corpus

pytestmark = pytest.mark.django_db(transaction=True)


class Collect:
    def __init__(self) -> None:
        self.data = b""

    async def write(self, data: bytes) -> None:
        self.data += data


def test_it_starts_no_process_for_any_refused_line(student: User, monkeypatch: pytest.MonkeyPatch) -> None:
    from sandbox.terminal import workspace

    sandbox = Sandbox.objects.create(owner=student, namespace="sbx-corpus", state=State.READY, node_port=30200)
    for name in WORKSPACE:
        workspace.save(sandbox, name, "kind: Pod\n")

    async def no_process(*args: Any, **kwargs: Any) -> None:
        raise AssertionError(f"a process was started: {args}")

    monkeypatch.setattr(asyncio, "create_subprocess_exec", no_process)
    lines = [line for _, line in corpus()]

    async def scenario() -> list[tuple[int, bytes]]:
        session = Session(student, sandbox)
        results = []
        try:
            for line in lines:
                sink = Collect()
                results.append((await session.run_line(line, sink), sink.data))
        finally:
            await session.close()
        return results

    results = run_async(scenario)
    for line, (status, output) in zip(lines, results, strict=True):
        assert status == 2, line
        assert output.startswith(b"\x1b[31m"), line  # the refusal, in red
    assert CommandAudit.objects.filter(sandbox=sandbox, outcome="denied").count() == len(lines)
    # Control characters are audited escaped (PostgreSQL refuses a raw NUL).
    assert CommandAudit.objects.filter(sandbox=sandbox, line__contains="\\x00").exists()
