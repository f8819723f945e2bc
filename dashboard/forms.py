"""The dashboard's two forms: a bulk action on sandboxes, and the audit log's search."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from classroom.models import Classroom
from dashboard.actions import AuditQuery, Bulk
from sandbox.models import LIVE_STATES, Sandbox
from sandbox.terminal.models import CommandAudit

StrOrPromise = str | Promise
MAX_EXTEND_HOURS = 72
# The audit log's outcomes in the page's language (the model's own labels are English only).
OUTCOME_LABELS: dict[str, StrOrPromise] = {
    CommandAudit.Outcome.RAN.value: _("ran"),
    CommandAudit.Outcome.DENIED.value: _("refused"),
    CommandAudit.Outcome.INTERRUPTED.value: _("interrupted"),
    CommandAudit.Outcome.TIMED_OUT.value: _("timed out"),
    CommandAudit.Outcome.FAILED.value: _("could not start"),
    "unfinished": _("unfinished (its server stopped)"),  # Outcome.UNFINISHED, being added meanwhile
}
DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


class BulkForm(forms.Form):
    action = forms.ChoiceField(
        label=_("Action"),
        choices=[
            (Bulk.EXTEND.value, _("Extend by")),
            (Bulk.EXPIRE.value, _("Expire now")),
            (Bulk.DELETE.value, _("Delete now")),
        ],
    )
    hours = forms.IntegerField(label=_("hours"), min_value=1, max_value=MAX_EXTEND_HOURS, initial=1, required=False)
    classroom = forms.ModelChoiceField(
        label=_("Every student of the class"),
        queryset=Classroom.objects.all(),
        required=False,
        empty_label=_("(no class)"),
    )
    sandboxes = forms.ModelMultipleChoiceField(
        label=_("Sandboxes"),
        queryset=Sandbox.objects.filter(state__in=LIVE_STATES),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("classroom") and not data.get("sandboxes"):
            raise forms.ValidationError(_("Choose a class or tick at least one sandbox."))
        if data.get("action") == Bulk.EXTEND and not data.get("hours"):
            self.add_error("hours", _("How many hours to add?"))
        return data


class AuditForm(forms.Form):
    user = forms.CharField(label=_("User"), max_length=150, required=False)
    classroom = forms.ModelChoiceField(
        label=_("Class"), queryset=Classroom.objects.all(), required=False, empty_label=_("(any class)")
    )
    text = forms.CharField(label=_("Text"), max_length=200, required=False)
    outcome = forms.ChoiceField(
        label=_("Outcome"),
        choices=[("", _("(any outcome)"))]
        + [(value, OUTCOME_LABELS.get(value, label)) for value, label in CommandAudit.Outcome.choices],
        required=False,
    )
    since = forms.DateTimeField(
        label=_("From (UTC)"),
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    until = forms.DateTimeField(
        label=_("Until (UTC)"),
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("since") and data.get("until") and data["since"] > data["until"]:
            raise forms.ValidationError(_("The start of the time range is after its end."))
        return data

    def query(self) -> AuditQuery:
        data = self.cleaned_data
        classroom = data.get("classroom")
        return AuditQuery(
            user=(data.get("user") or "").strip(),
            classroom_id=classroom.pk if classroom else None,
            text=(data.get("text") or "").strip(),
            outcome=data.get("outcome") or "",
            since=data.get("since"),
            until=data.get("until"),
        )
