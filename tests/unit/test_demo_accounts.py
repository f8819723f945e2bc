from __future__ import annotations

import io

import pytest
from django.contrib.auth import authenticate
from django.core.management import call_command

from accounts.management.commands.demo_accounts import DEMO_PASSWORD
from accounts.roles import Role, roles_of

pytestmark = pytest.mark.django_db


def test_it_creates_one_demo_account_per_role_and_can_run_twice() -> None:
    out = io.StringIO()
    call_command("demo_accounts", stdout=out)
    call_command("demo_accounts", stdout=out)
    assert "student" in out.getvalue()
    for role in Role:
        user = authenticate(username=role.value, password=DEMO_PASSWORD)
        assert user is not None
        assert role in roles_of(user)
    admin = authenticate(username="admin", password=DEMO_PASSWORD)
    assert admin is not None
    assert admin.is_superuser
