"""Admins list, reset, extend and delete sandboxes. Actions enqueue the same tasks as the
lifecycle sweep, so an admin's click behaves exactly like the platform's own housekeeping."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from sandbox import lifecycle
from sandbox.models import LIVE_STATES, QueuedStart, Sandbox, State


@admin.register(Sandbox)
class SandboxAdmin(admin.ModelAdmin[Sandbox]):
    list_display = ("namespace", "owner", "state", "size", "node_port", "last_activity_at", "expires_at", "attempts")
    list_filter = ("state", "size")
    search_fields = ("namespace", "owner__username")
    ordering = ("-created_at",)
    readonly_fields = [field.name for field in Sandbox._meta.fields]
    actions = ["reset_sandboxes", "extend_sandboxes", "delete_sandboxes"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sandboxes are started by students or `manage.py sandbox up`

    def has_delete_permission(self, request: HttpRequest, obj: Sandbox | None = None) -> bool:
        return False  # rows keep history; the "delete" action removes the cluster objects

    @admin.action(description=_("Reset to an empty namespace"))
    def reset_sandboxes(self, request: HttpRequest, queryset: QuerySet[Sandbox]) -> None:
        count = sum(lifecycle.request_reset(sandbox) for sandbox in queryset.filter(state=State.READY))
        self.message_user(
            request,
            ngettext("%d sandbox is being reset.", "%d sandboxes are being reset.", count) % count,
            messages.SUCCESS,
        )

    @admin.action(description=_("Extend by one hour"))
    def extend_sandboxes(self, request: HttpRequest, queryset: QuerySet[Sandbox]) -> None:
        live = queryset.filter(state__in=LIVE_STATES)
        for sandbox in live:
            lifecycle.extend(sandbox, 1)
        self.message_user(
            request,
            ngettext("%d sandbox extended.", "%d sandboxes extended.", live.count()) % live.count(),
            messages.SUCCESS,
        )

    @admin.action(description=_("Delete (remove the namespace)"))
    def delete_sandboxes(self, request: HttpRequest, queryset: QuerySet[Sandbox]) -> None:
        live = queryset.filter(state__in=LIVE_STATES)
        for sandbox in live:
            lifecycle.request_destroy(sandbox)
        self.message_user(
            request,
            ngettext("%d sandbox is being deleted.", "%d sandboxes are being deleted.", live.count()) % live.count(),
            messages.SUCCESS,
        )


@admin.register(QueuedStart)
class QueuedStartAdmin(admin.ModelAdmin[QueuedStart]):
    """The line of students waiting for room (SANDBOX_MAX_LIVE), first first. Deleting a row
    takes that student out of the line, as their "Leave the line" button does."""

    list_display = ("user", "joined_at", "last_seen_at", "size")
    ordering = ("joined_at", "id")
    readonly_fields = ("user", "size", "extra_namespaces", "joined_at", "last_seen_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # students join the line by pressing Start
