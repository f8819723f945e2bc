from django.contrib import admin

from lessons.models import Lesson, Step, StepProgress


class StepInline(admin.TabularInline[Step, Lesson]):
    model = Step
    fields = ("position", "key", "wait_seconds")
    readonly_fields = fields
    extra = 0
    can_delete = False
    show_change_link = True


@admin.register(Lesson)
class LessonAdmin(admin.ModelAdmin[Lesson]):
    """Lessons are edited as files in git (lessons/content/) and loaded with `manage.py lessons
    load`; the admin shows what is loaded."""

    list_display = ("slug", "position", "difficulty", "minutes", "active", "source")
    list_filter = ("active", "difficulty")
    readonly_fields = ("fingerprint", "source")
    inlines = [StepInline]


@admin.register(StepProgress)
class StepProgressAdmin(admin.ModelAdmin[StepProgress]):
    list_display = ("user", "step", "done_at", "skipped", "hints_shown", "checked_at")
    list_filter = ("skipped", "step__lesson")
    search_fields = ("user__username", "step__key", "step__lesson__slug")
    raw_id_fields = ("user", "step")
