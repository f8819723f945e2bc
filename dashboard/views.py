"""The admin dashboard at /platform/: the platform's picture, bulk actions, the audit log.
Admins only (accounts.roles); anyone else signed in gets a 404 and learns nothing."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from accounts.roles import Role, has_role
from dashboard import actions, inventory
from dashboard.actions import Bulk
from dashboard.forms import OUTCOME_LABELS, AuditForm, BulkForm


def _admin(request: HttpRequest) -> User:
    if not has_role(request.user, Role.ADMIN) or not isinstance(request.user, User):
        raise Http404
    return request.user


def _overview(request: HttpRequest, form: BulkForm) -> HttpResponse:
    picture = inventory.gather()
    return render(request, "dashboard/overview.html", {"picture": picture, "form": form})


@never_cache
@require_GET
@login_required
def overview(request: HttpRequest) -> HttpResponse:
    _admin(request)
    return _overview(request, BulkForm())


@require_POST
@login_required
def bulk(request: HttpRequest) -> HttpResponse:
    user = _admin(request)
    form = BulkForm(request.POST)
    if not form.is_valid():
        return _overview(request, form)
    data = form.cleaned_data
    chosen = actions.targets(
        classroom_id=data["classroom"].pk if data.get("classroom") else None,
        sandbox_ids=[sandbox.pk for sandbox in data.get("sandboxes") or []],
    )
    action = Bulk(data["action"])
    report = actions.run_bulk(action, chosen, hours=data.get("hours") or 1, by=user)
    texts = {
        Bulk.EXTEND: _("Extended %(count)d sandbox(es) by %(hours)d hour(s)."),
        Bulk.EXPIRE: _("%(count)d sandbox(es) will expire: a worker removes them."),
        Bulk.DELETE: _("%(count)d sandbox(es) will be deleted: a worker removes them."),
    }
    messages.success(request, texts[action] % {"count": len(report.done), "hours": data.get("hours") or 1})
    if report.skipped:
        messages.info(
            request,
            _("Skipped (already ended or being removed): %(names)s") % {"names": ", ".join(report.skipped)},
        )
    if not chosen:
        messages.info(request, _("The class has no student with a live sandbox."))
    return redirect("dashboard:overview")


@never_cache
@require_GET
@login_required
def audit(request: HttpRequest) -> HttpResponse:
    _admin(request)
    form = AuditForm(request.GET or None)
    rows = actions.search_audit(form.query()) if form.is_valid() else []
    if not request.GET:
        rows = actions.search_audit(actions.AuditQuery())
    context = {
        "form": form,
        "rows": [(row, OUTCOME_LABELS.get(row.outcome, row.outcome)) for row in rows],
        "limit": actions.AUDIT_LIMIT,
    }
    return render(request, "dashboard/audit.html", context)
