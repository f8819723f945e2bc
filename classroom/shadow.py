"""Shadowing a student (issue 11 part 3), the staff's side: a read-only page with the student's
terminal as it happens (classroom/shadow_socket.py carries it), the live view of their namespace
and their progress, and the few things staff may do from there: suggest a line (it only fills
the student's prompt), reset or extend the student's sandbox, and reset a step. Staff never run
anything in the student's terminal. Every action is audited (classroom.models.StaffAction).

Nothing here deletes a namespace: a reset is handed to a worker (sandbox.api.reset), as the
student's own reset is."""

from __future__ import annotations

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from classroom import access, results
from classroom.models import Classroom, Member, MemberRole, record
from lessons import engine
from lessons.models import Lesson
from sandbox import api
from sandbox.models import Sandbox
from sandbox.terminal import shadow
from sandbox.terminal.views import page_labels

EXTEND_HOURS = (1, 2, 4)


def watchable(staff: User, pk: int, user_id: int) -> tuple[Classroom, Member] | None:
    """The class and the student's membership, if `staff` may watch this student there. One
    answer for every refusal (no class, not staff, not a student of it), so an outsider learns
    nothing about who is in which class."""
    classroom = Classroom.objects.filter(pk=pk).first()
    member = (
        Member.objects.filter(classroom_id=pk, user_id=user_id, role=MemberRole.STUDENT)
        .select_related("user", "classroom")
        .first()
    )
    if classroom is None or member is None or not access.staff_can_watch(staff, classroom, member.user):
        return None
    return classroom, member


def display_name(user: User) -> str:
    """How the student sees a watcher named."""
    return user.get_full_name() or user.get_username()


def _watched(request: HttpRequest, pk: int, user_id: int) -> tuple[Classroom, Member]:
    if not isinstance(request.user, User):
        raise Http404(_("There is no such student in this class."))
    found = watchable(request.user, pk, user_id)
    if found is None:
        raise Http404(_("There is no such student in this class."))
    return found


@require_GET
@login_required
def watch(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    classroom, member = _watched(request, pk, user_id)
    sandbox = api.current(member.user)
    labels = page_labels() | {
        "connecting": _("Connecting to the student's terminal…"),
        "ended": _("You can no longer watch this student."),
        "suggestSent": _("Suggested. It runs only if the student presses Enter."),
    }
    context = {
        "classroom": classroom,
        "member": member,
        "sandbox": sandbox,
        "steps": results.for_student(classroom, member.user),
        "extend_hours": EXTEND_HOURS,
        "terminal_labels": labels,
    }
    return render(request, "classroom/watch.html", context)


@require_POST
@login_required
def act(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    """One staff action on the watched student: reset_sandbox, extend_sandbox or reset_step."""
    classroom, member = _watched(request, pk, user_id)
    staff, student = request.user, member.user
    assert isinstance(staff, User)  # noqa: S101  (_watched let in a signed-in user only)
    action = request.POST.get("action", "")
    sandbox = api.current(student)
    if action == "reset_sandbox":
        if sandbox is None:
            messages.error(request, _("The student has no sandbox to reset."))
        else:
            with transaction.atomic():
                started = api.reset(sandbox)  # a worker empties it; nothing is deleted here
            record(classroom, staff, "reset_sandbox", student, sandbox=sandbox.pk, started=started)
            if started:
                messages.info(request, _("The student's sandbox is being reset."))
            else:
                messages.error(request, _("Only a ready sandbox can be reset; try again when it is ready."))
    elif action == "extend_sandbox":
        hours = _int(request.POST.get("hours"))
        if hours not in EXTEND_HOURS:
            messages.error(request, _("Choose how many hours to add."))
        elif sandbox is None:
            messages.error(request, _("The student has no sandbox to extend."))
        else:
            api.extend(sandbox, hours)
            record(classroom, staff, "extend_sandbox", student, sandbox=sandbox.pk, hours=hours)
            messages.info(request, _("The student's sandbox was extended by %(hours)d h.") % {"hours": hours})
    elif action == "reset_step":
        _reset_step(request, classroom, staff, student, sandbox)
    else:
        messages.error(request, _("Unknown action."))
    return redirect("classroom:watch", classroom.pk, student.pk)


def _reset_step(
    request: HttpRequest, classroom: Classroom, staff: User, student: User, sandbox: Sandbox | None
) -> None:
    lesson_slug, key = request.POST.get("lesson", ""), request.POST.get("step", "")
    lesson = Lesson.objects.filter(slug=lesson_slug, pk__in=classroom.course.values("lesson_id")).first()
    if lesson is None or sandbox is None or not lesson.steps.filter(key=key).exists():
        messages.error(request, _("There is no such step in this class's course, or the student has no sandbox."))
        return
    undo = engine.reset_step(student, lesson, key, sandbox)
    record(classroom, staff, "reset_step", student, lesson=lesson.slug, step=key, undo=undo)
    if undo:
        # The step's undo lines are the student's to run: they are suggested, never run here.
        try:
            line = shadow.clean_suggestion(" && ".join(undo))
        except shadow.BadSuggestion:  # too long for one prompt: the step is reset all the same
            messages.info(request, _("The step was reset."))
            return
        async_to_sync(shadow.suggest)(student.pk, line, display_name(staff), get_channel_layer())
        messages.info(request, _("The step was reset; its undo lines wait in the student's prompt."))
    else:
        messages.info(request, _("The step was reset."))


def _int(value: object) -> int | None:
    try:
        return int(str(value))
    except ValueError:
        return None
