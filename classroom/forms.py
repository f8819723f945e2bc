from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _

from classroom.models import Classroom, MemberRole
from lessons.models import Lesson

DATETIME = forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


class ClassroomForm(forms.ModelForm[Classroom]):
    """A class and its course. Each lesson gets a place (1, 2, ...) or is left out (empty)."""

    class Meta:
        model = Classroom
        fields = ["name", "size", "starts_at", "ends_at", "minutes_per_student"]
        widgets = {
            "starts_at": DATETIME,
            "ends_at": DATETIME,
            "minutes_per_student": forms.NumberInput(attrs={"min": 1}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lessons = list(Lesson.objects.filter(active=True))
        places: dict[int, int] = {}
        if self.instance.pk:
            places = {c.lesson_id: i for i, c in enumerate(self.instance.course.order_by("position", "id"), start=1)}
        for lesson in self.lessons:
            self.fields[f"lesson-{lesson.pk}"] = forms.IntegerField(
                label=lesson.localized("title"),
                required=False,
                min_value=1,
                max_value=999,
                initial=places.get(lesson.pk),
            )

    def lesson_fields(self) -> list[forms.BoundField]:
        return [self[f"lesson-{lesson.pk}"] for lesson in self.lessons]

    def course(self) -> list[Lesson]:
        """The chosen lessons in the order of their places (ties: the lessons' own order)."""
        chosen = [(self.cleaned_data.get(f"lesson-{lesson.pk}"), i, lesson) for i, lesson in enumerate(self.lessons)]
        return [lesson for place, _i, lesson in sorted(c for c in chosen if c[0] is not None)]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("minutes_per_student") == 0:
            self.add_error("minutes_per_student", _("A student needs at least one minute."))
        starts, ends = data.get("starts_at"), data.get("ends_at")
        if starts and ends and ends <= starts:
            self.add_error("ends_at", _("The class must end after it starts."))
        if not self.errors and not self.course():
            raise forms.ValidationError(_("Choose at least one lesson for the course."))
        return data


class JoinForm(forms.Form):
    code = forms.CharField(label=_("Join code"), max_length=64, strip=True)


class ExtraTimeForm(forms.Form):
    minutes = forms.IntegerField(label=_("Extra minutes"), min_value=1, max_value=600)


class StaffForm(forms.Form):
    username = forms.CharField(label=_("User name"), max_length=150)
    role = forms.ChoiceField(
        label=_("Role"),
        choices=[
            (MemberRole.CO_INSTRUCTOR, MemberRole.CO_INSTRUCTOR.label),
            (MemberRole.ASSISTANT, MemberRole.ASSISTANT.label),
        ],
    )

    def clean_username(self) -> User:
        user = User.objects.filter(username=self.cleaned_data["username"], is_active=True).first()
        if user is None:
            raise forms.ValidationError(_("There is no such user."))
        return user
