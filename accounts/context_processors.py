"""What every page's navigation needs to know of the user's roles: whether to link the
instructors' lesson preview and the admins' platform page. Lazy, so a page that never asks (or
an anonymous visitor) costs no query, and one query for both answers when it does."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.roles import Role


def _roles(request: HttpRequest) -> set[str]:
    user = request.user
    if not isinstance(user, User) or not user.is_authenticated:
        return set()
    names = set(user.groups.filter(name__in=[Role.INSTRUCTOR, Role.ADMIN]).values_list("name", flat=True))
    if user.is_superuser:
        names.add(Role.ADMIN.value)
    return names


def roles(request: HttpRequest) -> dict[str, Any]:
    found = SimpleLazyObject(lambda: _roles(request))
    return {"nav_roles": found}
