"""One student flooding the page's WebSocket: every kind of message has a limit answered with a
typed error, other students carry on, a burst of resets queues one reset, and what one student
may have running at once is bounded. Real ASGI app, Redis channel layer, PostgreSQL, API server."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test import override_settings

from config.asgi import application
from lessons import loader
from sandbox.models import Sandbox, State
from sandbox.realtime import limits
from sandbox.realtime.consumer import DROPPED_BEFORE_CLOSE
from tests.cluster.test_terminal_socket import cookie_for
from tests.conftest import SAME_ORIGIN, run_async

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]
Message = dict[str, Any]

LESSON_OPEN_ZH: Message = {"type": "lesson.open", "slug": "pod", "language": "zh-hans"}
# One message of each kind the limits count separately, in the order the first test sends them.
SAMPLES: list[tuple[str, Message]] = [
    ("other", {"type": "ping"}),
    ("terminal.keys", {"type": "terminal.resize", "cols": 100, "rows": 30}),
    ("terminal.run", {"type": "terminal.run", "line": "help"}),
    ("cluster.subscribe", {"type": "cluster.subscribe"}),
    ("lesson.open", LESSON_OPEN_ZH),
    ("lesson.hint", {"type": "lesson.hint", "step": "apply"}),
    ("lesson.check", {"type": "lesson.check"}),
    ("lesson.step", {"type": "lesson.reset_step", "step": "apply"}),
    ("lesson.reset", {"type": "lesson.reset"}),
]
ALL_KINDS = {kind for kind, _ in SAMPLES}


@pytest.fixture(autouse=True)
def _fresh_buckets() -> Iterator[None]:
    """A new test database numbers its users from 1 again: forget the buckets of a run that
    ended less than a bucket's lifetime ago."""
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter(f"socket-rate:{settings.SANDBOX_NAMESPACE_PREFIX}*"):
        client.delete(key)
    yield
    client.close()


def student(make_sandbox: MakeSandbox) -> tuple[User, Sandbox]:
    sandbox, _ = make_sandbox()
    return User.objects.get(sandboxes=sandbox), sandbox


async def connect(user: User, *headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    cookie = await sync_to_async(cookie_for)(user)
    communicator = WebsocketCommunicator(
        application, "/ws/sandbox/", headers=[(b"cookie", cookie), *SAME_ORIGIN, *headers]
    )
    connected, _ = await communicator.connect(timeout=10)
    assert connected
    assert (await communicator.receive_json_from(timeout=10))["type"] == "hello"
    return communicator


async def until(
    communicator: WebsocketCommunicator, done: Callable[[Message], bool], timeout: float = 30
) -> list[Message]:
    """Messages received up to and including the first for which done() is true."""
    seen: list[Message] = []
    while not seen or not done(seen[-1]):
        seen.append(await communicator.receive_json_from(timeout=timeout))
    return seen


def refused(message: Message) -> bool:
    return message["type"] == "error" and message.get("code") == "rate_limited"


def test_every_kind_over_its_limit_gets_a_typed_error_in_the_sockets_language(make_sandbox: MakeSandbox) -> None:
    loader.load()
    owner, _ = student(make_sandbox)

    async def scenario() -> None:
        communicator = await connect(owner)
        for index, (kind, sample) in enumerate(SAMPLES):
            for _ in range(3):
                await communicator.send_json_to(sample)
            seen = await until(communicator, refused)
            assert [m for m in seen if refused(m)] == [seen[-1]], f"{kind}: only the third is refused"
            error = seen[-1]
            assert set(error) == {"type", "code", "kind", "retry_after", "message"}
            assert error["kind"] == kind
            # Two per 60 s: the next one comes back half a minute after the two were taken.
            assert 0 < error["retry_after"] <= 30
            if index >= SAMPLES.index(("lesson.open", LESSON_OPEN_ZH)):
                # lesson.open asked for Chinese: the socket's messages follow it from then on.
                assert error["message"].endswith("秒后重试。"), error
            else:
                assert error["message"].startswith("Too many "), error
        await communicator.disconnect()

    with override_settings(SOCKET_RATES=dict.fromkeys(ALL_KINDS, (2, 60.0))):
        run_async(scenario)


def test_the_language_comes_from_the_page_request_headers(make_sandbox: MakeSandbox) -> None:
    owner, _ = student(make_sandbox)

    async def scenario() -> None:
        communicator = await connect(owner, (b"accept-language", b"zh-CN,zh;q=0.9,en;q=0.5"))
        await communicator.send_json_to({"type": "ping"})
        await communicator.send_json_to({"type": "ping"})
        error = (await until(communicator, refused))[-1]
        assert error["kind"] == "other"
        assert error["message"] == "消息太多了，请在 60 秒后重试。"  # noqa: RUF001  (Chinese punctuation)
        await communicator.disconnect()

    with override_settings(SOCKET_RATES={**settings.SOCKET_RATES, "other": (1, 60.0)}):
        run_async(scenario)


def test_another_students_terminal_and_live_view_carry_on_while_one_floods(make_sandbox: MakeSandbox) -> None:
    loader.load()
    flooder, _ = student(make_sandbox)
    other, _ = student(make_sandbox)

    async def scenario() -> None:
        a = await connect(flooder)
        b = await connect(other)
        await a.send_json_to({"type": "lesson.open", "slug": "pod", "language": "en"})
        flood = [{"type": "cluster.subscribe"}, {"type": "lesson.reset"}, {"type": "lesson.hint", "step": "apply"}]
        for _ in range(40):
            for message in flood:
                await a.send_json_to(message)
        # B works in the middle of A's flood (A's messages are still being answered).
        for _ in range(3):
            await b.send_json_to({"type": "terminal.run", "line": "help"})
            seen = await until(b, lambda m: m["type"] == "terminal.exit")
            assert seen[-1]["status"] == 0
            assert "kubectl" in "".join(m["data"] for m in seen if m["type"] == "terminal.output")
            assert [m for m in seen if m["type"] == "error"] == []
        await b.send_json_to({"type": "cluster.subscribe"})
        seen = await until(b, lambda m: m["type"] == "cluster.snapshot")
        assert [m for m in seen if m["type"] == "error"] == []
        # A was refused: with the default limits (20, 3 and 20 a minute) 77 of the 120 are over.
        # The first refusals are answered, the rest dropped without an answer.
        await a.send_json_to({"type": "ping"})  # answered after everything sent before it
        answers = await until(a, lambda m: m["type"] == "pong")
        kinds = [m["kind"] for m in answers if refused(m)]
        assert set(kinds) == {"cluster.subscribe", "lesson.reset", "lesson.hint"}
        assert settings.SOCKET_REFUSALS_ANSWERED[0] <= len(kinds) < 77
        await a.disconnect()
        await b.disconnect()

    run_async(scenario)


def test_a_socket_that_goes_on_after_its_refusals_are_no_longer_answered_is_closed(
    make_sandbox: MakeSandbox,
) -> None:
    owner, _ = student(make_sandbox)

    async def scenario() -> None:
        communicator = await connect(owner)
        for _ in range(3 + DROPPED_BEFORE_CLOSE):
            await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from(timeout=10) == {"type": "pong"}
        assert refused(await communicator.receive_json_from(timeout=10))
        # The other pings are dropped without an answer; the one past the bound closes the socket.
        assert await communicator.receive_output(timeout=30) == {"type": "websocket.close", "code": 4429}
        await communicator.wait(timeout=10)

    with override_settings(
        SOCKET_RATES={**settings.SOCKET_RATES, "other": (1, 1000.0)}, SOCKET_REFUSALS_ANSWERED=(1, 1000.0)
    ):
        run_async(scenario)


def queued_resets(sandbox: Sandbox) -> set[str]:
    """Ids of the reset tasks for this sandbox waiting in the Celery queue in Redis (no worker
    runs here; a test database numbers its sandboxes from 1 again, so an earlier run's may be
    there too: compare with what was there before)."""
    client = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    try:
        bodies = client.lrange("celery", 0, -1)
    finally:
        client.close()
    headers = [json.loads(body)["headers"] for body in bodies]
    return {h["id"] for h in headers if h["task"] == "sandbox.tasks.reset" and h["argsrepr"] == f"({sandbox.pk},)"}


def test_a_flood_of_resets_queues_one_reset(make_sandbox: MakeSandbox) -> None:
    loader.load()
    owner, sandbox = student(make_sandbox)
    before = queued_resets(sandbox)

    async def scenario() -> None:
        sockets = [await connect(owner) for _ in range(4)]
        for communicator in sockets:
            await communicator.send_json_to({"type": "lesson.open", "slug": "pod", "language": "en"})
            await until(communicator, lambda m: m["type"] in ("lesson.state", "lesson.error"))
        for _ in range(25):
            for communicator in sockets:
                await communicator.send_json_to({"type": "lesson.reset"})
        for communicator in sockets:
            # Each reset is answered with lesson.files then lesson.state: all 25 got through.
            states = 0
            while states < 25:
                message = await communicator.receive_json_from(timeout=30)
                assert not refused(message), message
                states += message["type"] == "lesson.state"
            await communicator.disconnect()

    # No rate limit on resets here, so every one of the 100 reaches the handler.
    unlimited = {**settings.SOCKET_RATES, "lesson.reset": (1000, 1.0)}
    with override_settings(SOCKET_RATES=unlimited, SOCKET_IN_FLIGHT_PER_USER=100):
        run_async(scenario)
    sandbox.refresh_from_db()
    assert sandbox.state == State.RESETTING
    assert len(queued_resets(sandbox) - before) == 1


async def in_flight_becomes(user: User, count: int) -> bool:
    for _ in range(200):
        if limits.in_flight.count(user.pk) == count:
            return True
        await asyncio.sleep(0.05)
    return False


def test_what_one_student_has_running_at_once_is_bounded(make_sandbox: MakeSandbox) -> None:
    loader.load()
    owner, sandbox = student(make_sandbox)
    locked, release = threading.Event(), threading.Event()

    def hold_the_sandbox_row() -> None:
        # A reset's state change waits for this lock: the resets stay in flight until released.
        try:
            with transaction.atomic():
                Sandbox.objects.select_for_update().get(pk=sandbox.pk)
                locked.set()
                release.wait(timeout=60)
        finally:
            connection.close()

    async def scenario() -> None:
        sockets = [await connect(owner) for _ in range(3)]
        for communicator in sockets:
            await communicator.send_json_to({"type": "lesson.open", "slug": "pod", "language": "en"})
            await until(communicator, lambda m: m["type"] in ("lesson.state", "lesson.error"))
        holder = threading.Thread(target=hold_the_sandbox_row)
        holder.start()
        try:
            assert locked.wait(timeout=10)
            await sockets[0].send_json_to({"type": "lesson.reset"})
            await sockets[1].send_json_to({"type": "lesson.reset"})
            assert await in_flight_becomes(owner, 2)
            await sockets[2].send_json_to({"type": "lesson.hint", "step": "apply"})
            error = await sockets[2].receive_json_from(timeout=10)
            assert refused(error)
            assert (error["kind"], error["retry_after"]) == ("lesson.hint", 1.0)
            assert error["message"] == "Too much of yours is still running. Try again in a moment."
        finally:
            release.set()
            await sync_to_async(holder.join, thread_sensitive=False)()
        for communicator in sockets[:2]:
            seen = await until(communicator, lambda m: m["type"] == "lesson.state")
            assert not any(refused(m) for m in seen)
        assert await in_flight_becomes(owner, 0)
        await sockets[2].send_json_to({"type": "lesson.hint", "step": "apply"})
        seen = await until(sockets[2], lambda m: m["type"] == "lesson.state")
        assert not any(refused(m) for m in seen)
        for communicator in sockets:
            await communicator.disconnect()

    with override_settings(SOCKET_IN_FLIGHT_PER_USER=2):
        run_async(scenario)
