"""A reflector's objects, by namespace then name, kept whole (but for managedFields) so that the
watcher can answer a page's snapshot and the lesson checks from memory.

Written by the reflector's thread, read by the watcher's event loop: every access takes the
lock, and readers get lists of their own."""

from __future__ import annotations

import threading
from typing import Any

Raw = dict[str, Any]
# (op, object): what changed between two lists, for the listeners.
Change = tuple[str, Raw]


def _where(obj: Raw) -> tuple[str, str]:
    meta = obj["metadata"]
    return meta.get("namespace", ""), meta["name"]


def slim(obj: Raw) -> Raw:
    """The object without its managedFields: the field owners' bookkeeping, often half of an
    object's size, which neither the live view nor any check reads."""
    meta = obj.get("metadata")
    if isinstance(meta, dict) and "managedFields" in meta:
        obj = obj | {"metadata": {k: v for k, v in meta.items() if k != "managedFields"}}
    return obj


class Store:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_namespace: dict[str, dict[str, Raw]] = {}

    def put(self, obj: Raw) -> None:
        namespace, name = _where(obj)
        with self._lock:
            self._by_namespace.setdefault(namespace, {})[name] = slim(obj)

    def remove(self, obj: Raw) -> None:
        namespace, name = _where(obj)
        with self._lock:
            objects = self._by_namespace.get(namespace)
            if objects is not None:
                objects.pop(name, None)
                if not objects:
                    del self._by_namespace[namespace]

    def replace(self, items: list[Raw]) -> list[Change]:
        """Take a fresh list's objects; returns what differs from before (DELETED, ADDED,
        MODIFIED by resourceVersion)."""
        fresh: dict[str, dict[str, Raw]] = {}
        for item in items:
            namespace, name = _where(item)
            fresh.setdefault(namespace, {})[name] = slim(item)
        changes: list[Change] = []
        with self._lock:
            old, self._by_namespace = self._by_namespace, fresh
        for namespace, objects in old.items():
            now = fresh.get(namespace, {})
            changes += [("DELETED", obj) for name, obj in objects.items() if name not in now]
        for namespace, objects in fresh.items():
            before = old.get(namespace, {})
            for name, obj in objects.items():
                previous = before.get(name)
                if previous is None:
                    changes.append(("ADDED", obj))
                elif previous["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                    changes.append(("MODIFIED", obj))
        return changes

    def in_namespace(self, namespace: str) -> list[Raw]:
        with self._lock:
            return list(self._by_namespace.get(namespace, {}).values())

    def __len__(self) -> int:
        with self._lock:
            return sum(len(objects) for objects in self._by_namespace.values())
