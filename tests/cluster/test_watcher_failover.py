"""Two watchers, as two machines running `make run` against one Redis would have: one holds the
election's lock and answers, the other waits. SIGKILL the one that answers: the other takes
over within a bounded time (the lock's lifetime and one retry), and what it answers equals the
API server's lists, including a change made while no watcher was active."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable

import pytest
import redis
from django.conf import settings

from sandbox.liveview import ask
from sandbox.liveview.snapshot import snapshot
from sandbox.management.commands.watch_sandboxes import LOCK_SECONDS
from sandbox.models import Sandbox
from tests.cluster.conftest import Kubectl, wait_for
from tests.cluster.test_watcher_cache import asked, until_equal, versions
from tests.processes import start_watcher, stop

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]
LOCK_KEY = f"k8s-sandbox:watcher:{settings.SANDBOX_NAMESPACE_PREFIX}"


def answering(namespace: str) -> bool:
    return asked(lambda: ask.snapshot(namespace)) is not None


def test_the_standby_watcher_takes_over_when_the_active_one_is_killed(
    make_sandbox: MakeSandbox, kubectl: Kubectl, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each question waits up to 3 s for an answer: a busy machine, not an absent watcher.
    monkeypatch.setattr(settings, "LIVEVIEW_WATCHER_TIMEOUT_MS", 3000)
    lock = redis.Redis.from_url(settings.REDIS_URL)
    lock.delete(LOCK_KEY)  # a lock left by a killed run of this test
    ns = make_sandbox()[0].namespace
    kubectl("create", "configmap", "before", "-n", ns, "--from-literal=a=b")

    active = start_watcher(os.environ, elected=True)
    standby = None
    try:
        wait_for(lambda: answering(ns), 90, "the first watcher answering")
        standby = start_watcher(os.environ, elected=True)
        time.sleep(3)  # it has tried for the lock and waits
        assert lock.get(LOCK_KEY) is not None
        assert standby.poll() is None

        os.kill(active.pid, signal.SIGKILL)
        active.wait()
        killed_at = time.monotonic()
        # A change while no watcher is active: the next one must have it too.
        kubectl("create", "configmap", "during-the-gap", "-n", ns, "--from-literal=a=b")
        bound = LOCK_SECONDS + LOCK_SECONDS / 3 + 30  # the lock expires; the standby's next try; its lists
        wait_for(lambda: answering(ns), bound, "the standby answering")
        took = time.monotonic() - killed_at
        cached, api = until_equal(lambda: asked(lambda: ask.snapshot(ns)), lambda: snapshot(ns), "snapshot")
        assert versions(cached) == versions(api)
        assert {"before", "during-the-gap"} <= {o["name"] for o in cached if o["kind"] == "ConfigMap"}
        print(f"  the standby answered {took:.1f}s after the active watcher was killed (lock lifetime {LOCK_SECONDS}s)")
    finally:
        stop(*(p for p in (active, standby) if p is not None))
        lock.delete(LOCK_KEY)
        lock.close()
