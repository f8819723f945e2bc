"""The sandbox panel follows provisioning through the page's socket: every state and progress
change reaches the owner's open pages (and nobody else's), so the page need not poll."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.contrib.auth.models import User

from sandbox import lifecycle, provisioning
from sandbox.models import Sandbox
from tests.cluster.test_terminal_socket import connect
from tests.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)


async def statuses(communicator: Any, until: str, timeout: float = 60) -> list[dict[str, Any]]:
    seen = []
    while True:
        message = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == "sandbox.status":
            seen.append(message["sandbox"])
            if message["sandbox"]["state"] == until:
                return seen


def test_the_owners_pages_hear_every_step_of_provisioning_and_a_reset() -> None:
    owner = User.objects.create_user("pushed-owner")
    other = User.objects.create_user("pushed-other")
    sandbox = lifecycle.create_sandbox(owner, enqueue=False)

    async def scenario() -> None:
        page, second_page, strangers = await connect(owner), await connect(owner), await connect(other)
        try:
            await sync_to_async(provisioning.provision)(sandbox.pk)
            seen = await statuses(page, until="ready")
            assert seen[0]["state"] == "provisioning"
            progress = [s["progress"] for s in seen if s["progress"]]
            assert progress, seen
            total = progress[-1].split("/")[1]
            assert progress[-1] == f"{total}/{total}"
            assert seen[-1]["namespace"] == sandbox.namespace
            assert (await statuses(second_page, until="ready"))[-1]["state"] == "ready"
            assert await strangers.receive_nothing(timeout=1)

            fresh = await sync_to_async(Sandbox.objects.get)(pk=sandbox.pk)
            assert await sync_to_async(lifecycle.request_reset)(fresh)
            assert (await statuses(page, until="resetting"))[-1]["state"] == "resetting"
            await sync_to_async(provisioning.reset)(sandbox.pk)
            assert (await statuses(page, until="ready"))[-1]["state"] == "ready"
        finally:
            for communicator in (page, second_page, strangers):
                await communicator.disconnect()
            await sync_to_async(provisioning.destroy)(sandbox.pk)

    run_async(lambda: asyncio.wait_for(scenario(), 120))
