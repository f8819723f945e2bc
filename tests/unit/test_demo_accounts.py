from __future__ import annotations

import io
import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from accounts.roles import Role, roles_of

pytestmark = pytest.mark.django_db


def passwords(output: str) -> dict[str, str]:
    return dict(re.findall(r"^\s+(\w+)\s+password: (\S+)", output, re.MULTILINE))


def test_each_install_gets_its_own_passwords_shown_once() -> None:
    first = io.StringIO()
    call_command("demo_accounts", stdout=first)
    shown = passwords(first.getvalue())
    assert set(shown) == {role.value for role in Role}
    for role in Role:
        user = User.objects.get(username=role.value)
        assert user.check_password(shown[role.value])
        assert role in roles_of(user)
        # No published default: the old fixed password opens nothing.
        assert not user.check_password("sandbox-demo")
    assert User.objects.get(username="admin").is_superuser
    assert len(set(shown.values())) == len(shown)

    again = io.StringIO()
    call_command("demo_accounts", stdout=again)
    assert passwords(again.getvalue()) == {}  # printed once: a second run shows no password
    assert "exists" in again.getvalue()
    assert User.objects.get(username="admin").check_password(shown["admin"])  # and changes none

    reset = io.StringIO()
    call_command("demo_accounts", "--reset", stdout=reset)
    renewed = passwords(reset.getvalue())
    assert set(renewed) == set(shown)
    assert all(renewed[name] != shown[name] for name in shown)
    assert User.objects.get(username="admin").check_password(renewed["admin"])


def test_another_install_gets_other_passwords() -> None:
    out = io.StringIO()
    call_command("demo_accounts", stdout=out)
    first = passwords(out.getvalue())
    User.objects.all().delete()
    out = io.StringIO()
    call_command("demo_accounts", stdout=out)
    assert set(passwords(out.getvalue()).values()).isdisjoint(first.values())
