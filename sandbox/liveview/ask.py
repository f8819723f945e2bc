"""Ask the watcher (answers.py) for what its caches hold, from the web process.

Each question gets a reply channel of its own and waits at most LIVEVIEW_WATCHER_TIMEOUT_MS
seconds. No answer in time (no watcher running, Redis away, a full channel) or "still listing"
means None: the caller reads from the API server instead, so a missing watcher never breaks a
page. When the watcher looks absent (a timeout, and no answer for QUIET seconds before it),
this process stops asking for QUIET seconds, so that only one question in that time waits for
nothing. A watcher that answered within QUIET seconds is alive and at most slow (a busy
machine): it is given BUSY_PATIENCE times as long, since sending everyone to the API server
then would only add to the load (in a class of 200 on 2 cores, a 1 s wait sent one question in
twenty to the API server, each a list per kind)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings

from sandbox.liveview.answers import request_channel

log = logging.getLogger(__name__)
Raw = dict[str, Any]
QUIET = 5.0
BUSY_PATIENCE = 3
_quiet_until = 0.0
_answered_at = -QUIET  # time.monotonic() of the watcher's last answer


async def ask(what: str, namespaces: list[str], kinds: list[str] | None = None) -> Any | None:
    """The answer's objects, or None."""
    global _quiet_until, _answered_at
    if settings.CHANNEL_LAYER == "memory" or time.monotonic() < _quiet_until:
        return None  # an in-memory layer never reaches the watcher's process
    layer = get_channel_layer()
    timeout = settings.LIVEVIEW_WATCHER_TIMEOUT_MS / 1000
    if time.monotonic() - _answered_at < QUIET:
        timeout *= BUSY_PATIENCE
    try:
        reply = await layer.new_channel()
        request = {
            "type": "liveview.request",
            "what": what,
            "namespaces": namespaces,
            "kinds": kinds or [],
            "reply": reply,
            "deadline": time.time() + timeout,
        }
        await layer.send(request_channel(), request)
        # The watcher drops a question past its deadline, so an answer rarely comes after we
        # stopped waiting (channels_redis would keep it in this process's buffer).
        answer = await asyncio.wait_for(layer.receive(reply), timeout)
    except TimeoutError:
        now = time.monotonic()
        if now - _answered_at > QUIET + timeout:
            _quiet_until = now + QUIET
        log.warning("the watcher did not answer within %.1fs; reading from the API server", timeout)
        return None
    except Exception as exc:  # Redis away, or the request channel full
        log.warning("could not ask the watcher (%s); reading from the API server", exc)
        return None
    _answered_at = time.monotonic()
    if not answer.get("ok"):
        log.info("the watcher is still listing; reading from the API server")
        return None
    return answer.get("objects")


async def snapshot(namespace: str) -> list[Raw] | None:
    """The live view's compact picture of a namespace."""
    objects: list[Raw] | None = await ask("snapshot", [namespace])
    return objects


async def world(namespaces: list[str], kinds: list[str]) -> dict[tuple[str, str], list[Raw]] | None:
    """The raw objects of these kinds in these namespaces, by (kind, namespace)."""
    objects = await ask("world", namespaces, kinds)
    if objects is None:
        return None
    return {(kind, ns): items for kind, by_namespace in objects.items() for ns, items in by_namespace.items()}
