"""The three roles are Django groups, so admins can grant them in the admin like any group."""

from __future__ import annotations

from enum import StrEnum

from django.contrib.auth.models import AnonymousUser, Group, User


class Role(StrEnum):
    STUDENT = "student"
    INSTRUCTOR = "instructor"
    ADMIN = "admin"


def ensure_role_groups() -> None:
    for role in Role:
        Group.objects.get_or_create(name=role.value)


def grant(user: User, role: Role) -> None:
    group, _ = Group.objects.get_or_create(name=role.value)
    user.groups.add(group)


def has_role(user: User | AnonymousUser, role: Role) -> bool:
    if isinstance(user, AnonymousUser) or not user.is_authenticated:
        return False
    if role is Role.ADMIN and user.is_superuser:
        return True
    return user.groups.filter(name=role.value).exists()


def roles_of(user: User | AnonymousUser) -> list[Role]:
    return [role for role in Role if has_role(user, role)]
