"""The current picture of one namespace, for a new subscriber (then the stream of changes):
from the watcher's caches (answers.py) or, when no watcher answers, listed from the API server
with the checker's read-only identity."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sandbox import k8s
from sandbox.liveview import events

MAX_EVENTS = 100
Raw = dict[str, Any]


def picture(objects_of: Callable[[str], list[Raw]]) -> list[Raw]:
    """Every kind's objects, compacted; only the latest MAX_EVENTS events."""
    objects: list[Raw] = []
    for kind in events.KINDS:
        items = objects_of(kind)
        if kind == "Event":
            items = sorted(items, key=lambda e: e.get("lastTimestamp") or e["metadata"]["creationTimestamp"])
            items = items[-MAX_EVENTS:]
        objects += [events.compact(kind, item) for item in items]
    return objects


def snapshot(namespace: str) -> list[Raw]:
    """From the API server: one list per kind."""
    with k8s.as_checker():
        return picture(lambda kind: k8s.list_raw(kind, field_selector=f"metadata.namespace={namespace}")[0])
