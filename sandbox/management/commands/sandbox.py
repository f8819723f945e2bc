"""`manage.py sandbox up|down|reset|kubeconfig|list [USER]`: the operator's view of sandboxes.

Unlike the web flow, `up`, `down` and `reset` do the cluster work in this process, so they
work (and show errors) without a Celery worker."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox import credentials, install, lifecycle, provisioning, sweep
from sandbox.models import Sandbox, State
from sandbox.terminal import kubectl_cache


class Command(BaseCommand):
    help = (
        "install: prepare the cluster (shared objects, operator identity; needs CLUSTER_ADMIN_KUBECONFIG). "
        "up/down/reset/kubeconfig USER, list [USER], sweep: manage students' sandboxes."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["install", "up", "down", "reset", "kubeconfig", "list", "sweep"])
        parser.add_argument("user", nargs="?", help="username (optional for list and sweep)")

    def handle(self, *args: Any, action: str, user: str | None = None, **options: Any) -> None:
        if action == "install":
            path = install.install()
            self.stdout.write(f"installed the shared objects and the operator; operator kubeconfig: {path}")
            if kubectl_cache.build(settings.KUBECTL, path, settings.TERMINAL_KUBECTL_CACHE):
                self.stdout.write(f"warmed kubectl's cache for new terminals: {settings.TERMINAL_KUBECTL_CACHE}")
            else:
                self.stderr.write("could not warm kubectl's cache: each terminal's first kubectl discovers the API")
            return None
        if action == "list":
            return self.list(user)
        if action == "sweep":
            self.stdout.write(str(sweep.sweep()))
            return None
        if not user:
            raise CommandError(f"`sandbox {action}` needs a USER")
        owner = User.objects.filter(username=user).first()
        if owner is None:
            raise CommandError(f"no user named {user!r}")
        sandbox = lifecycle.live_sandbox(owner)
        if action == "up":
            sandbox = sandbox or lifecycle.start(owner, enqueue=False)
            provisioning.provision(sandbox.pk)
            sandbox.refresh_from_db()
            if sandbox.state != State.READY:
                raise CommandError(f"{sandbox.namespace} is {sandbox.state}: {sandbox.last_error}")
            self.stdout.write(sandbox.namespace)
            return None
        if sandbox is None:
            raise CommandError(f"{user} has no live sandbox (create one with `sandbox up {user}`)")
        if action == "down":
            provisioning.destroy(sandbox.pk)
            self.stdout.write(f"{sandbox.namespace} deleted")
        elif action == "reset":
            if not provisioning.reset(sandbox.pk):
                raise CommandError(f"{sandbox.namespace} is {sandbox.state}; only a ready sandbox can be reset")
            self.stdout.write(f"{sandbox.namespace} reset")
        elif action == "kubeconfig":
            try:
                self.stdout.write(credentials.student_kubeconfig(sandbox), ending="")
            except credentials.NotReady as exc:
                raise CommandError(str(exc)) from exc
        return None

    def list(self, user: str | None) -> None:
        rows = Sandbox.objects.select_related("owner").order_by("-created_at")
        if user:
            rows = rows.filter(owner__username=user)
        for sandbox in rows[:200]:
            owner = sandbox.owner.username if sandbox.owner else "(pool)"
            self.stdout.write(
                f"{sandbox.namespace:<16} {owner:<16} {sandbox.state:<13} {sandbox.size:<7} "
                f"port={sandbox.node_port or '-':<6} expires={sandbox.expires_at:%Y-%m-%d %H:%M}"
                if sandbox.expires_at
                else f"{sandbox.namespace:<16} {owner:<16} {sandbox.state:<13} {sandbox.size:<7} "
                f"port={sandbox.node_port or '-'}"
            )
