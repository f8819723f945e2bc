"""The classes' pages. Thin: each asks classroom.access who may see it, and calls plain
functions for the rest. A class that the user may not see answers 404 whether or not it exists."""

from __future__ import annotations

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from classroom import access, joining, live, rehearsal, results
from classroom.forms import ClassroomForm, ExtraTimeForm, JoinForm, StaffForm
from classroom.models import Classroom, CourseLesson, Member, MemberRole, record
from sandbox.client_address import client_address


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _visible(request: HttpRequest, pk: int) -> Classroom:
    """The class, for its staff, its students and admins; 404 for everyone else."""
    classroom = Classroom.objects.filter(pk=pk).first()
    if classroom is None or (access.role_in(request.user, classroom) is None and not access.is_admin(request.user)):
        raise Http404(_("There is no such class."))
    return classroom


def _helped(request: HttpRequest, pk: int) -> Classroom:
    """The class, for its staff and admins; 404 for everyone else (its students too)."""
    classroom = _visible(request, pk)
    if not access.can_help(request.user, classroom):
        raise Http404(_("There is no such class."))
    return classroom


def _changed(request: HttpRequest, pk: int) -> Classroom:
    """The class, for those who may change it; an assistant (who can see it) gets 403."""
    classroom = _helped(request, pk)
    if not access.can_change(request.user, classroom):
        raise PermissionDenied
    return classroom


@require_GET
@login_required
def class_list(request: HttpRequest) -> HttpResponse:
    context = {
        "teaching": access.classes_visible_to(request.user).select_related("owner"),
        "joined": access.classes_joined_by(request.user),
        "can_create": access.can_create(request.user),
    }
    return render(request, "classroom/list.html", context)


def _save(form: ClassroomForm) -> Classroom:
    with transaction.atomic():
        classroom = form.save()
        classroom.course.all().delete()
        CourseLesson.objects.bulk_create(
            CourseLesson(classroom=classroom, lesson=lesson, position=i) for i, lesson in enumerate(form.course())
        )
    return classroom


@require_http_methods(["GET", "POST"])
@login_required
def class_create(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    if not access.can_create(user):
        raise PermissionDenied
    form = ClassroomForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        form.instance.owner = user
        classroom = _save(form)
        Member.objects.create(classroom=classroom, user=user, role=MemberRole.INSTRUCTOR)
        return redirect("classroom:detail", classroom.pk)
    return render(request, "classroom/edit.html", {"form": form, "classroom": None})


@require_http_methods(["GET", "POST"])
@login_required
def class_edit(request: HttpRequest, pk: int) -> HttpResponse:
    classroom = _changed(request, pk)
    form = ClassroomForm(request.POST or None, instance=classroom)
    if request.method == "POST" and form.is_valid():
        _save(form)
        record(classroom, request.user, "edit_class")
        return redirect("classroom:detail", classroom.pk)
    staff = classroom.members.exclude(role=MemberRole.STUDENT).select_related("user")
    context = {"form": form, "classroom": classroom, "staff": staff, "staff_form": StaffForm()}
    return render(request, "classroom/edit.html", context)


@require_POST
@login_required
def class_staff(request: HttpRequest, pk: int) -> HttpResponse:
    """Add a co-instructor or assistant (or change the role of a member)."""
    classroom = _changed(request, pk)
    form = StaffForm(request.POST)
    if form.is_valid():
        user, role = form.cleaned_data["username"], form.cleaned_data["role"]
        Member.objects.update_or_create(classroom=classroom, user=user, defaults={"role": role})
        record(classroom, request.user, "add_staff", user, role=role)
        messages.info(request, _("%(name)s was added.") % {"name": user.get_username()})
    else:
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    return redirect("classroom:edit", classroom.pk)


@require_POST
@login_required
def class_delete(request: HttpRequest, pk: int) -> HttpResponse:
    classroom = _changed(request, pk)
    record(None, request.user, "delete_class", name=classroom.name, id=classroom.pk)
    classroom.delete()  # the students' StepProgress is theirs and stays
    messages.info(request, _("The class was deleted; its students keep their progress."))
    return redirect("classroom:list")


@require_GET
@login_required
def class_detail(request: HttpRequest, pk: int) -> HttpResponse:
    classroom = _visible(request, pk)
    user = _user(request)
    if access.can_help(user, classroom):
        context = {
            "classroom": classroom,
            "can_change": access.can_change(user, classroom),
            "join_url": request.build_absolute_uri(reverse("classroom:join-link", args=[classroom.join_code])),
            "lessons": [{"slug": lesson.slug, "title": lesson.localized("title")} for lesson in classroom.lessons()],
            "students": access.students(classroom).count(),
            "labels": _dashboard_labels(classroom),
        }
        return render(request, "classroom/dashboard.html", context)
    member = Member.objects.select_related("classroom").get(classroom=classroom, user=user)
    context = {"classroom": classroom, "steps": results.for_student(classroom, user), "deadline": live.deadline(member)}
    return render(request, "classroom/student.html", context)


def _dashboard_labels(classroom: Classroom) -> dict[str, str]:
    """What classroom.js says, in the page's language."""
    return {
        "student_url": reverse("classroom:student", args=[classroom.pk, 0]),
        "send_hint": _("Send a hint to this group"),
        "hint_placeholder": _("Hint for these students"),
        "students": _("students"),
        "finished": _("Finished the course"),
        "not_started": _("Not started"),
        "no_sandbox": _("No sandbox"),
        "time_up": _("Time is up"),
        "connecting": _("Connecting…"),
        "live": _("Live"),
        "lost": _("Connection lost; reconnecting…"),
        "refused": _("You may not watch this class."),
        "finished_lesson": _("finished"),
        "working": _("working on it"),
        "nobody": _("No student matches."),
    }


@require_http_methods(["GET", "POST"])
@login_required
def join(request: HttpRequest, code: str = "") -> HttpResponse:
    """The join page; a join link fills the code in. Nothing is looked up before the student
    presses Join, so a link or code reveals nothing by being opened."""
    form = JoinForm(request.POST or None, initial={"code": code})
    if request.method == "POST" and form.is_valid():
        outcome = joining.join(_user(request), form.cleaned_data["code"], client_address(request) or None)
        if outcome.classroom is not None:
            return redirect("classroom:detail", outcome.classroom.pk)
        form.add_error("code", outcome.error)
    return render(request, "classroom/join.html", {"form": form}, status=400 if form.errors else 200)


def _student(classroom: Classroom, user_id: int) -> Member:
    member = (
        Member.objects.filter(classroom=classroom, user_id=user_id, role=MemberRole.STUDENT)
        .select_related("user", "classroom")
        .first()
    )
    if member is None:
        raise Http404(_("There is no such student in this class."))
    return member


@require_GET
@login_required
def student_page(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    classroom = _helped(request, pk)
    member = _student(classroom, user_id)
    context = {
        "classroom": classroom,
        "member": member,
        "steps": results.for_student(classroom, member.user),
        "deadline": live.deadline(member),
        "form": ExtraTimeForm(),
    }
    return render(request, "classroom/student_detail.html", context)


@require_POST
@login_required
def student_time(request: HttpRequest, pk: int, user_id: int) -> HttpResponse:
    """Give a student extra minutes (accommodations): staff, assistants included."""
    classroom = _helped(request, pk)
    member = _student(classroom, user_id)
    form = ExtraTimeForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(str(e) for errors in form.errors.values() for e in errors))
    else:
        minutes = form.cleaned_data["minutes"]
        Member.objects.filter(pk=member.pk).update(extra_minutes=member.extra_minutes + minutes)
        record(classroom, request.user, "extra_time", member.user, minutes=minutes)
        messages.info(request, _("%(minutes)s minutes were added.") % {"minutes": minutes})
    return redirect("classroom:student", classroom.pk, user_id)


def _filename(classroom: Classroom, ext: str) -> str:
    return f"class-{classroom.pk}-{slugify(classroom.name) or 'results'}.{ext}"


@require_GET
@login_required
def export_csv(request: HttpRequest, pk: int) -> HttpResponse:
    classroom = _helped(request, pk)
    response = HttpResponse(results.as_csv(classroom), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(classroom, "csv")}"'
    return response


@require_GET
@login_required
def export_json(request: HttpRequest, pk: int) -> HttpResponse:
    classroom = _helped(request, pk)
    body = json.dumps(results.as_json(classroom), ensure_ascii=False, indent=2)
    response = HttpResponse(body, content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename(classroom, "json")}"'
    return response


@require_POST
@login_required
def rehearse(request: HttpRequest, pk: int) -> HttpResponse:
    """Start a rehearsal on a worker (those who may change the class only)."""
    classroom = _changed(request, pk)
    try:
        count = int(request.POST.get("students", ""))
        started = rehearsal.request(classroom, count)
    except ValueError as exc:
        messages.error(request, _("The rehearsal was not started: %(reason)s") % {"reason": _rehearsal_reason(exc)})
        return redirect("classroom:detail", pk=classroom.pk)
    if started:
        record(classroom, request.user, "rehearse", students=count)
        messages.success(request, _("The rehearsal started; its report appears here when it ends."))
    else:
        messages.info(request, _("A rehearsal of this class is already running."))
    return redirect("classroom:detail", pk=classroom.pk)


def _rehearsal_reason(exc: ValueError) -> str:
    text = str(exc)
    if "no lessons" in text:
        return _("the class has no lessons yet; add its course first.")
    return _("give a number of simulated students from 1 to 500.")
