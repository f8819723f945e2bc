"""The live view's watcher: one Reflector per kind for the whole cluster — never one watch per
student or per browser tab — and a namespace map, fanning compact events out to one Channels
group per sandbox. The number of watch connections is fixed (one per kind), whatever the
number of students online. The reflectors keep what they saw, so the watcher also answers the
pages' snapshots and the lesson checks' reads (answers.py)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from django.conf import settings

from sandbox import manifests
from sandbox.liveview import events
from sandbox.liveview.reflector import Raw, Reflector, start, wait_synced

log = logging.getLogger(__name__)

# publish(sandbox_id, message): hands a message to the sandbox's group.
Publish = Callable[[int, dict[str, Any]], None]


def group_name(sandbox_id: int) -> str:
    return f"sandbox.{sandbox_id}"


class Watcher:
    def __init__(self, publish: Publish, *, watch_seconds: int = 240) -> None:
        self.publish = publish
        self.stop = threading.Event()
        self.namespaces: dict[str, int] = {}  # namespace -> sandbox id, for this installation only
        self._lock = threading.Lock()
        self.namespace_reflector = Reflector(
            "Namespace",
            self._on_namespace,
            self.stop,
            label_selector=manifests.LABEL_SANDBOX,
            watch_seconds=watch_seconds,
        )
        self.reflectors = [
            Reflector(kind, self._on_object, self.stop, watch_seconds=watch_seconds) for kind in events.KINDS
        ]
        self.by_kind = {reflector.kind: reflector for reflector in self.reflectors}
        self.published = 0

    @property
    def ready(self) -> bool:
        """Every kind listed once: the caches hold the whole picture (until then the pages and
        the checks read from the API server)."""
        return all(reflector.synced.is_set() for reflector in self.reflectors)

    def objects(self, kind: str, namespace: str) -> list[Raw]:
        """The cached objects of a kind in a namespace, as the API returns them (less their
        managedFields)."""
        return self.by_kind[kind].store.in_namespace(namespace)

    def run_in_background(self, timeout: float = 30.0) -> bool:
        """Start every reflector; True once all have listed (the picture is complete)."""
        start(self.namespace_reflector)
        self.namespace_reflector.synced.wait(timeout)
        for reflector in self.reflectors:
            start(reflector)
        return wait_synced([self.namespace_reflector, *self.reflectors], timeout)

    def shutdown(self) -> None:
        self.stop.set()

    def _on_namespace(self, kind: str, op: str, obj: Raw) -> None:
        meta = obj["metadata"]
        name = meta["name"]
        if not name.startswith(settings.SANDBOX_NAMESPACE_PREFIX):
            return
        label = (meta.get("labels") or {}).get(manifests.LABEL_SANDBOX, "")
        with self._lock:
            if op == "DELETED" or not label.isdigit():
                self.namespaces.pop(name, None)
            else:
                self.namespaces[name] = int(label)

    def _on_object(self, kind: str, op: str, obj: Raw) -> None:
        if op == "SYNC":
            return  # the first list: subscribers get their own snapshot instead
        namespace = obj["metadata"].get("namespace")
        with self._lock:
            sandbox_id = self.namespaces.get(namespace or "")
        if sandbox_id is None:
            return
        self.published += 1
        self.publish(sandbox_id, {"type": "cluster.event", "op": op, "object": events.compact(kind, obj)})
