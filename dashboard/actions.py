"""What an admin does from the dashboard: extend, expire or delete many sandboxes at once (a
class's, or the ones ticked), and search the terminal's audit log.

Every change goes through sandbox.api: extending is a database update (and an informational
annotation); expiring and deleting hand the sandbox to a worker after commit, so no namespace
is deleted while the admin's request waits."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from django.contrib.auth.models import User
from django.db.models import Q, QuerySet

from classroom.models import Member, MemberRole
from sandbox import api
from sandbox.models import LIVE_STATES, OWNED_STATES, Sandbox
from sandbox.terminal.models import CommandAudit

log = logging.getLogger(__name__)
AUDIT_LIMIT = 200  # rows per search: a page, not an export


class Bulk(StrEnum):
    EXTEND = "extend"
    EXPIRE = "expire"
    DELETE = "delete"


@dataclass
class BulkReport:
    action: Bulk
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # ended or being removed meanwhile


def class_students(classroom_id: int) -> QuerySet[User]:
    student_ids = Member.objects.filter(classroom_id=classroom_id, role=MemberRole.STUDENT).values("user_id")
    return User.objects.filter(pk__in=student_ids)


def targets(*, classroom_id: int | None, sandbox_ids: Iterable[int]) -> list[Sandbox]:
    """The live sandboxes of the class's students and the ones named, once each."""
    chosen = Q(pk__in=list(sandbox_ids))
    if classroom_id is not None:
        # A class's students' current sandboxes (not the warm pool's, not one on its way out).
        chosen |= Q(owner__in=class_students(classroom_id), state__in=OWNED_STATES)
    return list(Sandbox.objects.filter(chosen, state__in=LIVE_STATES).order_by("pk"))


def run_bulk(action: Bulk, sandboxes: list[Sandbox], *, hours: int = 1, by: User | None = None) -> BulkReport:
    report = BulkReport(action)
    for sandbox in sandboxes:
        if action is Bulk.EXTEND:
            api.extend(sandbox, hours)
            done = True
        else:
            done = api.end(sandbox, expired=action is Bulk.EXPIRE)
        (report.done if done else report.skipped).append(sandbox.namespace)
    log.info(
        "%s: %s %d sandbox(es) %s (skipped %s)",
        by.get_username() if by else "?",
        action,
        len(report.done),
        report.done,
        report.skipped,
    )
    return report


@dataclass
class AuditQuery:
    user: str = ""
    classroom_id: int | None = None
    text: str = ""
    outcome: str = ""
    since: datetime | None = None
    until: datetime | None = None


def search_audit(query: AuditQuery, limit: int = AUDIT_LIMIT) -> list[CommandAudit]:
    """The newest matching lines first. Text and user match as substrings, case-insensitively."""
    rows = CommandAudit.objects.select_related("user", "sandbox")
    if query.user:
        rows = rows.filter(user__username__icontains=query.user)
    if query.classroom_id is not None:
        rows = rows.filter(user__in=class_students(query.classroom_id))
    if query.text:
        rows = rows.filter(line__icontains=query.text)
    if query.outcome:
        rows = rows.filter(outcome=query.outcome)
    if query.since:
        rows = rows.filter(started_at__gte=query.since)
    if query.until:
        rows = rows.filter(started_at__lte=query.until)
    return list(rows.order_by("-started_at", "-pk")[:limit])
