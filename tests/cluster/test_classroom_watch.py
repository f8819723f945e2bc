"""Shadowing a student from the class (classroom/shadow.py, classroom/shadow_socket.py), end to
end: real sockets through the ASGI app, real Redis, real kubectl in a real sandbox. Staff watch
without taking over; outsiders learn nothing; every staff action is audited."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from classroom.models import Member, MemberRole, StaffAction
from config.asgi import application
from lessons.models import StepProgress
from sandbox.models import Sandbox
from sandbox.terminal.handlers import TerminalHandler
from sandbox.terminal.models import CommandAudit
from tests.cluster.test_terminal_shadow import no_earlier_scrollback
from tests.cluster.test_terminal_socket import connect, cookie_for, run
from tests.conftest import SAME_ORIGIN, run_async
from tests.unit import classes

__all__ = ["no_earlier_scrollback"]  # an autouse fixture, imported for its effect

pytestmark = pytest.mark.django_db(transaction=True)

MakeSandbox = Callable[..., tuple[Sandbox, str]]
FORBIDDEN = "kubectl get pods --kubeconfig=/etc/kubernetes/admin.conf"


@pytest.fixture
def watched(make_sandbox: MakeSandbox) -> tuple[classes.World, User, Sandbox]:
    """The class world, and a student of the class with a real sandbox."""
    world = classes.world()
    sandbox, _ = make_sandbox()
    student = User.objects.get(sandboxes=sandbox)
    Member.objects.create(classroom=world.classroom, user=student, role=MemberRole.STUDENT)
    return world, student, sandbox


def watch_path(world: classes.World, student: User) -> str:
    return f"/ws/class/{world.classroom.pk}/watch/{student.pk}/"


async def open_watch(user: User | None, path: str) -> tuple[WebsocketCommunicator, bool, int | None]:
    headers = list(SAME_ORIGIN)
    if user is not None:
        headers.append((b"cookie", await sync_to_async(cookie_for)(user)))
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, code = await communicator.connect(timeout=10)
    return communicator, connected, code


async def watch(user: User, path: str) -> tuple[WebsocketCommunicator, dict[str, Any]]:
    communicator, connected, code = await open_watch(user, path)
    assert connected, code
    hello = await next_of(communicator, "shadow.hello")
    return communicator, hello


async def next_of(communicator: WebsocketCommunicator, kind: str, timeout: float = 15) -> dict[str, Any]:
    while True:
        message: dict[str, Any] = await communicator.receive_json_from(timeout=timeout)
        if message["type"] == kind:
            return message


async def output_until(communicator: WebsocketCommunicator, text: str, timeout: float = 30) -> str:
    seen = ""
    async with asyncio.timeout(timeout):
        while text not in seen:
            message = await communicator.receive_json_from(timeout=timeout)
            if message["type"] == "terminal.output":
                seen += message["data"]
    return seen


def test_staff_see_the_scrollback_then_the_output_as_it_happens_and_the_student_sees_them(
    watched: tuple[classes.World, User, Sandbox],
) -> None:
    world, student, _ = watched
    path = watch_path(world, student)

    async def scenario() -> None:
        page = await connect(student)
        _, status = await run(page, "echo before-anyone-watched")
        assert status == 0
        ines, hello = await watch(world.users["instructor"], path)
        assert "echo before-anyone-watched\r\nbefore-anyone-watched" in hello["scrollback"]
        assert hello["student"] == student.get_username()
        assert [step["step"] for step in hello["steps"]] == ["step-1", "step-2"]
        assert (await next_of(page, "shadow.watchers"))["names"] == ["ines"]
        # Any number of staff at once: the assistant too.
        astrid, _ = await watch(world.users["assistant"], path)
        assert (await next_of(page, "shadow.watchers"))["names"] == ["astrid", "ines"]
        _, status = await run(page, "echo while-watched")
        for watcher in (ines, astrid):
            assert "while-watched\r\n" in await output_until(watcher, "while-watched\r\n")
        await astrid.disconnect()
        assert (await next_of(page, "shadow.watchers"))["names"] == ["ines"]
        await ines.disconnect()
        assert (await next_of(page, "shadow.watchers"))["names"] == []
        await page.disconnect()

    run_async(scenario)
    watches = StaffAction.objects.filter(action="watch", student=student, classroom=world.classroom)
    assert sorted(watches.values_list("staff__username", flat=True)) == ["astrid", "ines"]


def test_a_watcher_neither_types_in_nor_resizes_the_students_terminal(
    watched: tuple[classes.World, User, Sandbox],
) -> None:
    world, student, sandbox = watched

    async def scenario() -> None:
        page = await connect(student)
        await page.send_json_to({"type": "terminal.resize", "cols": 100, "rows": 30})
        _, status = await run(page, "echo ready")
        assert status == 0
        ines, _ = await watch(world.users["instructor"], watch_path(world, student))
        await next_of(page, "shadow.watchers")
        for message in (
            {"type": "terminal.run", "line": "echo typed-by-staff"},
            {"type": "terminal.input", "data": "echo typed-by-staff\r"},
            {"type": "terminal.resize", "cols": 20, "rows": 5},
            {"type": "terminal.interrupt"},
        ):
            await ines.send_json_to(message)
            answer = await next_of(ines, "error")
            assert "read-only" in answer["message"]
        # The student's socket heard nothing of it, and their terminal keeps its size.
        assert await page.receive_nothing(timeout=1)
        students_handlers = [
            o for o in gc.get_objects() if isinstance(o, TerminalHandler) and o.socket.user.pk == student.pk
        ]
        assert students_handlers
        assert all(handler.size == (100, 30) for handler in students_handlers)
        await ines.disconnect()
        await page.disconnect()

    run_async(scenario)
    assert not CommandAudit.objects.filter(sandbox=sandbox, line__contains="typed-by-staff").exists()


def test_a_suggestion_reaches_the_prompt_and_runs_only_through_the_students_own_policy(
    watched: tuple[classes.World, User, Sandbox],
) -> None:
    world, student, sandbox = watched

    async def scenario() -> None:
        page = await connect(student)
        ines, _ = await watch(world.users["instructor"], watch_path(world, student))
        await next_of(page, "shadow.watchers")
        await ines.send_json_to({"type": "suggest", "line": "kubectl get pods\rkubectl delete pods --all"})
        assert "control characters" in (await next_of(ines, "error"))["message"]
        await ines.send_json_to({"type": "suggest", "line": FORBIDDEN})
        assert (await next_of(ines, "suggest.sent"))["line"] == FORBIDDEN
        suggestion = await next_of(page, "terminal.suggest")
        assert suggestion == {"type": "terminal.suggest", "line": FORBIDDEN, "by": "ines"}
        await asyncio.sleep(1)
        assert not await CommandAudit.objects.filter(sandbox=sandbox).aexists()  # nothing ran
        # The student presses Enter: refused as the same line typed is, and the watcher sees it.
        output, status = await run(page, suggestion["line"])
        assert status == 2
        assert "your own sandbox credentials" in output
        assert "your own sandbox credentials" in await output_until(ines, "your own sandbox credentials")
        await ines.disconnect()
        await page.disconnect()

    run_async(scenario)
    audit = CommandAudit.objects.get(sandbox=sandbox)
    assert (audit.line, audit.outcome, audit.user_id) == (FORBIDDEN, "denied", student.pk)
    suggested = StaffAction.objects.get(action="suggest")
    assert (suggested.staff, suggested.student, suggested.detail) == (
        world.users["instructor"],
        student,
        {"line": FORBIDDEN},
    )


def test_outsiders_cannot_watch_and_learn_no_names(watched: tuple[classes.World, User, Sandbox]) -> None:
    world, student, _ = watched
    users = world.users
    other_student = users["other_student"]
    refused = [
        (None, watch_path(world, student)),  # anonymous
        (users["other_instructor"], watch_path(world, student)),
        (users["other_student"], watch_path(world, student)),
        (student, watch_path(world, student)),  # the student themself is not staff
        (users["instructor"], f"/ws/class/{world.classroom.pk}/watch/{other_student.pk}/"),  # not in this class
        (users["instructor"], f"/ws/class/{world.classroom.pk}/watch/{users['assistant'].pk}/"),  # staff, not a student
        (users["instructor"], f"/ws/class/{world.other_class.pk}/watch/{other_student.pk}/"),  # not her class
        (users["instructor"], f"/ws/class/999999/watch/{student.pk}/"),
    ]

    async def scenario() -> None:
        page = await connect(student)
        for user, path in refused:
            _, connected, code = await open_watch(user, path)
            assert (connected, code) == (False, 4404), (user, path)
        # The admin may (admins see every class).
        admin, _ = await watch(users["admin"], watch_path(world, student))
        assert (await next_of(page, "shadow.watchers"))["names"] == ["ada"]
        await admin.disconnect()
        await page.disconnect()

    run_async(scenario)
    client = Client()
    client.force_login(users["other_instructor"])
    page_url = reverse("classroom:watch", args=[world.classroom.pk, student.pk])
    answer = client.get(page_url)
    assert answer.status_code == 404
    assert student.get_username() not in answer.content.decode()
    posted = client.post(
        reverse("classroom:watch-act", args=[world.classroom.pk, student.pk]), {"action": "reset_sandbox"}
    )
    assert posted.status_code == 404
    anonymous = Client().get(page_url)
    assert anonymous.status_code == 302  # to the sign-in page
    assert set(StaffAction.objects.values_list("action", flat=True)) == {"watch"}  # the admin's only


def test_staff_reset_and_extend_the_sandbox_and_reset_a_step_all_audited(
    watched: tuple[classes.World, User, Sandbox],
) -> None:
    world, student, sandbox = watched
    step = world.steps[0]
    step.undo = ["kubectl delete deployment web --ignore-not-found"]
    step.save(update_fields=["undo"])
    StepProgress.objects.create(user=student, step=step)
    StepProgress.objects.create(user=student, step=world.steps[1])
    client = Client()
    client.force_login(world.users["assistant"])  # an assistant helps: these are hers to do
    act = reverse("classroom:watch-act", args=[world.classroom.pk, student.pk])
    page = client.get(reverse("classroom:watch", args=[world.classroom.pk, student.pk]))
    assert page.status_code == 200
    assert sandbox.namespace in page.content.decode()

    before = Sandbox.objects.get(pk=sandbox.pk).expires_at
    assert client.post(act, {"action": "extend_sandbox", "hours": "2"}).status_code == 302
    after = Sandbox.objects.get(pk=sandbox.pk).expires_at
    assert after is not None
    assert after >= (before or after) + timedelta(hours=2) - timedelta(seconds=5)
    assert client.post(act, {"action": "extend_sandbox", "hours": "999"}).status_code == 302  # refused
    assert Sandbox.objects.get(pk=sandbox.pk).expires_at == after

    suggestions: list[dict[str, Any]] = []

    async def reset_step_while_the_student_looks() -> None:
        student_page = await connect(student)
        await sync_to_async(client.post)(act, {"action": "reset_step", "lesson": world.lesson.slug, "step": step.key})
        suggestions.append(await next_of(student_page, "terminal.suggest"))
        await student_page.disconnect()

    run_async(reset_step_while_the_student_looks)
    assert suggestions == [{"type": "terminal.suggest", "line": step.undo[0], "by": "astrid"}]
    assert not StepProgress.objects.filter(user=student).exists()  # the step and the ones after it

    assert client.post(act, {"action": "reset_sandbox"}).status_code == 302
    # Handed to a worker (nobody runs one here): nothing was deleted while the request waited.
    assert Sandbox.objects.get(pk=sandbox.pk).state == "resetting"
    assert client.post(act, {"action": "explode"}).status_code == 302

    actions = list(StaffAction.objects.order_by("at", "id").values_list("action", "staff__username", "student_id"))
    assert actions == [
        ("extend_sandbox", "astrid", student.pk),
        ("reset_step", "astrid", student.pk),
        ("reset_sandbox", "astrid", student.pk),
    ]
    assert StaffAction.objects.get(action="extend_sandbox").detail == {"sandbox": sandbox.pk, "hours": 2}
