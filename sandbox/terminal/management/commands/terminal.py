"""The terminal's command-line twin, for debugging and tests:

    manage.py terminal exec --user USER -- 'kubectl get pods | grep web'
    manage.py terminal put --user USER NAME < file.yml

`exec` goes through exactly the parser, policy and runner the browser terminal uses, prints
the output and exits with the line's status; `put` saves a workspace file with the editor's
validation."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox import lifecycle
from sandbox.models import Sandbox
from sandbox.terminal import workspace
from sandbox.terminal.errors import Denied
from sandbox.terminal.session import Session


class StdoutSink:
    async def write(self, data: bytes) -> None:
        sys.stdout.buffer.write(data.replace(b"\r\n", b"\n"))
        sys.stdout.buffer.flush()


class Command(BaseCommand):
    help = "Run a terminal line for a user, or write a workspace file, exactly as the browser terminal does."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        run = sub.add_parser("exec", help="run one terminal line")
        run.add_argument("--user", required=True)
        run.add_argument("line", nargs="+", help="the line (quote it, after --)")
        put = sub.add_parser("put", help="write a workspace file from standard input")
        put.add_argument("--user", required=True)
        put.add_argument("name")

    def handle(self, *args: Any, action: str, user: str, **options: Any) -> None:
        owner, sandbox = self._sandbox(user)
        if action == "put":
            try:
                workspace.save(sandbox, options["name"], sys.stdin.read())
            except Denied as exc:
                raise CommandError(exc.message) from exc
            return
        status = asyncio.run(self._exec(owner, sandbox, " ".join(options["line"])))
        if status:
            sys.exit(status)

    async def _exec(self, owner: User, sandbox: Sandbox, line: str) -> int:
        session = Session(owner, sandbox)
        try:
            return await session.run_line(line, StdoutSink())
        finally:
            await session.close()

    def _sandbox(self, username: str) -> tuple[User, Sandbox]:
        owner = User.objects.filter(username=username).first()
        if owner is None:
            raise CommandError(f"no user named {username!r}")
        sandbox = lifecycle.live_sandbox(owner)
        if sandbox is None:
            raise CommandError(f"{username} has no sandbox; create one with `manage.py sandbox up {username}`")
        return owner, sandbox
