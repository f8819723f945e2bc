"""Classes: an instructor's group of students, an ordered course of lessons and the time they
have. Progress itself stays in lessons.StepProgress (per user and step), so deleting a class
never deletes what its students did."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from lessons.models import Lesson
from sandbox.manifests import PRESETS


def new_join_code() -> str:
    # 128 random bits: guessing is hopeless even before the rate limit in classroom.joining.
    return secrets.token_urlsafe(16)


class Classroom(models.Model):
    name = models.CharField(_("name"), max_length=120)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="owned_classrooms"
    )
    size = models.CharField(
        _("sandbox size"), max_length=16, default="small", choices=[(name, name) for name in PRESETS]
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    minutes_per_student = models.PositiveIntegerField(_("minutes per student"), default=120)
    join_code = models.CharField(max_length=32, unique=True, default=new_join_code, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    # The last rehearsal's report (classroom.rehearsal.Report), shown on the class page.
    rehearsal = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-starts_at", "id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(ends_at__gt=models.F("starts_at")), name="class_ends_after_start")
        ]

    def __str__(self) -> str:
        return self.name

    def is_open(self, now: datetime | None = None) -> bool:
        """Students may join until the class ends."""
        return (now or timezone.now()) < self.ends_at

    def lessons(self) -> list[Lesson]:
        return [item.lesson for item in self.course.select_related("lesson").order_by("position")]


class CourseLesson(models.Model):
    """One lesson of a class's course, in order."""

    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="course")
    lesson = models.ForeignKey(Lesson, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["classroom", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["classroom", "lesson"], name="one_lesson_once_per_course")]

    def __str__(self) -> str:
        return f"{self.classroom_id} #{self.position} {self.lesson_id}"


class MemberRole(models.TextChoices):
    INSTRUCTOR = "instructor", _("Instructor")
    CO_INSTRUCTOR = "co-instructor", _("Co-instructor")
    ASSISTANT = "assistant", _("Assistant")
    STUDENT = "student", _("Student")


# Who may change the class (name, course, times, members) and who may only see and help.
CHANGE_ROLES = (MemberRole.INSTRUCTOR, MemberRole.CO_INSTRUCTOR)
STAFF_ROLES = (MemberRole.INSTRUCTOR, MemberRole.CO_INSTRUCTOR, MemberRole.ASSISTANT)


class Member(models.Model):
    classroom = models.ForeignKey(Classroom, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="class_memberships")
    role = models.CharField(max_length=16, choices=MemberRole.choices, default=MemberRole.STUDENT)
    # Accommodations: added to the class's minutes_per_student for this student only.
    extra_minutes = models.PositiveIntegerField(_("extra minutes"), default=0)
    joined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["classroom", "role", "joined_at", "id"]
        constraints = [models.UniqueConstraint(fields=["classroom", "user"], name="one_membership_per_class")]
        indexes = [models.Index(fields=["user", "role"])]

    def __str__(self) -> str:
        return f"{self.user_id} {self.role} in {self.classroom_id}"

    def allowance(self) -> timedelta:
        return timedelta(minutes=self.classroom.minutes_per_student + self.extra_minutes)


class JoinAttempt(models.Model):
    """A try at a join code, kept to rate limit guessing per user and per address."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.CASCADE, related_name="+")
    address = models.GenericIPAddressField(null=True)
    succeeded = models.BooleanField(default=False)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["user", "at"]), models.Index(fields=["address", "at"])]

    def __str__(self) -> str:
        return f"{self.user_id} {self.address} {'ok' if self.succeeded else 'failed'} {self.at:%H:%M:%S}"


class StaffAction(models.Model):
    """Every action staff take on a class or a student (extra time, a hint, a suggested command,
    a reset): who, on whom, what, when. Kept when the class or the people are deleted."""

    classroom = models.ForeignKey(Classroom, null=True, on_delete=models.SET_NULL, related_name="staff_actions")
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    student = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    action = models.CharField(max_length=32)  # "extra_time", "hint", "suggest", "reset_sandbox", ...
    detail = models.JSONField(default=dict, blank=True)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.staff_id} {self.action} {self.student_id} {self.at:%H:%M:%S}"


def record(
    classroom: Classroom | None,
    staff: User | AnonymousUser,
    action: str,
    student: User | None = None,
    **detail: object,
) -> StaffAction:
    """Audit one staff action."""
    return StaffAction.objects.create(
        classroom=classroom,
        staff=staff if isinstance(staff, User) else None,
        student=student,
        action=action,
        detail=detail,
    )
