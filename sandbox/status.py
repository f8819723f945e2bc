"""The sandbox panel follows its sandbox through the page's socket: every change of state or
progress is sent to the owner's open pages (the consumer joins `user_group` when it connects),
so the page does not ask the server over and over while a sandbox is being prepared."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.dispatch import Signal

from sandbox.models import Sandbox

log = logging.getLogger(__name__)


def user_group(user_id: int) -> str:
    return f"user-{user_id}"


def changed(sandbox_id: int, moved: bool = True) -> bool:
    """Announce the sandbox's state once the current transaction commits, if `moved` (the
    result of a conditional state change); returns `moved`, to wrap a transition in."""
    if moved:
        transaction.on_commit(partial(publish, sandbox_id))
    return moved


# Sent after a sandbox's state was committed (most changes are conditional UPDATEs, which send
# no post_save), so pages built above the sandbox (a class's roster) can follow it too.
state_changed = Signal()


def publish(sandbox_id: int) -> None:
    row = Sandbox.objects.filter(pk=sandbox_id).first()
    if row is None or row.owner_id is None:  # the warm pool's: nobody's page shows it
        return
    state_changed.send(sender=Sandbox, sandbox=row)
    layer = get_channel_layer()
    if layer is None:
        return
    if _in_event_loop():
        # Only a caller that is itself asynchronous (a test driving a browser) gets here: it
        # cannot wait for the send, and the page has the state from its next status request.
        log.debug("sandbox %s changed inside an event loop; not announced", sandbox_id)
        return
    try:
        async_to_sync(layer.group_send)(user_group(row.owner_id), {"type": "sandbox.status", "status": row.as_status()})
    except Exception:
        # Redis away: the page gets the state with the hello of its next connection.
        log.warning("could not announce the state of sandbox %s", sandbox_id, exc_info=True)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True
