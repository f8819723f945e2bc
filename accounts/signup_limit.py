"""Sign-ups per client address: SIGNUP_LIMIT accounts per SIGNUP_WINDOW_MINUTES, a sliding
window over rows in the database.

Why the database and not a Redis counter: it is the store every process already shares
(web processes, with SQLite or PostgreSQL alike), a sign-up writes a row anyway, and the rows
give an exact sliding window, so Retry-After says exactly when the oldest sign-up leaves the
window. The check and the new row happen under one lock per address, so concurrent sign-ups
from one address cannot both slip under the limit."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from accounts.models import Signup
from sandbox import locks
from sandbox.too_many import seconds_until_free


def window() -> timedelta:
    return timedelta(minutes=settings.SIGNUP_WINDOW_MINUTES)


def seconds_to_wait(address: str) -> int:
    """0 when one more account may be created from `address`, else the seconds until one may.
    Call inside the transaction that creates the account (it takes the address's lock)."""
    limit = settings.SIGNUP_LIMIT
    if limit <= 0:
        return 0
    locks.exclusive(f"signup:{address}")
    now = timezone.now()
    since = now - window()
    # Rows past the window count for nothing: drop them (all addresses), so none is kept longer.
    Signup.objects.filter(created_at__lt=since).delete()
    recent = list(
        Signup.objects.filter(address=address or None, created_at__gte=since)
        .order_by("created_at")
        .values_list("created_at", flat=True)
    )
    if len(recent) < limit:
        return 0
    # One more may come once all but limit - 1 of them have left the window.
    return seconds_until_free(recent[len(recent) - limit], window(), now)


def record(address: str) -> None:
    if settings.SIGNUP_LIMIT > 0:
        Signup.objects.create(address=address or None)
