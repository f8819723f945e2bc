"""A class's sandbox size: its students get sandboxes of that size for the course's lessons,
never smaller than a lesson needs, and only while the class runs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from classroom.models import Member, MemberRole
from lessons import engine
from lessons.models import Lesson
from tests.unit import classes

pytestmark = pytest.mark.django_db


def test_a_student_gets_the_class_size_for_a_course_lesson() -> None:
    w = classes.world()
    w.classroom.size = "medium"
    w.classroom.save()
    student, other = w.users["student"], w.users["other_student"]
    assert engine.wanted_size(student, w.lesson) == "medium"
    assert engine.wanted_size(other, w.lesson) == "small"  # his own class's size, not this one's
    # Staff are not given the class's size: they are not its students.
    assert engine.wanted_size(w.users["assistant"], w.lesson) is None
    # A lesson outside the course: the class has no say.
    outside, _ = classes.lesson("services")
    assert engine.wanted_size(student, outside) is None


def test_the_larger_of_the_lesson_need_and_the_class_size_wins() -> None:
    w = classes.world()
    w.classroom.size = "medium"
    w.classroom.save()
    w.lesson.needs = {"size": "large"}
    w.lesson.save()
    assert engine.wanted_size(w.users["student"], w.lesson) == "large"
    w.lesson.needs = {"size": "small"}
    w.lesson.save()
    assert engine.wanted_size(w.users["student"], w.lesson) == "medium"


def test_an_ended_class_no_longer_sizes_sandboxes() -> None:
    w = classes.world()
    w.classroom.size = "large"
    w.classroom.starts_at = timezone.now() - timedelta(hours=3)
    w.classroom.ends_at = timezone.now() - timedelta(minutes=1)
    w.classroom.save()
    w.lesson.needs = {"size": "small"}
    w.lesson.save()
    assert engine.wanted_size(w.users["student"], w.lesson) == "small"


def test_the_largest_running_class_wins_for_a_student_in_two() -> None:
    w = classes.world()
    w.classroom.size = "medium"
    w.classroom.save()
    w.other_class.size = "large"
    w.other_class.save()
    Member.objects.create(classroom=w.other_class, user=w.users["student"], role=MemberRole.STUDENT)
    assert engine.wanted_size(w.users["student"], w.lesson) == "large"


def test_starting_a_course_lesson_makes_a_sandbox_of_the_class_size() -> None:
    w = classes.world()
    w.classroom.size = "medium"
    w.classroom.save()
    sandbox, fits = engine.begin(w.users["student"], Lesson.objects.get(pk=w.lesson.pk))
    assert fits
    assert sandbox is not None
    assert sandbox.size == "medium"
    # Someone outside the class starting the same lesson gets the platform's default.
    theirs, _ = engine.begin(w.users["other_student"], w.lesson)
    assert theirs is not None
    assert theirs.size == "small"
