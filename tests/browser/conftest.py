"""A real server (daphne, the production ASGI server) on the test database, and a real
headless Chromium driven by Playwright. Chromium comes from Debian (`make test` installs it);
Playwright's own browser download is neither needed nor possible here."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.db import connection, connections

from tests.cluster.conftest import admin_kubeconfig, kubectl, make_sandbox  # noqa: F401  (shared fixtures)
from tests.processes import free_port, start_daphne, start_watcher, stop


@pytest.fixture
def live_url(transactional_db: None) -> Iterator[str]:
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CLUSTER_KUBECONFIG": str(settings.CLUSTER_KUBECONFIG),
        "CHANNEL_LAYER": "redis",  # the watcher process publishes to the web process
        "SERVE_STATIC": "1",
    }
    port = free_port()
    watcher = start_watcher(env)  # the live view's watcher, as `make run` starts it
    server = start_daphne(port, env)
    yield f"http://127.0.0.1:{port}"
    stop(server, watcher)


def with_password(username: str) -> str:
    """Give a (sandbox fixture's) user a password to sign in with; returns it."""
    from django.contrib.auth.models import User

    password = "a-long-passphrase-7"
    user = User.objects.get(username=username)
    user.set_password(password)
    user.save()
    return password


def login(page: Any, live_url: str, username: str, password: str) -> None:
    page.goto(f"{live_url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.goto(f"{live_url}/sandbox/")
    page.wait_for_selector("#sandbox-state:text('Ready')", timeout=15000)


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
        # ORM calls made while Playwright's sync API was active ran in its greenlet, which has a
        # database connection of its own: close it here, or the test database cannot be dropped.
        connections.close_all()
