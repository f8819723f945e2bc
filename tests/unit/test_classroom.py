"""Classes: who may see and do what (the permission matrix), joining by code, results and
their exports, and that deleting a class keeps the students' progress."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.checks import run_checks
from django.test import Client
from django.utils import timezone

from classroom import access, checks
from classroom.models import Classroom, JoinAttempt, Member, MemberRole, StaffAction
from lessons.models import StepProgress
from tests.unit import classes
from tests.unit.classes import CLASS_NAME, World

pytestmark = pytest.mark.django_db

PERSONAS = [
    "anonymous",
    "student",
    "other_student",
    "assistant",
    "co_instructor",
    "instructor",
    "other_instructor",
    "admin",
]
LOGIN = "login"  # anonymous: sent to the login page


def _form(w: World) -> dict[str, Any]:
    now = timezone.now()
    return {
        "name": "Renamed class",
        "size": "small",
        "starts_at": (now - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "ends_at": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"),
        "minutes_per_student": 90,
        f"lesson-{w.lesson.pk}": 1,
    }


# (action, method, path, data, answers for: student, other_student, assistant, co_instructor,
# instructor, other_instructor, admin). Anonymous is always sent to the login page.
MATRIX: list[tuple[str, str, str, Any, list[int]]] = [
    ("class page", "get", "/classes/{pk}/", None, [200, 404, 200, 200, 200, 404, 200]),
    ("edit page", "get", "/classes/{pk}/edit/", None, [404, 404, 403, 200, 200, 404, 200]),
    ("edit", "post", "/classes/{pk}/edit/", _form, [404, 404, 403, 302, 302, 404, 302]),
    (
        "add staff",
        "post",
        "/classes/{pk}/staff/",
        {"username": "oscar", "role": "assistant"},
        [404, 404, 403, 302, 302, 404, 302],
    ),
    ("delete", "post", "/classes/{pk}/delete/", {}, [404, 404, 403, 302, 302, 404, 302]),
    ("student page", "get", "/classes/{pk}/students/{student}/", None, [404, 404, 200, 200, 200, 404, 200]),
    (
        "extra time",
        "post",
        "/classes/{pk}/students/{student}/time/",
        {"minutes": 15},
        [404, 404, 302, 302, 302, 404, 302],
    ),
    ("CSV export", "get", "/classes/{pk}/results.csv", None, [404, 404, 200, 200, 200, 404, 200]),
    ("JSON export", "get", "/classes/{pk}/results.json", None, [404, 404, 200, 200, 200, 404, 200]),
    ("new class page", "get", "/classes/new/", None, [403, 403, 403, 200, 200, 200, 200]),
    ("rehearse", "post", "/classes/{pk}/rehearse/", {"students": 3}, [404, 404, 403, 302, 302, 404, 302]),
]
CASES = [
    pytest.param(
        action,
        method,
        path,
        data,
        persona,
        LOGIN if persona == "anonymous" else answers[PERSONAS.index(persona) - 1],
        id=f"{action}-{persona}",
    )
    for action, method, path, data, answers in MATRIX
    for persona in PERSONAS
]


@pytest.fixture
def w() -> World:
    return classes.world()


def _client(w: World, persona: str) -> Client:
    client = Client()
    if persona != "anonymous":
        client.force_login(w.users[persona])
    return client


@pytest.mark.parametrize(("action", "method", "path", "data", "persona", "expected"), CASES)
def test_it_answers_each_persona_as_the_matrix_says(
    w: World, action: str, method: str, path: str, data: Any, persona: str, expected: int | str
) -> None:
    StepProgress.objects.create(user=w.users["student"], step=w.steps[0], done_at=timezone.now())
    url = path.format(pk=w.classroom.pk, student=w.users["student"].pk)
    payload = data(w) if callable(data) else data
    response = (
        getattr(_client(w, persona), method)(url, payload)
        if payload is not None
        else getattr(_client(w, persona), method)(url)
    )
    body = response.content.decode()
    if expected == LOGIN:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    else:
        assert response.status_code == expected, body[:300]
    if response.status_code in (302, 403, 404) and expected != 200:
        # An outsider learns nothing: no class name, no student's name, no count.
        assert CLASS_NAME not in body
        assert "bruno" not in body
    if response.status_code in (403, 404) or expected == LOGIN:
        # ... and nothing changed.
        classroom = Classroom.objects.get(pk=w.classroom.pk)
        assert classroom.name == CLASS_NAME
        assert Member.objects.get(classroom=classroom, user=w.users["student"]).extra_minutes == 0
        assert not Member.objects.filter(classroom=classroom, user=w.users["other_student"]).exists()


def test_it_answers_a_class_that_does_not_exist_as_one_the_user_may_not_see(w: World) -> None:
    client = _client(w, "other_instructor")
    hidden = client.get(f"/classes/{w.classroom.pk}/")
    missing = client.get("/classes/999999/")
    assert hidden.status_code == missing.status_code == 404
    # The same page, but for the address in the language form's "next".
    assert _page(hidden.content).replace(f"/classes/{w.classroom.pk}/", "/classes/N/") == _page(
        missing.content
    ).replace("/classes/999999/", "/classes/N/")


def _page(content: bytes) -> str:
    """The page without its CSRF token, which differs on every answer."""
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", content.decode())


@pytest.mark.parametrize(
    ("persona", "sees"),
    [
        ("student", True),
        ("other_student", False),
        ("assistant", True),
        ("co_instructor", True),
        ("instructor", True),
        ("other_instructor", False),
        ("admin", True),
    ],
)
def test_it_lists_a_class_only_to_those_who_may_see_it(w: World, persona: str, sees: bool) -> None:
    body = _client(w, persona).get("/classes/").content.decode()
    assert (CLASS_NAME in body) is sees
    assert ("Other class" in body) is (persona in ("other_student", "other_instructor", "admin"))


def test_it_shows_instructors_only_their_own_classes_and_admins_all(w: World) -> None:
    assert list(access.classes_visible_to(w.users["instructor"])) == [w.classroom]
    assert list(access.classes_visible_to(w.users["other_instructor"])) == [w.other_class]
    assert set(access.classes_visible_to(w.users["admin"])) == {w.classroom, w.other_class}
    assert list(access.classes_visible_to(w.users["student"])) == []


def test_it_lets_staff_watch_only_students_of_their_class(w: World) -> None:
    alice, oscar = w.users["student"], w.users["other_student"]
    assert access.staff_can_watch(w.users["assistant"], w.classroom, alice)
    assert access.staff_can_watch(w.users["admin"], w.classroom, alice)
    assert not access.staff_can_watch(w.users["assistant"], w.classroom, oscar)  # not in this class
    assert not access.staff_can_watch(w.users["other_instructor"], w.classroom, alice)
    assert not access.staff_can_watch(alice, w.classroom, alice)
    assert not access.can_change(w.users["assistant"], w.classroom)
    assert access.can_help(w.users["assistant"], w.classroom)


def test_it_creates_a_class_with_its_course_in_the_order_given(w: World) -> None:
    second, _ = classes.lesson("services")
    data = _form(w) | {"name": "Friday", f"lesson-{w.lesson.pk}": 2, f"lesson-{second.pk}": 1}
    response = _client(w, "instructor").post("/classes/new/", data)
    made = Classroom.objects.get(name="Friday")
    assert response["Location"] == f"/classes/{made.pk}/"
    assert [lesson.slug for lesson in made.lessons()] == ["services", "pods"]
    assert made.owner == w.users["instructor"]
    assert Member.objects.get(classroom=made, user=w.users["instructor"]).role == MemberRole.INSTRUCTOR
    assert len(made.join_code) >= 20


def test_it_refuses_a_class_that_ends_before_it_starts_or_has_no_lesson(w: World) -> None:
    data = _form(w)
    data["ends_at"] = data["starts_at"]
    response = _client(w, "instructor").post("/classes/new/", data)
    assert response.status_code == 200
    assert "The class must end after it starts." in response.content.decode()
    data = _form(w) | {f"lesson-{w.lesson.pk}": ""}
    response = _client(w, "instructor").post("/classes/new/", data)
    assert "Choose at least one lesson for the course." in response.content.decode()
    assert Classroom.objects.count() == 2


def test_it_gives_a_student_extra_time_and_audits_it(w: World) -> None:
    response = _client(w, "assistant").post(
        f"/classes/{w.classroom.pk}/students/{w.users['student'].pk}/time/", {"minutes": 20}
    )
    assert response.status_code == 302
    member = Member.objects.get(classroom=w.classroom, user=w.users["student"])
    assert member.extra_minutes == 20
    action = StaffAction.objects.get(action="extra_time")
    assert (action.staff, action.student, action.detail) == (w.users["assistant"], w.users["student"], {"minutes": 20})


def test_it_keeps_the_students_progress_when_a_class_is_deleted(w: World) -> None:
    StepProgress.objects.create(user=w.users["student"], step=w.steps[0], done_at=timezone.now())
    response = _client(w, "instructor").post(f"/classes/{w.classroom.pk}/delete/")
    assert response.status_code == 302
    assert not Classroom.objects.filter(pk=w.classroom.pk).exists()
    assert StepProgress.objects.filter(user=w.users["student"], step=w.steps[0]).exists()
    assert StaffAction.objects.filter(action="delete_class", detail__name=CLASS_NAME).exists()


# --- Joining -----------------------------------------------------------------------------------


def test_it_joins_a_student_with_the_code_and_more_classes_too(w: World) -> None:
    newbie = classes.user("nina")
    client = Client()
    client.force_login(newbie)
    response = client.post("/classes/join/", {"code": w.classroom.join_code})
    assert response["Location"] == f"/classes/{w.classroom.pk}/"
    client.post("/classes/join/", {"code": w.other_class.join_code})
    assert set(access.classes_joined_by(newbie)) == {w.classroom, w.other_class}
    page = client.get(f"/classes/{w.classroom.pk}/").content.decode()
    assert "Step 1" in page  # the student's own page: the course's steps
    assert "oscar" not in page
    assert "astrid" not in page


def test_it_says_the_same_for_a_wrong_code_and_an_ended_class(w: World) -> None:
    Classroom.objects.filter(pk=w.other_class.pk).update(
        starts_at=timezone.now() - timedelta(days=2), ends_at=timezone.now() - timedelta(days=1)
    )
    client = Client()
    client.force_login(classes.user("nina"))
    wrong = client.post("/classes/join/", {"code": "not-a-code"})
    ended = client.post("/classes/join/", {"code": w.other_class.join_code})
    assert wrong.status_code == ended.status_code == 400
    assert "Wrong or expired code." in wrong.content.decode()
    assert _page(wrong.content).replace("not-a-code", "X") == _page(ended.content).replace(w.other_class.join_code, "X")


def test_it_opens_a_join_link_without_looking_the_code_up(w: World) -> None:
    client = Client()
    client.force_login(classes.user("nina"))
    page = client.get(f"/classes/join/{w.classroom.join_code}/").content.decode()
    assert CLASS_NAME not in page
    assert w.classroom.join_code in page  # filled in; the student presses Join
    assert not Member.objects.filter(user__username="nina").exists()


def test_it_stops_guessing_after_the_limit_even_with_the_right_code(w: World, settings: Any) -> None:
    settings.CLASS_JOIN_FAILURE_LIMIT = "3/900"
    client = Client()
    client.force_login(classes.user("mallory"))
    for guess in range(3):
        assert "Wrong or expired code." in client.post("/classes/join/", {"code": f"guess-{guess}"}).content.decode()
    refused = client.post("/classes/join/", {"code": w.classroom.join_code})
    assert refused.status_code == 400
    assert "Too many wrong codes. Try again later." in refused.content.decode()
    assert not Member.objects.filter(user__username="mallory").exists()
    # The same address with another account is held to the same limit.
    second = Client()
    second.force_login(classes.user("mallory2"))
    assert "Too many wrong codes" in second.post("/classes/join/", {"code": w.classroom.join_code}).content.decode()
    # Once the failures are older than the window, the right code works again.
    JoinAttempt.objects.update(at=timezone.now() - timedelta(seconds=901))
    assert client.post("/classes/join/", {"code": w.classroom.join_code}).status_code == 302


@pytest.mark.parametrize("value", ["ten", "10", "0/60", "10/0", "10/-5", ""])
def test_it_reports_a_bad_join_limit_in_a_system_check(settings: Any, value: str) -> None:
    settings.CLASS_JOIN_FAILURE_LIMIT = value
    assert [error.id for error in checks.check_join_failure_limit(None)] == ["classroom.E001"]


def test_it_accepts_a_good_join_limit(settings: Any) -> None:
    settings.CLASS_JOIN_FAILURE_LIMIT = "5/60"
    assert checks.check_join_failure_limit(None) == []
    assert not [m for m in run_checks() if (m.id or "").startswith("classroom.")]  # registered, and passes


# --- Results -----------------------------------------------------------------------------------


def _progress(w: World) -> User:
    """alice: step 1 done in 90 s after two wrong answers and a hint; step 2 reached and skipped.
    A second student, "=cmd", reached nothing (and has a name a spreadsheet would run)."""
    start = timezone.now() - timedelta(minutes=10)
    alice = w.users["student"]
    StepProgress.objects.create(
        user=alice,
        step=w.steps[0],
        started_at=start,
        done_at=start + timedelta(seconds=90),
        failed_checks=2,
        hints_shown=1,
    )
    StepProgress.objects.create(user=alice, step=w.steps[1], started_at=start + timedelta(seconds=90), skipped=True)
    trick = classes.user("=cmd")
    Member.objects.create(classroom=w.classroom, user=trick, role=MemberRole.STUDENT)
    # Progress in a lesson outside the course is not the class's.
    _outside, outside_steps = classes.lesson("other", steps=1)
    StepProgress.objects.create(user=alice, step=outside_steps[0], done_at=timezone.now())
    return alice


def test_it_exports_each_students_steps_as_csv(w: World) -> None:
    _progress(w)
    response = _client(w, "instructor").get(f"/classes/{w.classroom.pk}/results.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["student"], r["lesson"], r["step"]) for r in rows] == [
        ("'=cmd", "pods", "step-1"),
        ("'=cmd", "pods", "step-2"),
        ("alice", "pods", "step-1"),
        ("alice", "pods", "step-2"),
        ("bruno", "pods", "step-1"),
        ("bruno", "pods", "step-2"),
    ]
    first = rows[2]
    assert (first["seconds"], first["attempts"], first["hints"], first["skipped"]) == ("90", "2", "1", "no")
    assert first["reached_at"]
    assert first["done_at"]
    assert (rows[3]["done_at"], rows[3]["skipped"], rows[3]["seconds"]) == ("", "yes", "")
    assert rows[0]["reached_at"] == ""
    assert rows[0]["attempts"] == "0"


def test_it_exports_each_students_steps_as_json(w: World) -> None:
    _progress(w)
    data = json.loads(_client(w, "assistant").get(f"/classes/{w.classroom.pk}/results.json").content)
    assert data["class"] == CLASS_NAME
    assert data["lessons"] == ["pods"]
    assert [s["student"] for s in data["students"]] == ["=cmd", "alice", "bruno"]
    alice = data["students"][1]["steps"]
    assert alice[0] | {"reached_at": None, "done_at": None} == {
        "lesson": "pods",
        "step": "step-1",
        "reached_at": None,
        "done_at": None,
        "seconds": 90,
        "attempts": 2,
        "hints": 1,
        "skipped": False,
    }
    assert alice[1]["skipped"] is True
    assert alice[1]["done_at"] is None


def test_it_shows_staff_a_students_page_with_their_steps(w: World) -> None:
    _progress(w)
    page = (
        _client(w, "co_instructor").get(f"/classes/{w.classroom.pk}/students/{w.users['student'].pk}/").content.decode()
    )
    assert "alice" in page
    assert "Step 1" in page
    assert "Give extra time" in page


def test_it_answers_404_for_a_student_page_of_someone_not_in_the_class(w: World) -> None:
    response = _client(w, "instructor").get(f"/classes/{w.classroom.pk}/students/{w.users['other_student'].pk}/")
    assert response.status_code == 404
    assert "oscar" not in response.content.decode()


def test_it_shows_the_dashboard_page_in_chinese(w: World) -> None:
    client = _client(w, "instructor")
    client.cookies["django_language"] = "zh-hans"
    page = client.get(f"/classes/{w.classroom.pk}/").content.decode()
    assert "卡住" in page  # "Stuck groups"
