"""The live class dashboard over Channels (real Redis channel layer, real PostgreSQL): who may
open ws/class/<pk>/, the roster and stuck groups it shows, that a change is pushed without
asking, and that a hint to a stuck group reaches those students' lesson panel."""

from __future__ import annotations

from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone, translation

from classroom import live
from classroom.models import Member, MemberRole, StaffAction
from lessons import engine
from lessons.models import StepProgress
from sandbox.models import Sandbox, State
from sandbox.terminal.models import CommandAudit
from tests.conftest import SAME_ORIGIN, run_async
from tests.unit import classes
from tests.unit.classes import CLASS_NAME, World

pytestmark = pytest.mark.django_db(transaction=True)

SELECTOR = "Service/petclinic: spec.selector is app=petclinic, expected version=1.0.1."


def cookie_for(user: User) -> bytes:
    client = Client()
    client.force_login(user)
    return f"sessionid={client.cookies['sessionid'].value}".encode()


async def open_socket(path: str, user: User | None) -> tuple[WebsocketCommunicator, bool, Any]:
    from config.asgi import application

    headers = list(SAME_ORIGIN)
    if user is not None:
        headers.append((b"cookie", await sync_to_async(cookie_for)(user)))
    socket = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await socket.connect(timeout=10)
    return socket, connected, code


async def snapshot(socket: WebsocketCommunicator) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = await socket.receive_json_from(timeout=10)
        if message["type"] == "class.snapshot":
            return message


def failing(user: User, w: World, message: str) -> None:
    StepProgress.objects.update_or_create(
        user=user, step=w.steps[0], defaults={"failures": [message], "updated_at": timezone.now()}
    )


@pytest.fixture
def w() -> World:
    return classes.world()


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("anonymous", False),
        ("student", False),
        ("other_student", False),
        ("assistant", True),
        ("co_instructor", True),
        ("instructor", True),
        ("other_instructor", False),
        ("admin", True),
    ],
)
def test_it_lets_only_the_class_staff_open_the_dashboard_socket(w: World, persona: str, allowed: bool) -> None:
    user = None if persona == "anonymous" else w.users[persona]

    async def scenario() -> None:
        socket, connected, code = await open_socket(f"/ws/class/{w.classroom.pk}/", user)
        if allowed:
            assert connected
            picture = await snapshot(socket)
            assert sorted(row["name"] for row in picture["rows"]) == ["alice", "bruno"]
            await socket.disconnect()
        else:
            # Refused with the same code whether the class exists or not: nothing learned.
            assert (connected, code) == (False, 4404)
            await socket.wait(timeout=5)

    run_async(scenario)


def test_it_refuses_a_class_that_does_not_exist_the_same_way(w: World) -> None:
    async def scenario() -> None:
        socket, connected, code = await open_socket("/ws/class/999999/", w.users["instructor"])
        assert (connected, code) == (False, 4404)
        await socket.wait(timeout=5)

    run_async(scenario)


def test_it_builds_one_row_per_student_and_groups_the_stuck(w: World) -> None:
    alice, bruno = w.users["student"], User.objects.get(username="bruno")
    carla = classes.user("carla")
    Member.objects.create(classroom=w.classroom, user=carla, role=MemberRole.STUDENT)
    failing(alice, w, SELECTOR)
    failing(bruno, w, SELECTOR)
    failing(carla, w, "Deployment/petclinic does not exist yet in namespace x.")
    StepProgress.objects.filter(user=alice).update(hints_shown=2)
    for line in ["kubectl get pods", "kubectl get svc", "kubectl describe svc petclinic", "kubectl get ep"]:
        CommandAudit.objects.create(user=alice, line=line, outcome="ran", started_at=timezone.now())
    roster = {row["name"]: row for row in live.rows(w.classroom)}
    assert set(roster) == {"alice", "bruno", "carla"}
    row = roster["alice"]
    assert (row["lesson"], row["step"], row["done"], row["total"], row["hints"]) == ("pods", "step-1", 0, 2, 2)
    assert row["failure"] == SELECTOR
    assert row["lines"] == [
        "kubectl get svc",
        "kubectl describe svc petclinic",
        "kubectl get ep",
    ]  # the last 3, oldest first
    assert row["sandbox"] == ""  # no sandbox yet
    groups = live.stuck_groups(list(roster.values()))
    assert [(g["count"], g["message"], g["step"]) for g in groups] == [(2, SELECTOR, "step-1")]
    assert sorted(groups[0]["user_ids"]) == sorted([alice.pk, bruno.pk])


def test_the_same_wrong_answer_groups_students_across_namespaces_and_languages(w: World) -> None:
    # The checks' own messages name the student's namespace and speak the student's language:
    # alice (English) and bruno (Chinese) missing the same Deployment are still one group.
    alice, bruno = w.users["student"], User.objects.get(username="bruno")
    step = w.steps[0]
    step.checks = [{"exists": {"kind": "Deployment", "name": "petclinic"}}]
    step.save()
    for user, language in ((alice, "en"), (bruno, "zh-hans")):
        sandbox = Sandbox.objects.create(owner=user, namespace=f"sbt-{user.username}", state=State.READY)
        with translation.override(language):
            engine.check(user, w.lesson, sandbox, {("Deployment", sandbox.namespace): []})
    roster = live.rows(w.classroom)
    failures = {row["name"]: row["failure"] for row in roster}
    assert "sbt-alice" in failures["alice"]
    assert "sbt-bruno" in failures["bruno"]
    assert failures["alice"].startswith("Deployment petclinic does not exist")
    assert not failures["bruno"].startswith("Deployment petclinic does not exist")  # said in Chinese
    with translation.override("en"):
        english = live.stuck_groups(roster)
    assert [(g["count"], g["message"]) for g in english] == [
        (2, "Deployment petclinic does not exist yet in namespace <namespace>.")
    ]
    assert sorted(english[0]["user_ids"]) == sorted([alice.pk, bruno.pk])
    with translation.override("zh-hans"):
        chinese = live.stuck_groups(roster)
    # The Chinese dashboard reads the group in Chinese (bruno's wording, namespace hidden).
    assert [g["count"] for g in chinese] == [2]
    assert chinese[0]["message"] == failures["bruno"].replace("sbt-bruno", "<namespace>")
    assert chinese[0]["key"] == english[0]["key"]  # a hint to it reaches the same students


def test_it_moves_a_student_on_to_the_next_step_when_one_is_done(w: World) -> None:
    alice = w.users["student"]
    StepProgress.objects.create(user=alice, step=w.steps[0], done_at=timezone.now())
    row = next(r for r in live.rows(w.classroom) if r["name"] == "alice")
    assert (row["step"], row["done"], row["done_by_lesson"]) == ("step-2", 1, {"pods": 1})
    StepProgress.objects.create(user=alice, step=w.steps[1], done_at=timezone.now())
    row = next(r for r in live.rows(w.classroom) if r["name"] == "alice")
    assert (row["step"], row["done"]) == ("", 2)  # finished the course
    with translation.override("en"):
        summary = live.lesson_summary(w.classroom, live.rows(w.classroom))
    assert summary == [{"lesson": "pods", "title": "Pods", "steps": 2, "finished": 1, "working": 1}]


def test_it_pushes_a_students_change_to_the_dashboard(w: World) -> None:
    alice = w.users["student"]

    async def scenario() -> None:
        socket, connected, _ = await open_socket(f"/ws/class/{w.classroom.pk}/", w.users["instructor"])
        assert connected
        first = await snapshot(socket)
        assert next(r for r in first["rows"] if r["name"] == "alice")["failure"] == ""
        # The lesson engine saves a failed check: the dashboard hears of it, nobody asks.
        await sync_to_async(failing)(alice, w, SELECTOR)
        pushed = await snapshot(socket)
        assert next(r for r in pushed["rows"] if r["name"] == "alice")["failure"] == SELECTOR
        # A line typed comes the same way.
        await sync_to_async(CommandAudit.objects.create)(
            user=alice, line="kubectl get svc", outcome="ran", started_at=timezone.now()
        )
        pushed = await snapshot(socket)
        assert next(r for r in pushed["rows"] if r["name"] == "alice")["lines"] == ["kubectl get svc"]
        await socket.disconnect()

    run_async(scenario)


def test_it_does_not_push_another_classs_changes(w: World) -> None:
    async def scenario() -> None:
        socket, connected, _ = await open_socket(f"/ws/class/{w.classroom.pk}/", w.users["instructor"])
        assert connected
        await snapshot(socket)
        await sync_to_async(failing)(w.users["other_student"], w, SELECTOR)
        assert await socket.receive_nothing(timeout=1)
        await socket.disconnect()

    run_async(scenario)


def test_it_sends_a_hint_to_the_stuck_group_as_text(w: World) -> None:
    alice = w.users["student"]
    bruno = User.objects.get(username="bruno")
    failing(alice, w, SELECTOR)
    failing(bruno, w, SELECTOR)
    hint = "<script>alert(1)</script> Check the selector's labels"

    async def scenario() -> None:
        page, connected, _ = await open_socket("/ws/sandbox/", alice)
        assert connected
        assert (await page.receive_json_from(timeout=10))["type"] == "hello"
        dashboard, connected, _ = await open_socket(f"/ws/class/{w.classroom.pk}/", w.users["assistant"])
        assert connected
        picture = await snapshot(dashboard)
        (group,) = picture["stuck"]
        await dashboard.send_json_to({"type": "hint", "key": group["key"], "text": hint})
        while (answer := await dashboard.receive_json_from(timeout=10))["type"] == "class.snapshot":
            pass
        assert answer["type"] == "class.hint_sent"
        assert "2" in answer["message"]
        received = await page.receive_json_from(timeout=10)
        # The text as typed: the page sets it as text (lesson.js), so the markup stays inert.
        assert received == {"type": "class.hint", "text": hint, "by": "astrid", "lesson": "pods", "step": "step-1"}
        await dashboard.send_json_to({"type": "hint", "key": "no-such-group", "text": "hello"})
        while (answer := await dashboard.receive_json_from(timeout=10))["type"] == "class.snapshot":
            pass
        assert answer == {"type": "error", "message": "Nobody is stuck there any more."}
        await dashboard.send_json_to({"type": "hint", "key": group["key"], "text": "x" * 501})
        while (answer := await dashboard.receive_json_from(timeout=10))["type"] == "class.snapshot":
            pass
        assert answer["type"] == "error"
        await dashboard.disconnect()
        await page.disconnect()

    run_async(scenario)
    action = StaffAction.objects.get(action="hint")
    assert (action.staff.username, action.detail["text"]) == ("astrid", hint)  # type: ignore[union-attr]
    assert action.classroom.name == CLASS_NAME  # type: ignore[union-attr]
