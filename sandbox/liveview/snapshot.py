"""The current picture of one namespace, for a new subscriber (then the stream of changes).
Read with the checker's read-only identity."""

from __future__ import annotations

from typing import Any

from sandbox import k8s
from sandbox.liveview import events

MAX_EVENTS = 100


def snapshot(namespace: str) -> list[dict[str, Any]]:
    objects: list[dict[str, Any]] = []
    with k8s.as_checker():
        for kind in events.KINDS:
            items, _ = k8s.list_raw(kind, field_selector=f"metadata.namespace={namespace}")
            if kind == "Event":
                items = sorted(items, key=lambda e: e.get("lastTimestamp") or e["metadata"]["creationTimestamp"])
                items = items[-MAX_EVENTS:]
            objects += [events.compact(kind, item) for item in items]
    return objects
