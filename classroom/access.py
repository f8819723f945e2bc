"""Who may see and change what in a class. Every page, export, socket and action asks here.

- Admins (accounts.roles) see and change every class.
- The class's instructor and co-instructors see and change it; assistants see and help
  (watch, extra time, hints) but cannot change the class itself.
- Students see only their own progress; other users learn nothing about a class.
"""

from __future__ import annotations

from django.contrib.auth.models import AnonymousUser, User
from django.db.models import Q, QuerySet

from accounts.roles import Role, has_role
from classroom.models import CHANGE_ROLES, STAFF_ROLES, Classroom, Member, MemberRole

AnyUser = User | AnonymousUser


def is_admin(user: AnyUser) -> bool:
    return has_role(user, Role.ADMIN)


def can_create(user: AnyUser) -> bool:
    return has_role(user, Role.INSTRUCTOR) or is_admin(user)


def classes_visible_to(user: AnyUser) -> QuerySet[Classroom]:
    """The classes a user runs or helps with (all of them for an admin)."""
    if not user.is_authenticated:
        return Classroom.objects.none()
    if is_admin(user):
        return Classroom.objects.all()
    return Classroom.objects.filter(Q(owner=user) | Q(members__user=user, members__role__in=STAFF_ROLES)).distinct()


def classes_joined_by(user: AnyUser) -> QuerySet[Classroom]:
    if not user.is_authenticated:
        return Classroom.objects.none()
    return Classroom.objects.filter(members__user=user, members__role=MemberRole.STUDENT)


def role_in(user: AnyUser, classroom: Classroom) -> str | None:
    if not user.is_authenticated:
        return None
    if classroom.owner_id == user.pk:
        return MemberRole.INSTRUCTOR
    role: str | None = Member.objects.filter(classroom=classroom, user=user).values_list("role", flat=True).first()
    return role


def can_change(user: AnyUser, classroom: Classroom) -> bool:
    return is_admin(user) or role_in(user, classroom) in CHANGE_ROLES


def can_help(user: AnyUser, classroom: Classroom) -> bool:
    """See the roster, watch students, give extra time and hints."""
    return is_admin(user) or role_in(user, classroom) in STAFF_ROLES


def is_student_of(user: AnyUser, classroom: Classroom) -> bool:
    return role_in(user, classroom) == MemberRole.STUDENT


def staff_can_watch(staff: AnyUser, classroom: Classroom, student: AnyUser) -> bool:
    """Whether `staff` may watch `student`'s terminal and page in this class: staff of the
    class (or an admin), and the student a member of it."""
    if not student.is_authenticated or not can_help(staff, classroom):
        return False
    return Member.objects.filter(classroom=classroom, user=student, role=MemberRole.STUDENT).exists()


def students(classroom: Classroom) -> QuerySet[Member]:
    return classroom.members.filter(role=MemberRole.STUDENT).select_related("user")
