"""Benchmark set-up: students with a ready sandbox and a signed-in browser session."""

from __future__ import annotations

import json
import time

import websockets
from django.contrib.auth.models import User
from django.test import Client

from sandbox import lifecycle, provisioning
from sandbox.models import Sandbox


def signed_in_student(prefix: str) -> tuple[Sandbox, str]:
    """A new student with a provisioned sandbox, and the Cookie header of their session."""
    user = User.objects.create_user(f"{prefix}-{time.monotonic_ns()}")
    sandbox = lifecycle.create_sandbox(user, enqueue=False)
    provisioning.provision(sandbox.pk)
    sandbox.refresh_from_db()
    client = Client()
    client.force_login(user)
    return sandbox, f"sessionid={client.cookies['sessionid'].value}"


async def page_socket(port: int, cookie: str) -> websockets.ClientConnection:
    """The page's WebSocket as the browser opens it from the site's own page (the socket checks
    the Origin), after its hello."""
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/ws/sandbox/",
        additional_headers={"Cookie": cookie, "Origin": f"http://127.0.0.1:{port}"},
        max_size=None,
    )
    hello = json.loads(await ws.recv())
    if hello["type"] != "hello":
        raise RuntimeError(f"the socket answered {hello!r} instead of hello")
    return ws
