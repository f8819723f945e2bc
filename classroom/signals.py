"""Tell the live dashboards of a student's classes that something of theirs changed: progress
(lessons.StepProgress), a line typed (CommandAudit) or their sandbox. Sent after commit, so the
dashboard reads what was written; the consumers fold bursts into one new picture."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta
from functools import partial
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.db.models.signals import post_save
from django.dispatch import receiver
from django.utils import timezone

from classroom.live import group_name
from classroom.models import Member, MemberRole
from lessons.models import StepProgress
from sandbox.models import Sandbox
from sandbox.status import state_changed
from sandbox.terminal.models import CommandAudit

log = logging.getLogger(__name__)

# A class's dashboard may stay open a while after its end (results, stragglers).
AFTER_END = timedelta(hours=12)


def announce(user_id: int | None) -> None:
    if user_id is not None:
        transaction.on_commit(partial(send_changed, user_id))


def send_changed(user_id: int) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return  # an asynchronous caller (tests driving a browser): no database here; the next change tells
    class_ids = list(
        Member.objects.filter(
            user_id=user_id, role=MemberRole.STUDENT, classroom__ends_at__gt=timezone.now() - AFTER_END
        ).values_list("classroom_id", flat=True)
    )
    layer = get_channel_layer()
    if not class_ids or layer is None:
        return
    try:
        for class_id in class_ids:
            async_to_sync(layer.group_send)(group_name(class_id), {"type": "class.changed", "user_id": user_id})
    except Exception:
        # Redis away: the dashboards rebuild their picture when it is back (layer.reconnected).
        log.warning("could not tell the classes of user %s of a change", user_id, exc_info=True)


@receiver(post_save, sender=StepProgress)
def progress_saved(sender: Any, instance: StepProgress, **kwargs: Any) -> None:
    announce(instance.user_id)


@receiver(post_save, sender=CommandAudit)
def line_typed(sender: Any, instance: CommandAudit, **kwargs: Any) -> None:
    announce(instance.user_id)


@receiver(post_save, sender=Sandbox)
def sandbox_saved(sender: Any, instance: Sandbox, **kwargs: Any) -> None:
    announce(instance.owner_id)


@receiver(state_changed)
def sandbox_moved(sender: Any, sandbox: Sandbox, **kwargs: Any) -> None:
    # Already after commit (sandbox.status.publish).
    if sandbox.owner_id is not None:
        send_changed(sandbox.owner_id)
