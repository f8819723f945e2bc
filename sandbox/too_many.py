"""Shared pieces of the request limits: how long until a sliding window lets one more in,
and the HTTP 429 answer that says so in a Retry-After header."""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from typing import TypeVar

from django.http import HttpResponse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

Response = TypeVar("Response", bound=HttpResponse)


def seconds_until_free(oldest: datetime, window: timedelta, now: datetime) -> int:
    """A sliding window of `window` counts events since now - window; the oldest one counted
    leaves it at oldest + window. Whole seconds, at least 1, so a client never retries early."""
    return max(1, math.ceil((oldest + window - now).total_seconds()))


def wait_text(seconds: int) -> str:
    """'in 3 minutes' / 'in 40 seconds', in the active language."""
    if seconds < 60:
        return ngettext("in %(n)d second", "in %(n)d seconds", seconds) % {"n": seconds}
    minutes = math.ceil(seconds / 60)
    return ngettext("in %(n)d minute", "in %(n)d minutes", minutes) % {"n": minutes}


def with_retry_after(response: Response, seconds: int) -> Response:
    """Mark an answer as HTTP 429 Too Many Requests, to be tried again after `seconds`."""
    response.status_code = 429
    response["Retry-After"] = str(max(1, int(seconds)))
    return response


def try_again_text(seconds: int) -> str:
    return _("Try again %(when)s.") % {"when": wait_text(seconds)}
