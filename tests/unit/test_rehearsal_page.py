"""The rehearsal button: it marks the class and queues one job on commit, refuses a second
while one runs and bad counts or a class without a course with a message; the report is shown."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from classroom import rehearsal
from classroom.models import Classroom, CourseLesson, StaffAction
from tests.unit import classes
from tests.unit.classes import World

pytestmark = pytest.mark.django_db


@pytest.fixture
def w() -> World:
    return classes.world()


def _instructor(w: World) -> Client:
    client = Client()
    client.force_login(w.users["instructor"])
    return client


def test_it_queues_one_rehearsal_after_commit_and_refuses_a_second_while_it_runs(
    w: World, django_capture_on_commit_callbacks: object
) -> None:
    client = _instructor(w)
    url = f"/classes/{w.classroom.pk}/rehearse/"
    with django_capture_on_commit_callbacks() as queued:  # type: ignore[operator]
        first = client.post(url, {"students": "4"}, follow=True)
    assert len(queued) == 1
    assert "The rehearsal started" in first.content.decode()
    kept = Classroom.objects.get(pk=w.classroom.pk).rehearsal
    assert kept["running"] is True
    assert kept["students"] == 4
    assert "A rehearsal with 4 students is running" in first.content.decode()
    assert StaffAction.objects.get(action="rehearse").detail == {"students": 4}

    with django_capture_on_commit_callbacks() as again:  # type: ignore[operator]
        second = client.post(url, {"students": "4"}, follow=True)
    assert again == []
    assert "already running" in second.content.decode()


def test_a_rehearsal_lost_with_its_worker_may_be_started_again(w: World) -> None:
    started = (timezone.now() - timedelta(seconds=rehearsal.STALE_AFTER_SECONDS + 1)).isoformat()
    w.classroom.rehearsal = {"running": True, "students": 3, "started_at": started}
    assert not rehearsal.running(w.classroom)
    w.classroom.rehearsal["started_at"] = timezone.now().isoformat()
    assert rehearsal.running(w.classroom)


@pytest.mark.parametrize("count", ["0", "501", "many", ""])
def test_it_refuses_a_bad_count_with_a_message_and_starts_nothing(w: World, count: str) -> None:
    response = _instructor(w).post(f"/classes/{w.classroom.pk}/rehearse/", {"students": count}, follow=True)
    assert "from 1 to 500" in response.content.decode()
    assert Classroom.objects.get(pk=w.classroom.pk).rehearsal == {}


def test_it_refuses_a_class_without_a_course(w: World) -> None:
    CourseLesson.objects.filter(classroom=w.classroom).delete()
    response = _instructor(w).post(f"/classes/{w.classroom.pk}/rehearse/", {"students": "2"}, follow=True)
    assert "add its course first" in response.content.decode()
    assert Classroom.objects.get(pk=w.classroom.pk).rehearsal == {}


def test_the_class_page_shows_the_last_report(w: World) -> None:
    w.classroom.rehearsal = rehearsal.Report(
        students=3, lesson="pods", start_p50=0.4, start_p95=0.6, steps_ok=6, room=True, finished_at="x"
    ).as_json()
    w.classroom.save()
    body = _instructor(w).get(f"/classes/{w.classroom.pk}/").content.decode()
    assert "Last rehearsal: 3 students, lesson pods" in body
    assert "p50 0.4 s" in body
    assert "The cluster has room for the class." in body
    assistant = Client()
    assistant.force_login(w.users["assistant"])
    assert "Rehearse the class" not in assistant.get(f"/classes/{w.classroom.pk}/").content.decode()
