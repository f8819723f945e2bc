"""A class's sandbox size: a student starting one of the course's lessons gets a sandbox of
the class's size (when the lesson itself needs less), for as long as the class runs."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.utils import timezone

from classroom.models import Classroom, MemberRole
from lessons.models import Lesson
from sandbox.manifests import largest


def class_size(user: User, lesson: Lesson) -> str | None:
    """The largest size among the running classes whose course has this lesson and that have
    this user as a student; None when there is none."""
    found = Classroom.objects.filter(
        members__user=user,
        members__role=MemberRole.STUDENT,
        course__lesson=lesson,
        ends_at__gt=timezone.now(),
    ).values_list("size", flat=True)
    return largest(found)
