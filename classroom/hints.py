"""An instructor's hint to a stuck group: it appears in the lesson panel of each student in the
group (the page shows it as text, never as HTML)."""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.auth.models import User
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from classroom import live
from classroom.models import Classroom, record
from sandbox.status import user_group

MAX_HINT = 500


def send_to_group(classroom: Classroom, staff: User, key: object, text: object) -> dict[str, Any]:
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_HINT:
        return {"type": "error", "message": _("A hint is 1 to %(max)s characters of text.") % {"max": MAX_HINT}}
    text = text.strip()
    roster = live.rows(classroom)
    group = next((g for g in live.stuck_groups(roster, smallest=1) if g["key"] == key), None)
    if group is None:
        return {"type": "error", "message": _("Nobody is stuck there any more.")}
    layer = get_channel_layer()
    message = {
        "type": "class.hint",
        "text": text,
        "by": staff.get_username(),
        "lesson": group["lesson"],
        "step": group["step"],
    }
    for user_id in group["user_ids"]:
        async_to_sync(layer.group_send)(user_group(user_id), message)
    record(classroom, staff, "hint", key=str(key), text=text, students=group["user_ids"])
    count = len(group["user_ids"])
    return {
        "type": "class.hint_sent",
        "key": key,
        "message": ngettext("Hint sent to %(count)s student.", "Hint sent to %(count)s students.", count)
        % {"count": count},
    }
