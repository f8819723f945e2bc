"""Joining a class by its link or code. A code is 128 random bits, and wrong tries are limited
per user and per address (CLASS_JOIN_FAILURE_LIMIT), so codes cannot be guessed or listed. Every
refusal reads the same whether the code never existed or the class has ended."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from classroom.models import Classroom, JoinAttempt, Member, MemberRole


def failure_limit() -> tuple[int, float]:
    """CLASS_JOIN_FAILURE_LIMIT as (count, seconds); classroom.checks rejects a bad value."""
    count, _slash, seconds = str(settings.CLASS_JOIN_FAILURE_LIMIT).partition("/")
    return int(count), float(seconds)


@dataclass(frozen=True)
class Outcome:
    classroom: Classroom | None
    error: str = ""


def limited(user: User, address: str | None) -> bool:
    count, seconds = failure_limit()
    since = timezone.now() - timedelta(seconds=seconds)
    who = Q(user=user) | Q(address=address) if address else Q(user=user)
    return JoinAttempt.objects.filter(who, succeeded=False, at__gte=since).count() >= count


def join(user: User, code: str, address: str | None) -> Outcome:
    """Make `user` a student of the class with this code. Already a member (in any role):
    nothing changes and the class is returned."""
    if limited(user, address):
        return Outcome(None, _("Too many wrong codes. Try again later."))
    code = code.strip()
    classroom = Classroom.objects.filter(join_code=code).first() if code else None
    if classroom is None or not classroom.is_open():
        JoinAttempt.objects.create(user=user, address=address, succeeded=False)
        return Outcome(None, _("Wrong or expired code."))
    JoinAttempt.objects.create(user=user, address=address, succeeded=True)
    try:
        with transaction.atomic():
            Member.objects.get_or_create(classroom=classroom, user=user, defaults={"role": MemberRole.STUDENT})
    except IntegrityError:
        pass  # the same student's second tab joined at the same moment: they are in
    return Outcome(classroom)
