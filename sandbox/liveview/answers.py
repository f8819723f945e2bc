"""The watcher's answers from its caches, over the channel layer, so that neither a page's
snapshot nor a lesson check lists anything from the API server.

    request (to request_channel()):
      {"type": "liveview.request", "what": "snapshot" | "world", "namespaces": [...],
       "kinds": [...] (world only), "reply": "<a process-local channel>", "deadline": <unix time>}
    answer (to the reply channel):
      {"type": "liveview.answer", "ok": false}                  (still listing: ask the API)
      {"type": "liveview.answer", "ok": true, "objects": [...]}  (snapshot: compact objects)
      {"type": "liveview.answer", "ok": true, "objects": {kind: {namespace: [raw, ...]}}}  (world)

Requests come from the platform's own processes, never from a browser; they are checked all the
same, so that a malformed one is dropped and cannot read outside this installation's sandboxes.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from typing import Any

from django.conf import settings

from sandbox.liveview import events
from sandbox.liveview.lag import Every
from sandbox.liveview.snapshot import picture
from sandbox.liveview.watcher import Watcher

log = logging.getLogger(__name__)
Message = dict[str, Any]
MAX_NAMESPACES = 16  # a sandbox's own and its extra namespaces
REPLY = re.compile(r"^[\w.-]+![\w.-]+$")  # a process-local channel (channels_redis new_channel())


def request_channel() -> str:
    """One channel per installation: two platforms sharing a Redis never answer each other."""
    return "liveview.requests." + re.sub(r"[^a-zA-Z0-9_.-]", "_", settings.SANDBOX_NAMESPACE_PREFIX)


def valid(request: Message) -> bool:
    namespaces, kinds, reply = request.get("namespaces"), request.get("kinds", []), request.get("reply")
    return (
        request.get("what") in ("snapshot", "world")
        and isinstance(reply, str)
        and len(reply) < 100
        and bool(REPLY.match(reply))
        and isinstance(request.get("deadline"), (int, float))
        and isinstance(namespaces, list)
        and 0 < len(namespaces) <= MAX_NAMESPACES
        and all(isinstance(n, str) and n.startswith(settings.SANDBOX_NAMESPACE_PREFIX) for n in namespaces)
        and isinstance(kinds, list)
        and all(k in events.KINDS for k in kinds)
    )


def answer(watcher: Watcher, request: Message) -> Message:
    """What to send back for a valid request."""
    if not watcher.ready:
        return {"type": "liveview.answer", "ok": False}
    namespaces: list[str] = request["namespaces"]
    if request["what"] == "snapshot":
        objects: Any = picture(lambda kind: watcher.objects(kind, namespaces[0]))
    else:
        objects = {kind: {ns: watcher.objects(kind, ns) for ns in namespaces} for kind in request["kinds"]}
    return {"type": "liveview.answer", "ok": True, "objects": objects}


# Replies on their way at once, at most. Sending one is a Redis round trip or two; one after
# another, on a busy machine, the questions queued behind them until they missed their deadline
# (and each such page or check then listed from the API server instead).
REPLYING = 32


async def serve(layer: Any, watcher: Watcher) -> None:
    """Answer requests until cancelled. A lost Redis is waited out, with growing pauses."""
    pause = 0.25
    channel = request_channel()
    slots = asyncio.Semaphore(REPLYING)
    replying: set[asyncio.Task[None]] = set()
    late = Late()
    while True:
        try:
            request = await layer.receive(channel)
            pause = 0.25
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("cannot receive requests (%s); trying again in %.2fs", exc, pause)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 5.0)
            continue
        if not isinstance(request, dict) or not valid(request):
            log.warning("dropped a malformed request")
            continue
        if request["deadline"] < time.time():
            late.note()  # its asker has gone to the API server already (or went away)
            continue
        # Read the caches now, in order; send when a slot is free.
        try:
            reply, message = request["reply"], answer(watcher, request)
        except Exception:  # an object the picture could not read: this asker falls back, the next is answered
            log.exception("could not answer a %s request", request["what"])
            continue
        await slots.acquire()
        task = asyncio.create_task(_send(layer, slots, reply, message, request["what"]))
        replying.add(task)
        task.add_done_callback(replying.discard)


async def _send(layer: Any, slots: asyncio.Semaphore, reply: str, message: Message, what: str) -> None:
    try:
        await layer.send(reply, message)
    except Exception as exc:  # Redis hiccup or a full channel: the asker falls back
        log.warning("could not answer a %s request (%s)", what, exc)
    finally:
        slots.release()


class Late:
    """Counts the questions that came past their deadline, and says so now and then: each
    was answered by the API server instead, which is what the watcher exists to spare."""

    def __init__(self) -> None:
        self.count = 0
        self._every = Every()

    def note(self) -> None:
        self.count += 1
        if self._every.due():
            log.warning("%d questions reached the watcher past their deadline", self.count)
            self.count = 0
