"""Failed logins: django-axes counts them in the database and refuses a locked-out login before
the password is checked; this module adapts it to the classroom.

- Two limits instead of one: LOGIN_FAILURE_LIMIT failures for one account (from anywhere)
  and LOGIN_FAILURE_LIMIT_PER_ADDRESS for one client address (over all accounts). The
  address limit is higher because a whole class may share one address (a school's NAT).
- The lockout expires LOGIN_LOCKOUT_MINUTES after the failure that caused it: guesses during
  the lockout are not counted, so they cannot extend it forever (settings.py).
- A successful login forgets its own account's failures only: forgetting the address's too
  would let anyone with an account wipe the address count between guesses at others.
- The answer is the login page again with HTTP 429, Retry-After and the time left.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from sandbox.client_address import client_address
from sandbox.too_many import try_again_text, with_retry_after


def failure_limit(request: HttpRequest, credentials: dict[str, Any] | None) -> int:
    """AXES_FAILURE_LIMIT: read when used, so the setting has one name (LOGIN_FAILURE_LIMIT)."""
    return max(1, int(settings.LOGIN_FAILURE_LIMIT))


def address_for_axes(request: HttpRequest) -> str | None:
    """AXES_CLIENT_IP_CALLABLE: the same address the other per-address limits use."""
    return client_address(request) or None


class LockoutBackend(AxesStandaloneBackend):  # type: ignore[misc]  # axes ships no type hints
    """Axes' backend, except that a call without a request (a management command, a shell, a
    test's authenticate()) is not a guess over HTTP and is left to the next backend; every
    login form (ours, the admin's) passes the request."""

    def authenticate(self, request: HttpRequest | None, *args: Any, **kwargs: Any) -> None:
        if request is None:
            return None
        super().authenticate(request, *args, **kwargs)
        return None


class ClassroomHandler(AxesDatabaseHandler):  # type: ignore[misc]  # axes ships no type hints
    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        """Axes compares one number with AXES_FAILURE_LIMIT (the account limit). The address's
        count is scaled so that it reaches that number exactly at the address limit.
        get_user_attempts follows AXES_LOCKOUT_PARAMETERS: the account first, then the address."""
        per_account, per_address = (
            attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for attempts in self.get_user_attempts(request, credentials)
        )
        account_limit = settings.LOGIN_FAILURE_LIMIT
        address_limit = settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS
        if address_limit <= 0:  # no address limit
            return int(per_account)
        return int(max(per_account, per_address * account_limit // address_limit))

    def user_logged_in(self, sender: Any, request: HttpRequest, user: Any, **kwargs: Any) -> None:
        super().user_logged_in(sender, request, user, **kwargs)
        AccessAttempt.objects.filter(username=user.get_username()).delete()


def _unlocks_at(rows: list[tuple[datetime, int]], limit: int, cool_off: timedelta) -> datetime | None:
    """A group of attempt rows is locked while its failures add up to the limit; each row stops
    counting `cool_off` after its last failure. None when the group is not locked."""
    total = sum(failures for _, failures in rows)
    if limit <= 0 or total < limit:
        return None
    for at, failures in sorted(rows):
        total -= failures
        if total < limit:
            return at + cool_off
    return None  # not reached: the loop ends with total 0 < limit


def locked_until(request: HttpRequest) -> datetime:
    """When this request's account and address are both free to try again."""
    username = get_client_username(request, getattr(request, "axes_credentials", None))
    cool_off = get_cool_off(request)
    recent = AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - cool_off)
    fields = ("attempt_time", "failures_since_start")
    by_account = list(recent.filter(username=username).values_list(*fields))
    by_address = list(recent.filter(ip_address=getattr(request, "axes_ip_address", None)).values_list(*fields))
    ends = [
        _unlocks_at(by_account, settings.LOGIN_FAILURE_LIMIT, cool_off),
        _unlocks_at(by_address, settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS, cool_off),
    ]
    return max((end for end in ends if end is not None), default=timezone.now())


def lockout_response(request: HttpRequest, *args: Any) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE. Axes passes (response, credentials) in some orders and not
    others (its async middleware path differs), so only the request is read."""
    wait = max(1, int((locked_until(request) - timezone.now()).total_seconds() + 0.999))
    message = _("Too many failed logins for this account or from your network.") + " " + try_again_text(wait)
    form = AuthenticationForm(request)
    username = get_client_username(request, getattr(request, "axes_credentials", None))
    if username:
        form.initial["username"] = username
    context = {"form": form, "locked_out": message, "next": request.POST.get("next", "")}
    return with_retry_after(render(request, "registration/login.html", context), wait)
