"""Shared fixtures. Personas: student, instructor, admin, outsider (anonymous)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from accounts.roles import Role, grant


@pytest.fixture
def student(db: None) -> User:
    user = User.objects.create_user("alice", password="correct-horse-battery")
    grant(user, Role.STUDENT)
    return user


@pytest.fixture
def instructor(db: None) -> User:
    user = User.objects.create_user("ines", password="correct-horse-battery")
    grant(user, Role.INSTRUCTOR)
    return user


@pytest.fixture
def admin_user(db: None) -> User:
    user = User.objects.create_superuser("ada", password="correct-horse-battery")
    grant(user, Role.ADMIN)
    return user
