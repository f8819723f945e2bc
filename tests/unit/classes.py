"""A class to test with: a two-step lesson in the course, and the personas around it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone

from accounts.roles import Role, grant
from classroom.models import Classroom, CourseLesson, Member, MemberRole
from lessons.models import Lesson, Step

CLASS_NAME = "Kubernetes Tuesday 7B"


@dataclass
class World:
    classroom: Classroom
    other_class: Classroom
    lesson: Lesson
    steps: list[Step]
    users: dict[str, User]


def user(name: str, *roles: Role) -> User:
    made = User.objects.create_user(name)  # tests log in with force_login: no slow password hash
    for role in roles:
        grant(made, role)
    return made


def lesson(slug: str = "pods", steps: int = 2) -> tuple[Lesson, list[Step]]:
    made = Lesson.objects.create(slug=slug, title={"en": "Pods", "zh-hans": "Pod 入门"})
    return made, [
        Step.objects.create(
            lesson=made, position=i, key=f"step-{i}", title={"en": f"Step {i}", "zh-hans": f"第 {i} 步"}
        )
        for i in range(1, steps + 1)
    ]


def classroom(owner: User, name: str, lessons: list[Lesson], **fields: object) -> Classroom:
    now = timezone.now()
    values: dict[str, object] = {"starts_at": now - timedelta(minutes=5), "ends_at": now + timedelta(hours=3)}
    values.update(fields)
    made = Classroom.objects.create(name=name, owner=owner, **values)
    Member.objects.create(classroom=made, user=owner, role=MemberRole.INSTRUCTOR)
    for position, item in enumerate(lessons):
        CourseLesson.objects.create(classroom=made, lesson=item, position=position)
    return made


def world() -> World:
    """Personas: student (in the class), other_student (in another class), assistant and
    co_instructor (staff of the class, assistant without the instructor role), instructor (its
    owner), other_instructor (owner of the other class), admin."""
    users = {
        "student": user("alice", Role.STUDENT),
        "other_student": user("oscar", Role.STUDENT),
        "assistant": user("astrid", Role.STUDENT),
        "co_instructor": user("cole", Role.INSTRUCTOR),
        "instructor": user("ines", Role.INSTRUCTOR),
        "other_instructor": user("otto", Role.INSTRUCTOR),
        "admin": user("ada", Role.ADMIN),
    }
    made, steps = lesson()
    main = classroom(users["instructor"], CLASS_NAME, [made])
    other = classroom(users["other_instructor"], "Other class", [made])
    Member.objects.create(classroom=main, user=users["student"], role=MemberRole.STUDENT)
    # A classmate of alice's who is nobody's persona: no answer to an outsider names him.
    Member.objects.create(classroom=main, user=user("bruno", Role.STUDENT), role=MemberRole.STUDENT)
    Member.objects.create(classroom=main, user=users["assistant"], role=MemberRole.ASSISTANT)
    Member.objects.create(classroom=main, user=users["co_instructor"], role=MemberRole.CO_INSTRUCTOR)
    Member.objects.create(classroom=other, user=users["other_student"], role=MemberRole.STUDENT)
    return World(main, other, made, steps, users)
