"""`manage.py rehearse`: simulated students run the class's first lesson on the real cluster
through the terminal runner, the report is printed and kept on the class, and nothing of the
rehearsal is left behind (users, sandboxes, namespaces)."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from classroom import rehearsal
from classroom.models import Classroom, CourseLesson
from lessons import loader
from lessons.models import Lesson
from sandbox.models import LIVE_STATES, Sandbox
from tests.cluster.conftest import Kubectl

# The simulated students work in threads, each with its own database connection: the data
# they read must be committed.
pytestmark = [pytest.mark.usefixtures("real_node"), pytest.mark.django_db(transaction=True)]


def a_class(name: str, *slugs: str) -> Classroom:
    assert not loader.load().problems
    now = timezone.now()
    classroom = Classroom.objects.create(name=name, starts_at=now, ends_at=now + timedelta(hours=2))
    for position, slug in enumerate(slugs):
        CourseLesson.objects.create(classroom=classroom, lesson=Lesson.objects.get(slug=slug), position=position)
    return classroom


def sandbox_namespaces(kubectl: Kubectl) -> set[str]:
    """This suite's sandbox namespaces that are not on their way out."""
    items = json.loads(kubectl("get", "namespaces", "-o", "json").stdout)["items"]
    return {
        ns["metadata"]["name"]
        for ns in items
        if ns["metadata"]["name"].startswith(settings.SANDBOX_NAMESPACE_PREFIX)
        and ns["status"].get("phase") != "Terminating"
    }


def test_a_rehearsal_runs_the_first_lesson_reports_and_cleans_up(kubectl: Kubectl) -> None:
    # The course starts with the Pod lesson, not the catalogue's first: the rehearsal follows the
    # class's own order.
    classroom = a_class("rehearsed", "pod", "architecture")
    users_before = User.objects.count()
    namespaces_before = sandbox_namespaces(kubectl)
    out = io.StringIO()
    call_command("rehearse", str(classroom.pk), "--students", "3", "--parallel", "3", stdout=out)
    printed = out.getvalue()
    print(printed)

    assert "3 students, lesson pod" in printed
    assert "sandbox start  p50" in printed
    assert "the cluster has room for the class" in printed
    classroom.refresh_from_db()
    kept = classroom.rehearsal
    steps = Lesson.objects.get(slug="pod").steps.count()
    assert kept["steps_ok"] == 3 * steps
    assert kept["steps_failed"] == []
    assert 0 < kept["start_p50"] <= kept["start_p95"]
    assert 0 < kept["quota_peak"]["pods"] <= 1

    # Nothing of the rehearsal stays: its users, their sandbox rows and namespaces.
    assert User.objects.count() == users_before
    assert not Sandbox.objects.filter(state__in=LIVE_STATES).exists()
    assert sandbox_namespaces(kubectl) <= namespaces_before


def test_a_class_without_lessons_or_an_unknown_class_is_refused_clearly() -> None:
    empty = a_class("empty")
    with pytest.raises(CommandError, match="no lessons yet"):
        call_command("rehearse", str(empty.pk), "--students", "1")
    with pytest.raises(CommandError, match="there is no class 'nobody'"):
        call_command("rehearse", "nobody")
    with pytest.raises(CommandError, match="1 to 500"):
        call_command("rehearse", str(empty.pk), "--students", "0")


def test_the_percentile_is_a_real_sample() -> None:
    assert rehearsal.percentile([], 0.95) == 0.0
    assert rehearsal.percentile([3.0, 1.0, 2.0], 0.5) == 2.0
    assert rehearsal.percentile([3.0, 1.0, 2.0], 0.95) == 3.0
