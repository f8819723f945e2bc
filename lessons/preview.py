"""The author's preview: a lesson rendered straight from its folder under LESSONS_DIR (not from
the database), with every validation problem in the page, for instructors and admins. The page
asks for the folder's fingerprint every second and reloads when it changes, so an author sees
each save. A broken lesson is a page that lists its problems, never an error page."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from accounts.roles import Role, has_role
from lessons import format, loader, markers, templating

log = logging.getLogger(__name__)


def may_preview(request: HttpRequest) -> bool:
    return has_role(request.user, Role.INSTRUCTOR) or has_role(request.user, Role.ADMIN)


def _authors_only(request: HttpRequest) -> None:
    # 404, not 403: a student learns nothing, not even that the page exists.
    if not may_preview(request):
        raise Http404


def folders() -> dict[str, Path]:
    """The lesson folders by name: a URL names one of these, never a path of its own."""
    return {folder.name: folder for folder in format.discover(Path(settings.LESSONS_DIR))}


def _folder(name: str) -> Path:
    folder = folders().get(name)
    if folder is None:
        raise Http404(_("There is no lesson folder %(name)s.") % {"name": name})
    return folder


def folder_fingerprint(folder: Path) -> str:
    """The folder's content hash; '' while it cannot be read (a file removed as we read it,
    an editor's rename-on-save), which the page takes as 'changed' once it can be read again."""
    try:
        return loader.fingerprint(folder)
    except OSError:
        return ""


def _language(request: HttpRequest) -> str:
    wanted = request.GET.get("lang") or get_language() or "en"
    return wanted if wanted in format.LANGUAGES else "en"


def _relative(problem: format.Problem, folder: Path) -> dict[str, Any]:
    try:
        path = str(problem.path.relative_to(folder))
    except ValueError:
        path = str(problem.path)
    return {"path": path, "line": problem.line, "message": problem.message}


def build(folder: Path, lang: str) -> dict[str, Any]:
    """What the page shows: the lesson in `lang`, or its problems."""
    try:
        spec = format.load(folder)
    except format.LessonError as exc:
        return {"problems": [_relative(problem, folder) for problem in exc.problems]}
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        # What the validator does not turn into a Problem (a file that is not UTF-8, one that
        # vanished between listing and reading): still a message, not a server error.
        return {"problems": [{"path": "", "line": 0, "message": str(exc)}]}
    labels = {"run": _("Run"), "copy": _("Copy"), "open": _("Open in the editor")}
    ctx = templating.SAMPLE

    def text(values: dict[str, str]) -> str:
        return templating.render(values.get(lang) or values.get("en") or "", ctx)

    steps = [
        {
            "id": step.id,
            "title": text(step.title),
            "html": markers.render(templating.render(step.body.get(lang, ""), ctx), labels),
            "checks": [json.dumps(check, ensure_ascii=False) for check in step.checks],
            "hints": [text(hint) for hint in step.hints],
            "solution": step.solution,
            "undo": step.undo,
            "wait_seconds": step.wait_seconds,
        }
        for step in spec.steps
    ]
    return {
        "problems": [],
        "lesson": {
            "slug": spec.slug,
            "position": spec.position,
            "title": text(spec.title),
            "summary": text(spec.summary),
            "difficulty": spec.difficulty,
            "minutes": spec.minutes,
            "size": spec.size,
            "extra_namespaces": spec.extra_namespaces,
            "node_ports": spec.node_ports,
            "files": sorted(spec.files),
        },
        "steps": steps,
    }


@require_GET
@login_required
def preview_list(request: HttpRequest) -> HttpResponse:
    _authors_only(request)
    return render(request, "lessons/preview_list.html", {"folders": sorted(folders())})


@never_cache
@require_GET
@login_required
def preview_page(request: HttpRequest, folder: str) -> HttpResponse:
    _authors_only(request)
    path = _folder(folder)
    lang = _language(request)
    # The fingerprint is taken before reading, so an edit made while the page is built changes
    # the next poll's answer and the page reloads: it never shows stale text as current.
    digest = folder_fingerprint(path)
    try:
        shown = build(path, lang)
    except Exception as exc:  # e.g. a Markdown renderer error: the author sees it, the page stays
        log.exception("previewing %s", path)
        shown = {"problems": [{"path": "", "line": 0, "message": f"{type(exc).__name__}: {exc}"}]}
    context = {
        "folder": folder,
        "fingerprint": digest,
        "lang": lang,
        "languages": format.LANGUAGES,
        **shown,
    }
    return render(request, "lessons/preview.html", context)


@never_cache
@require_GET
@login_required
def preview_fingerprint(request: HttpRequest, folder: str) -> JsonResponse:
    _authors_only(request)
    return JsonResponse({"fingerprint": folder_fingerprint(_folder(folder))})
