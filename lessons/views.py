from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from lessons import engine, loader, markers, templating
from lessons.models import Lesson
from sandbox import api, k8s
from sandbox.models import Sandbox, State
from sandbox.terminal.views import page_labels
from sandbox.too_many import with_retry_after


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def _lesson(slug: str) -> Lesson:
    lesson = Lesson.objects.filter(slug=slug, active=True).first()
    if lesson is None:
        raise Http404(_("There is no lesson %(slug)s.") % {"slug": slug})
    return lesson


@require_GET
@login_required
def lesson_list(request: HttpRequest) -> HttpResponse:
    loader.reload_if_changed()
    done = engine.completed_counts(_user(request))
    lessons = [
        {
            "slug": lesson.slug,
            "position": lesson.position,
            "title": lesson.localized("title"),
            "summary": lesson.localized("summary"),
            "minutes": lesson.minutes,
            "difficulty": lesson.difficulty,
            "steps": lesson.step_count,
            "done": done.get(lesson.pk, 0),
        }
        for lesson in Lesson.objects.filter(active=True).annotate(step_count=Count("steps"))
    ]
    return render(request, "lessons/list.html", {"lessons": lessons})


def _placeholder_context(sandbox: Sandbox | None) -> dict[str, Any]:
    if sandbox is not None:
        return engine.context(sandbox)
    # Before the sandbox exists the text still reads well; the values appear once it does.
    return {"namespace": _("<your namespace>"), "node_port": _("<your NodePort>"), "registry": ""}


@require_GET
@login_required
def lesson_page(request: HttpRequest, slug: str) -> HttpResponse:
    loader.reload_if_changed()
    lesson = _lesson(slug)
    user = _user(request)
    sandbox = api.current(user)
    ctx = _placeholder_context(sandbox)
    button_labels = {"run": _("Run"), "copy": _("Copy"), "open": _("Open in the editor")}
    steps = [
        {
            "key": step.key,
            "number": number,
            "title": templating.render(step.localized("title"), ctx),
            "html": markers.render(templating.render(step.localized("body"), ctx), button_labels),
            "has_hints": bool(step.hints),
            "has_undo": bool(step.undo),
        }
        for number, step in enumerate(lesson.steps.all(), start=1)
    ]
    needs = lesson.needs or {}
    labels = page_labels() | {
        "done": _("Done"),
        "skipped": _("Skipped (solution run)"),
        "current": _("Your turn"),
        "pending": _("Later"),
        "complete": _("Lesson complete. Well done!"),
        "stepDone": _("Step complete: %s"),
        "confirmReset": _("Start the lesson again? This empties your namespace."),
        "copied": _("Copied"),
        "checking": _("Checking…"),
        "hintFrom": _("A hint from %s:"),
    }
    context = {
        "lesson": lesson,
        "title": lesson.localized("title"),
        "summary": lesson.localized("summary"),
        "steps": steps,
        "fits": sandbox is None or engine.fits(lesson, sandbox),
        "has_sandbox": sandbox is not None,
        "extra_namespaces": [f"{ctx['namespace']}-{suffix}" for suffix in needs.get("extra_namespaces") or []],
        "terminal_labels": labels,
        "start_url": reverse("lessons:start", args=[lesson.slug]),
    }
    return render(request, "lessons/lesson.html", context)


@require_POST
@login_required
def lesson_start(request: HttpRequest, slug: str) -> HttpResponse:
    """Start the lesson: a sandbox that fits it (replacing one that does not, if asked) with the
    lesson's files. JSON for the page's script, a redirect for a plain form."""
    lesson = _lesson(slug)
    wants_json = "application/json" in request.headers.get("Accept", "")
    try:
        # No transaction around a replacement: destroying the old sandbox is not undone by a rollback.
        sandbox, fits = engine.begin(_user(request), lesson, replace=request.POST.get("replace") == "1")
    except api.StartRefused as refusal:
        if wants_json:
            return with_retry_after(JsonResponse(refusal.as_status()), refusal.retry_after)
        # The plain form (replacing a sandbox): a page that says why, with the way back.
        context = {"message": refusal.message, "back_url": reverse("lessons:detail", args=[lesson.slug])}
        return with_retry_after(render(request, "sandbox/refused.html", context), refusal.retry_after)
    except Exception as exc:
        if not (k8s.is_transient(exc) or isinstance(exc, k8s.ApiException | RuntimeError)):
            raise
        message = _("The cluster could not be reached. Try again in a minute.")
        if wants_json:
            return JsonResponse({"state": "error", "error": message}, status=503)
        raise
    if not wants_json:
        return redirect("lessons:detail", slug=lesson.slug)
    if sandbox is None or not fits:
        return JsonResponse({"state": "error", "error": _("Your sandbox does not fit this lesson.")}, status=409)
    api.touch(sandbox)
    return JsonResponse(sandbox.as_status(), status=202 if sandbox.state != State.READY else 200)
