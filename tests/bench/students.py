"""Benchmark set-up: students with a ready sandbox and a signed-in browser session."""

from __future__ import annotations

import time

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
