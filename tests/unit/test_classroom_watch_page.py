"""The watch page (classroom/shadow.py) as staff get it, in both languages, and the student's
page labels that say who watches and who suggested a line."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from sandbox.terminal.views import page_labels
from tests.unit import classes

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("language", "heading", "suggest"),
    [("en", "Watching alice", "Suggest a line"), ("zh-hans", "正在查看 alice", "建议一行命令")],
)
def test_it_shows_the_watch_page_in_the_staff_members_language(language: str, heading: str, suggest: str) -> None:
    world = classes.world()
    student = world.users["student"]
    client = Client()
    client.force_login(world.users["co_instructor"])
    client.cookies["django_language"] = language
    page = client.get(reverse("classroom:watch", args=[world.classroom.pk, student.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert heading in html
    assert suggest in html
    assert f'data-socket="/ws/class/{world.classroom.pk}/watch/{student.pk}/"' in html
    # Its way in: the student's page in the class links to it.
    detail = client.get(reverse("classroom:student", args=[world.classroom.pk, student.pk]))
    assert reverse("classroom:watch", args=[world.classroom.pk, student.pk]) in detail.content.decode()


def test_an_assistant_may_watch_but_another_classes_student_page_is_not_found() -> None:
    world = classes.world()
    client = Client()
    client.force_login(world.users["assistant"])
    ok = client.get(reverse("classroom:watch", args=[world.classroom.pk, world.users["student"].pk]))
    assert ok.status_code == 200
    other = client.get(reverse("classroom:watch", args=[world.other_class.pk, world.users["other_student"].pk]))
    assert other.status_code == 404
    assert "oscar" not in other.content.decode()


def test_the_students_page_says_who_watches_and_who_suggests_in_chinese() -> None:
    with translation.override("zh-hans"):
        labels = page_labels()
    assert labels["watching"] % "ines" == "正在查看你的终端：ines"  # noqa: RUF001  (Chinese punctuation)
    assert labels["suggested"].startswith("%s 建议了这一行")
