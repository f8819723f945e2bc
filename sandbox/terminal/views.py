"""The sandbox page (terminal + workspace files) and the files API the editor uses."""

from __future__ import annotations

import json

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from sandbox import lifecycle
from sandbox.models import Sandbox
from sandbox.terminal import workspace
from sandbox.terminal.errors import Denied
from sandbox.terminal.models import WorkspaceFile

MAX_BODY = workspace.MAX_FILE_BYTES + 4096


def _user(request: HttpRequest) -> User:
    if not isinstance(request.user, User):
        raise PermissionDenied
    return request.user


def page_labels() -> dict[str, str]:
    """The sandbox page's texts for its scripts, in the active language (the lesson page too)."""
    labels = {
        "welcome": _("Kubernetes sandbox terminal. Type help to begin."),
        "busy": _("A command is still running: press Ctrl-C to stop it first."),
        "reconnecting": _("Connection lost; reconnecting…"),
        "offline": _("Connecting to the server; the command runs as soon as the connection is up…"),
        "empty": _("No files yet."),
        "saved": _("Saved."),
        "confirmDelete": _("Delete %s?"),
        "deployments": _("Deployments"),
        "replicaSets": _("ReplicaSets"),
        "pods": _("Pods"),
        "services": _("Services"),
        "configMaps": _("ConfigMaps"),
        "ingresses": _("Ingresses"),
        "events": _("Events"),
        "ready": _("ready"),
        "restarts": _("restarts"),
        "selects": _("selects"),
        "noPods": _("no pods"),
        "openNodePort": _("open NodePort"),
        "liveEmpty": _("Nothing here yet: create something in the terminal."),
        # Shadowing (sandbox/terminal/shadow.py): %s is a staff member's name, or a list of them.
        "suggested": _("%s suggests this line: press Enter to run it, or edit or clear it."),
        "watching": _("Watching your terminal: %s"),
    }
    return {k: str(v) for k, v in labels.items()}


@login_required
def page(request: HttpRequest) -> HttpResponse:
    return render(request, "sandbox/page.html", {"terminal_labels": page_labels()})


def _sandbox_or_error(request: HttpRequest) -> Sandbox | JsonResponse:
    sandbox = lifecycle.live_sandbox(_user(request))
    if sandbox is None:
        return JsonResponse({"error": "Start your sandbox first."}, status=409)
    return sandbox


@require_http_methods(["GET"])
@login_required
def file_list(request: HttpRequest) -> JsonResponse:
    sandbox = _sandbox_or_error(request)
    if isinstance(sandbox, JsonResponse):
        return JsonResponse({"files": []})
    files = WorkspaceFile.objects.filter(sandbox=sandbox).values("name", "updated_at")
    return JsonResponse({"files": [{"name": f["name"], "updated_at": f["updated_at"].isoformat()} for f in files]})


@require_http_methods(["GET", "PUT", "DELETE"])
@login_required
def file_detail(request: HttpRequest, name: str) -> JsonResponse:
    sandbox = _sandbox_or_error(request)
    if isinstance(sandbox, JsonResponse):
        return sandbox
    try:
        workspace.validate_name(name)
        if request.method == "GET":
            found = WorkspaceFile.objects.filter(sandbox=sandbox, name=name).first()
            if found is None:
                return JsonResponse({"error": f"There is no file named {name}."}, status=404)
            return JsonResponse({"name": name, "content": found.content})
        if request.method == "DELETE":
            workspace.delete(sandbox, name)
            return JsonResponse({"deleted": name})
        if len(request.body) > MAX_BODY:
            return JsonResponse(
                {"error": f"The file is too large (at most {workspace.MAX_FILE_BYTES} bytes)."}, status=413
            )
        try:
            body = json.loads(request.body)
            content = body["content"]
        except (ValueError, KeyError, TypeError):
            return JsonResponse({"error": 'Send JSON like {"content": "..."}.'}, status=400)
        if not isinstance(content, str):
            return JsonResponse({"error": "content must be text."}, status=400)
        workspace.save(sandbox, name, content)
        return JsonResponse({"saved": name})
    except Denied as exc:
        return JsonResponse({"error": exc.message}, status=400)
