from django.contrib import admin
from django.http import HttpRequest

from sandbox.terminal.models import CommandAudit


@admin.register(CommandAudit)
class CommandAuditAdmin(admin.ModelAdmin[CommandAudit]):
    list_display = ("started_at", "user", "sandbox", "line", "outcome", "exit_status", "duration_ms")
    list_filter = ("outcome",)
    search_fields = ("line", "user__username", "sandbox__namespace")
    date_hierarchy = "started_at"
    readonly_fields = [field.name for field in CommandAudit._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # the audit log is written by the terminal only

    def has_change_permission(self, request: HttpRequest, obj: CommandAudit | None = None) -> bool:
        return False
