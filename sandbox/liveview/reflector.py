"""One list-then-watch of one resource kind for the whole cluster, kept running.

It lists, then watches from the list's resourceVersion with bookmarks (so the version stays
fresh on a quiet cluster), resumes from the last version after a timeout or a dropped
connection, backs off on errors (0.5 s doubling to 30 s), and relists on 410 Gone — sending
the difference between the old and the new list as events, so no change is lost to a relist.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from sandbox import k8s
from sandbox.liveview.store import Store

log = logging.getLogger(__name__)

Raw = dict[str, Any]
# (kind, "ADDED" | "MODIFIED" | "DELETED", object)
Listener = Callable[[str, str, Raw], None]


class Gone(Exception):
    """The resourceVersion is too old (410): relist."""


class Reflector:
    def __init__(
        self,
        kind: str,
        listener: Listener,
        stop: threading.Event,
        *,
        label_selector: str = "",
        watch_seconds: int = 240,
    ) -> None:
        self.kind, self.listener, self.stop = kind, listener, stop
        self.label_selector, self.watch_seconds = label_selector, watch_seconds
        # Updated before the listener hears of a change: whoever is told of a change and then
        # reads the store finds it there (the watcher answers snapshots from it).
        self.store = Store()
        self.resource_version: str | None = None
        self.synced = threading.Event()  # set after the first list
        self.relists = 0
        self.errors = 0

    def run(self) -> None:
        # The live view reads with the checker's read-only identity (never the operator's).
        with k8s.as_checker():
            self._run()

    def _run(self) -> None:
        backoff = 0.5
        while not self.stop.is_set():
            try:
                if self.resource_version is None:
                    self._relist()
                self._watch()
                backoff = 0.5
            except Gone:
                log.info("%s: resourceVersion expired, relisting", self.kind)
                self.resource_version = None
            except Exception as exc:  # the API server is away or the stream broke: retry, later
                if isinstance(exc, k8s.ApiException) and exc.status == 410:
                    self.resource_version = None
                    continue
                self.errors += 1
                log.warning("%s: watch failed (%s); retrying in %.1fs", self.kind, type(exc).__name__, backoff)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 30.0)

    def _relist(self) -> None:
        items, version = k8s.list_raw(self.kind, label_selector=self.label_selector)
        changes = self.store.replace(items)
        if self.synced.is_set():  # tell listeners what changed while we were not watching
            self.relists += 1
            for op, obj in changes:
                self.listener(self.kind, op, obj)
        else:
            for item in items:
                self.listener(self.kind, "SYNC", item)
        self.resource_version = version
        self.synced.set()

    def _watch(self) -> None:
        assert self.resource_version is not None  # noqa: S101  (set by _relist)
        for event in k8s.watch_raw(
            self.kind, self.resource_version, label_selector=self.label_selector, timeout_seconds=self.watch_seconds
        ):
            if self.stop.is_set():
                return
            kind, obj = str(event.get("type")), event.get("object") or {}
            if kind == "ERROR":
                if obj.get("code") == 410:
                    raise Gone
                raise RuntimeError(f"watch error: {obj.get('message')}")
            self.resource_version = obj["metadata"]["resourceVersion"]
            if kind == "BOOKMARK":
                continue
            if kind == "DELETED":
                self.store.remove(obj)
            else:
                self.store.put(obj)
            self.listener(self.kind, kind, obj)


def start(reflector: Reflector) -> threading.Thread:
    thread = threading.Thread(target=reflector.run, name=f"reflector-{reflector.kind}", daemon=True)
    thread.start()
    return thread


def wait_synced(reflectors: list[Reflector], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    return all(r.synced.wait(max(0.0, deadline - time.monotonic())) for r in reflectors)
