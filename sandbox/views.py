from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET, require_POST

from sandbox import admission, k8s, lifecycle
from sandbox.models import State
from sandbox.too_many import with_retry_after


def home(request: HttpRequest) -> HttpResponse:
    return redirect("lessons:list" if request.user.is_authenticated else "login")


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness only: says the web process answers. Cluster health is `manage.py cluster status`."""
    return JsonResponse({"ok": True})


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):  # @login_required has already sent anonymous users away
        raise PermissionDenied
    return request.user


@require_GET
@login_required
def sandbox_status(request: HttpRequest) -> JsonResponse:
    user = _user(request)
    sandbox = lifecycle.live_sandbox(user)
    if sandbox is None:
        # A student in line: this poll is how they say they are still there (and may find it
        # is their turn, in which case the sandbox exists afterwards).
        waiting = admission.waiting_status(user)
        if waiting is not None:
            return JsonResponse(waiting)
        sandbox = lifecycle.live_sandbox(user)
    if sandbox is None:
        return JsonResponse({"state": "none"})
    return JsonResponse(sandbox.as_status())


def refused(refusal: admission.StartRefused) -> JsonResponse:
    """HTTP 429 with Retry-After: the student's starts are used up, or they are in line."""
    return with_retry_after(JsonResponse(refusal.as_status()), refusal.retry_after)


@require_POST
@login_required
def sandbox_start(request: HttpRequest) -> JsonResponse:
    try:
        # No transaction here: a refusal must not undo the student's place in line.
        sandbox = admission.request_start(_user(request))
    except admission.StartRefused as refusal:
        return refused(refusal)
    except Exception as exc:
        # Claiming a warm sandbox talks to the cluster; say so plainly instead of a 500 page.
        if not (k8s.is_transient(exc) or isinstance(exc, k8s.ApiException | RuntimeError)):
            raise
        return JsonResponse(
            {"state": "error", "error": "The cluster could not be reached. Try again in a minute."}, status=503
        )
    lifecycle.touch(sandbox)
    return JsonResponse(sandbox.as_status(), status=202 if sandbox.state != State.READY else 200)


@require_POST
@login_required
def sandbox_reset(request: HttpRequest) -> JsonResponse:
    sandbox = lifecycle.live_sandbox(_user(request))
    if sandbox is None or sandbox.state != State.READY:
        return JsonResponse({"error": "Only a ready sandbox can be reset."}, status=409)
    with transaction.atomic():
        if not lifecycle.request_reset(sandbox):
            return JsonResponse({"error": "Only a ready sandbox can be reset."}, status=409)
    return JsonResponse({**sandbox.as_status(), "state": State.RESETTING}, status=202)


@require_POST
@login_required
def sandbox_leave_queue(request: HttpRequest) -> JsonResponse:
    """The student no longer waits for a sandbox; those behind move up."""
    admission.leave(_user(request))
    return JsonResponse({"state": "none"})
