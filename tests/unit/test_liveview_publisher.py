"""The watcher's sending side: its changes to the sandboxes' groups (publisher.py) and its answers
to the pages' questions (answers.serve), over Channels' in-memory layer. No cluster, no Redis."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from channels.layers import InMemoryChannelLayer
from django.conf import settings

from sandbox.liveview import answers, ask, lag
from sandbox.liveview.publisher import Publisher, batches
from sandbox.liveview.watcher import Watcher, group_name

NAMESPACE = settings.SANDBOX_NAMESPACE_PREFIX + "abc"


def change(name: str, op: str = "MODIFIED") -> dict[str, Any]:
    return {"type": "cluster.event", "op": op, "object": {"kind": "Pod", "name": name}}


def names(message: dict[str, Any]) -> list[str]:
    events = message["events"] if message["type"] == "cluster.events" else [message]
    return [event["object"]["name"] for event in events]


def test_changes_queued_together_go_out_as_one_message_per_sandbox_in_their_order() -> None:
    out = batches(
        [(1, change("a"), 1.0), (2, change("x"), 4.0), (1, change("b"), 5.0), (1, change("c", "DELETED"), 6.0)]
    )
    assert [sandbox_id for sandbox_id, _ in out] == [1, 2]
    assert out[0][1]["type"] == "cluster.events"
    assert names(out[0][1]) == ["a", "b", "c"]
    assert [event["seen"] for event in out[0][1]["events"]] == [1.0, 5.0, 6.0]  # each its own time
    assert out[1][1] == change("x") | {"seen": 4.0}  # one change alone keeps its message


async def _published(layer: InMemoryChannelLayer, sandboxes: list[int], count: int) -> dict[int, list[str]]:
    """Publish `count` changes per sandbox from a reflector-like thread; what each group gets."""
    channels = {sandbox_id: await layer.new_channel() for sandbox_id in sandboxes}
    for sandbox_id, channel in channels.items():
        await layer.group_add(group_name(sandbox_id), channel)
    publisher = Publisher(layer, asyncio.get_running_loop(), senders=3)

    def reflector() -> None:
        for i in range(count):
            for sandbox_id in sandboxes:
                publisher.publish(sandbox_id, change(f"{sandbox_id}-{i}"))

    thread = threading.Thread(target=reflector)
    thread.start()
    thread.join()
    running = asyncio.create_task(publisher.run())
    got: dict[int, list[str]] = {sandbox_id: [] for sandbox_id in sandboxes}
    try:
        for sandbox_id, channel in channels.items():
            while len(got[sandbox_id]) < count:
                got[sandbox_id] += names(await asyncio.wait_for(layer.receive(channel), 5))
    finally:
        running.cancel()
    return got


def test_every_change_reaches_its_sandbox_once_and_in_order() -> None:
    layer = InMemoryChannelLayer(capacity=10_000)
    got = asyncio.run(_published(layer, [1, 2, 3, 4, 7], 40))
    assert got == {sandbox_id: [f"{sandbox_id}-{i}" for i in range(40)] for sandbox_id in [1, 2, 3, 4, 7]}


class StuckLayer(InMemoryChannelLayer):  # type: ignore[misc]  # channels is untyped
    """Redis slow for one group: its sends wait until released."""

    def __init__(self, stuck: str) -> None:
        super().__init__(capacity=1000)
        self.stuck, self.release = stuck, asyncio.Event()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if group == self.stuck:
            await self.release.wait()
        await super().group_send(group, message)


def first_heard(layer: InMemoryChannelLayer, listens_to: int, changes: list[tuple[int, dict[str, Any]]]) -> list[str]:
    """Publish `changes` (sandbox id, change) through `layer`; the names in the first message
    that sandbox `listens_to`'s group gets."""

    async def scenario() -> list[str]:
        channel = await layer.new_channel()
        await layer.group_add(group_name(listens_to), channel)
        publisher = Publisher(layer, asyncio.get_running_loop(), senders=2)
        for sandbox_id, message in changes:
            publisher.publish(sandbox_id, message)
        await asyncio.sleep(0)  # the thread-safe hand-over runs on the loop
        running = asyncio.create_task(publisher.run())
        try:
            return names(await asyncio.wait_for(layer.receive(channel), 5))
        finally:
            running.cancel()

    return asyncio.run(scenario())


def test_a_slow_sandbox_does_not_hold_back_the_others() -> None:
    assert first_heard(StuckLayer(group_name(0)), 1, [(0, change("stuck")), (1, change("free"))]) == ["free"]


async def question(layer: InMemoryChannelLayer, reply: str, what: str = "world", deadline: float = 0.0) -> None:
    """Ask the watcher for the test namespace's Pods; the answer goes to `reply`."""
    request = {
        "type": "liveview.request",
        "what": what,
        "namespaces": [NAMESPACE],
        "kinds": ["Pod"],
        "reply": reply,
        "deadline": deadline or time.time() + 10,
    }
    await layer.send(answers.request_channel(), request)


def _ready_watcher() -> Watcher:
    watcher = Watcher(lambda sandbox_id, message: None)
    for reflector in watcher.reflectors:
        reflector.synced.set()
    watcher.by_kind["Pod"].store.put({"metadata": {"namespace": NAMESPACE, "name": "web", "resourceVersion": "7"}})
    return watcher


class SlowReplies(InMemoryChannelLayer):  # type: ignore[misc]  # channels is untyped
    """Each reply takes a while to go out (a busy Redis); counts how many are on their way at once."""

    def __init__(self) -> None:
        super().__init__(capacity=1000)
        self.on_their_way = self.most = 0

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        if message.get("type") == "liveview.answer":
            self.on_their_way += 1
            self.most = max(self.most, self.on_their_way)
            await asyncio.sleep(0.02)
            self.on_their_way -= 1
        await super().send(channel, message)


def test_the_watcher_answers_many_questions_at_once_and_drops_the_late_ones(caplog: Any) -> None:
    layer = SlowReplies()

    async def scenario() -> tuple[list[Any], bool]:
        serving = asyncio.create_task(answers.serve(layer, _ready_watcher()))
        replies = [await layer.new_channel() for _ in range(50)]
        late = await layer.new_channel()
        await question(layer, late, deadline=time.time() - 1)
        for reply in replies:
            await question(layer, reply)
        try:
            got = [await asyncio.wait_for(layer.receive(reply), 5) for reply in replies]
            late_answered = True
            try:
                await asyncio.wait_for(layer.receive(late), 0.2)
            except TimeoutError:
                late_answered = False
            return got, late_answered
        finally:
            serving.cancel()

    got, late_answered = asyncio.run(scenario())
    assert all(answer["ok"] for answer in got)
    assert {o["metadata"]["name"] for answer in got for o in answer["objects"]["Pod"][NAMESPACE]} == {"web"}
    assert not late_answered
    assert "past their deadline" in caplog.text
    assert layer.most > 1  # not one reply after another


def test_changes_that_travel_late_are_said_now_and_then(caplog: Any) -> None:
    late = lag.Lag("somewhere")
    late.note(time.time())  # on time: nothing to say
    late.note("not a time")
    assert caplog.text == ""
    late.note(time.time() - 5)
    late.note(time.time() - 9)  # within EVERY seconds of the first warning: counted, not said
    assert caplog.text.count("reached somewhere") == 1
    assert "the worst 5." in caplog.text
    assert late.late == 1


def _late_answer(layer: InMemoryChannelLayer, recently_answered: bool) -> Any:
    """ask.world() against a watcher that answers after twice the base wait."""

    async def slow_watcher() -> None:
        request = await layer.receive(answers.request_channel())
        await asyncio.sleep(2 * settings.LIVEVIEW_WATCHER_TIMEOUT_MS / 1000)
        await layer.send(request["reply"], {"type": "liveview.answer", "ok": True, "objects": {"Pod": {NAMESPACE: []}}})

    async def scenario() -> Any:
        watcher = asyncio.create_task(slow_watcher())
        try:
            return await ask.world([NAMESPACE], ["Pod"])
        finally:
            watcher.cancel()

    ask._quiet_until = 0.0
    ask._answered_at = time.monotonic() if recently_answered else -ask.QUIET
    return asyncio.run(scenario())


def test_a_watcher_that_answered_lately_is_waited_for_longer(monkeypatch: Any, settings: Any) -> None:
    settings.CHANNEL_LAYER, settings.LIVEVIEW_WATCHER_TIMEOUT_MS = "redis", 150
    layer = InMemoryChannelLayer(capacity=100)
    monkeypatch.setattr(ask, "get_channel_layer", lambda: layer)
    assert _late_answer(layer, recently_answered=True) == {("Pod", NAMESPACE): []}
    # Not heard from for a while: the base wait, then the API server (None), and a pause in asking.
    assert _late_answer(layer, recently_answered=False) is None
    assert ask._quiet_until > time.monotonic()
    ask._quiet_until = 0.0


class BlinkingLayer(InMemoryChannelLayer):  # type: ignore[misc]  # channels is untyped
    """Redis failing each group send's first try."""

    def __init__(self) -> None:
        super().__init__(capacity=1000)
        self.failed: set[str] = set()

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        if group not in self.failed:
            self.failed.add(group)
            raise ConnectionError("Redis blinked")
        await super().group_send(group, message)


def test_a_send_that_fails_once_is_sent_again() -> None:
    assert first_heard(BlinkingLayer(), 5, [(5, change("deleted", "DELETED"))]) == ["deleted"]


def test_a_question_that_cannot_be_answered_does_not_stop_the_answering(caplog: Any) -> None:
    watcher = _ready_watcher()
    # An Event without its creation time: the snapshot's picture cannot sort it.
    watcher.by_kind["Event"].store.put({"metadata": {"namespace": NAMESPACE, "name": "odd", "resourceVersion": "8"}})

    async def scenario() -> Any:
        layer = InMemoryChannelLayer(capacity=100)
        serving = asyncio.create_task(answers.serve(layer, watcher))
        broken, fine = await layer.new_channel(), await layer.new_channel()
        for what, reply in (("snapshot", broken), ("world", fine)):
            await question(layer, reply, what=what)
        try:
            return await asyncio.wait_for(layer.receive(fine), 5)
        finally:
            serving.cancel()

    assert asyncio.run(scenario())["ok"]
    assert "could not answer a snapshot request" in caplog.text
