"""A real server (daphne, the production ASGI server) on the test database, and a real
headless Chromium driven by Playwright. Chromium comes from Debian (`make test` installs it);
Playwright's own browser download is neither needed nor possible here."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from tests.cluster.conftest import admin_kubeconfig, kubectl, make_sandbox  # noqa: F401  (shared fixtures)

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def live_url(transactional_db: None) -> Iterator[str]:
    db = connection.settings_dict
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CLUSTER_KUBECONFIG": str(settings.CLUSTER_KUBECONFIG),
        "CHANNEL_LAYER": "redis",  # the watcher process publishes to the web process
        "SERVE_STATIC": "1",
    }
    # The live view's watcher, as `make run` starts it (no election: this test's own copy).
    watcher = subprocess.Popen(
        [sys.executable, "manage.py", "watch_sandboxes", "--no-lock"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "sandbox.asgi:application"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"daphne did not start: {server.stderr.read().decode() if server.stderr else ''}"
                ) from None
            time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    for process in (server, watcher):
        process.terminate()
    for process in (server, watcher):
        process.wait(timeout=10)


@pytest.fixture
def browser_page(monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop in this thread, which makes Django refuse ORM
    # calls; nothing async touches the database here (Django's docs give the same advice).
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.fail("Chromium is not installed: `make test` installs it (Debian package chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        yield page
        browser.close()
