from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.roles import Role, has_role, roles_of

pytestmark = pytest.mark.django_db


def test_it_creates_the_three_role_groups_in_a_migration() -> None:
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= {"student", "instructor", "admin"}


def test_it_signs_up_a_student_and_logs_them_in(client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {"username": "newbie", "email": "", "password1": "a-long-passphrase-7", "password2": "a-long-passphrase-7"},
    )
    assert response.status_code == 302
    assert response["Location"] == "/lessons/"
    user = User.objects.get(username="newbie")
    assert roles_of(user) == [Role.STUDENT]
    assert client.get("/lessons/").status_code == 200


def test_it_keeps_the_form_and_explains_when_passwords_differ(client: Client) -> None:
    response = client.post(
        "/accounts/signup/",
        {"username": "newbie", "password1": "a-long-passphrase-7", "password2": "another-passphrase-8"},
    )
    assert response.status_code == 200
    assert "match" in response.content.decode()  # "The two password fields didn't match."
    assert 'value="newbie"' in response.content.decode()
    assert not User.objects.filter(username="newbie").exists()


def test_it_sends_an_outsider_to_the_login_page(client: Client) -> None:
    response = client.get("/lessons/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_it_logs_a_student_in_and_shows_an_empty_lesson_list(client: Client, student: User, settings: Any) -> None:
    settings.LESSONS_RELOAD = False  # nothing loaded: the list says so
    response = client.post("/accounts/login/", {"username": "alice", "password": "correct-horse-battery"})
    assert response.status_code == 302
    page = client.get("/lessons/").content.decode()
    assert 'id="no-lessons"' in page


def test_it_logs_out_with_a_post(client: Client, student: User) -> None:
    client.force_login(student)
    client.post("/accounts/logout/")
    assert client.get("/lessons/").status_code == 302


def test_it_grants_admins_the_admin_role_and_not_students(student: User, admin_user: User) -> None:
    assert has_role(admin_user, Role.ADMIN)
    assert not has_role(student, Role.ADMIN)
    assert not has_role(student, Role.INSTRUCTOR)


def test_it_switches_the_interface_to_chinese(client: Client, student: User) -> None:
    client.force_login(student)
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/lessons/"})
    page = client.get("/lessons/").content.decode()
    assert '<html lang="zh-hans">' in page
    assert "课程" in page
