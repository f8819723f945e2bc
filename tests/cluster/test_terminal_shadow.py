"""Shadowing, the student's side (sandbox/terminal/shadow.py), over a real socket, real Redis and
real kubectl: the terminal's output reaches the student's shadow group and its scrollback, a
suggested line only fills the student's prompt (and runs, through the policy, only when the
student sends it), and the student's page is told who watches."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import redis
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User

from sandbox.models import Sandbox
from sandbox.terminal import shadow
from sandbox.terminal.models import CommandAudit
from tests.cluster.test_terminal_socket import connect, run
from tests.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)

MakeSandbox = Callable[..., tuple[Sandbox, str]]


@pytest.fixture(autouse=True)
def no_earlier_scrollback() -> None:
    """Forget the scrollbacks and watchers of earlier runs: the test database starts its user ids
    again from 1, and Redis keeps what this installation's prefix wrote before."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    prefix = settings.SANDBOX_NAMESPACE_PREFIX
    for pattern in (f"shadow-scrollback:{prefix}*", f"shadow-watchers:{prefix}*"):
        keys = list(client.scan_iter(match=pattern))
        if keys:
            client.delete(*keys)
    client.close()


async def next_of(communicator: WebsocketCommunicator, kind: str, timeout: float = 10) -> dict[str, Any]:
    """The next message of this type (others, such as a live view snapshot, are passed over)."""
    while True:
        message: dict[str, Any] = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == kind:
            return message


async def shadow_text(layer: Any, channel: str, until: str, timeout: float = 30) -> str:
    """What a watcher's channel received of the student's terminal, up to a text."""
    received = ""
    async with asyncio.timeout(timeout):
        while until not in received:
            event = await layer.receive(channel)
            assert event["type"] == "shadow.output"
            received += event["data"]
    return received


def test_it_publishes_what_the_terminal_prints_and_keeps_a_scrollback(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)
    marker = uuid.uuid4().hex

    async def scenario() -> None:
        layer = get_channel_layer()
        watcher = await layer.new_channel()
        await layer.group_add(shadow.group(owner.pk), watcher)
        communicator = await connect(owner)
        output, status = await run(communicator, f"echo {marker}")
        assert status == 0
        assert marker in output
        seen = await shadow_text(layer, watcher, f"{marker}\r\n{marker}")
        # The line as the student typed it, then what it printed, in order.
        assert f"$ \x1b[0mecho {marker}\r\n" in seen
        assert seen.index(f"echo {marker}") < seen.rindex(marker)
        await run(communicator, "kubectl get pods --kubeconfig=/etc/kubernetes/admin.conf")
        await shadow_text(layer, watcher, "your own sandbox credentials")
        await communicator.disconnect()
        # A watcher who comes later reads the same, from the scrollback.
        late = await shadow.scrollback(owner.pk)
        assert f"echo {marker}\r\n{marker}" in late
        assert "your own sandbox credentials" in late

    run_async(scenario)


def test_the_scrollback_keeps_only_the_most_recent_output(db: None) -> None:
    student_id = 10_000_000 + uuid.uuid4().int % 1_000_000  # nobody's: only Redis is used

    async def scenario() -> None:
        publisher = shadow.Publisher(student_id, get_channel_layer())
        bound = shadow.SCROLLBACK_CHUNKS * shadow.CHUNK_CHARS
        for index in range(3 * bound // 1000):
            publisher.publish(f"{index:08d}" + "." * 991 + "\n")
            if index % 50 == 0:
                await asyncio.sleep(0)  # let the publisher send, as output arrives over time
        publisher.publish("the last line\n")
        await publisher.close()
        kept = await shadow.scrollback(student_id)
        assert 0 < len(kept) <= bound
        assert kept.endswith("the last line\n")
        assert "00000000" not in kept  # the oldest went first

    run_async(scenario)


def test_a_suggested_line_fills_the_prompt_and_runs_only_when_the_student_sends_it(
    make_sandbox: MakeSandbox,
) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)
    forbidden = "kubectl get pods --kubeconfig=/etc/kubernetes/admin.conf"

    async def scenario() -> None:
        layer = get_channel_layer()
        communicator = await connect(owner)
        await shadow.suggest(owner.pk, shadow.clean_suggestion(f"  {forbidden} "), "Ines", layer)
        suggestion = await next_of(communicator, "terminal.suggest")
        assert suggestion == {"type": "terminal.suggest", "line": forbidden, "by": "Ines"}
        # Nothing ran: the line waits in the student's prompt.
        await asyncio.sleep(1)
        assert not await CommandAudit.objects.filter(sandbox=sandbox).aexists()
        assert await communicator.receive_nothing(timeout=0.5)
        # The student presses Enter: the page sends it as a line they typed, and the policy
        # refuses it as it refuses the same line typed.
        output, status = await run(communicator, suggestion["line"])
        assert status == 2
        assert "your own sandbox credentials" in output
        await communicator.disconnect()

    run_async(scenario)
    audit = CommandAudit.objects.get(sandbox=sandbox)
    assert (audit.line, audit.outcome, audit.user_id) == (forbidden, "denied", owner.pk)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("kubectl get pods\rkubectl delete pods --all", "control characters"),
        ("kubectl get pods\n", None),  # a trailing newline is trimmed, not sent as Enter
        ("x" * 1001, "at most"),
        ("   ", "empty"),
        (42, "line of text"),
        ("\x1b[2Jkubectl", "control characters"),
    ],
)
def test_it_refuses_a_suggestion_that_could_press_enter_or_drive_the_terminal(line: object, reason: str | None) -> None:
    if reason is None:
        assert shadow.clean_suggestion(line) == "kubectl get pods"
        return
    with pytest.raises(shadow.BadSuggestion, match=reason):
        shadow.clean_suggestion(line)


def test_the_student_sees_who_is_watching(make_sandbox: MakeSandbox) -> None:
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)

    async def scenario() -> None:
        layer = get_channel_layer()
        communicator = await connect(owner)
        await communicator.send_json_to({"type": "shadow.who"})
        assert (await next_of(communicator, "shadow.watchers"))["names"] == []
        await shadow.start_watching(owner.pk, "channel-a", "Ines", layer)
        assert (await next_of(communicator, "shadow.watchers"))["names"] == ["Ines"]
        await shadow.start_watching(owner.pk, "channel-b", "Ada", layer)
        assert (await next_of(communicator, "shadow.watchers"))["names"] == ["Ada", "Ines"]
        await shadow.start_watching(owner.pk, "channel-c", "Ines", layer)  # a second tab of hers
        assert (await next_of(communicator, "shadow.watchers"))["names"] == ["Ada", "Ines"]
        await shadow.stop_watching(owner.pk, "channel-a", "Ines", layer)
        assert (await next_of(communicator, "shadow.watchers"))["names"] == ["Ada", "Ines"]
        await shadow.stop_watching(owner.pk, "channel-b", "Ada", layer)
        assert (await next_of(communicator, "shadow.watchers"))["names"] == ["Ines"]
        await shadow.stop_watching(owner.pk, "channel-c", "Ines", layer)
        assert (await next_of(communicator, "shadow.watchers"))["names"] == []
        # A watcher whose server went away without a goodbye drops out by itself.
        await shadow.start_watching(owner.pk, "channel-d", "Gone", layer)
        await next_of(communicator, "shadow.watchers")
        await shadow._redis().zadd(
            shadow._watchers_key(owner.pk),
            {shadow._member("channel-d", "Gone"): time.time() - shadow.WATCHER_STALE_SECONDS - 1},
        )
        assert await shadow.watchers(owner.pk) == []
        await communicator.disconnect()

    run_async(scenario)
