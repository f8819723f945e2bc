"""Create the demo accounts, one per role, each with a password generated for this install.

A password is printed once, when its account is made, and never stored anywhere readable: a
published default (as the first version had) would let anyone who read the README log in as the
admin of every install. `--reset` makes new passwords and prints them again."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from accounts.roles import Role, ensure_role_groups, grant


def new_password() -> str:
    # 16 characters from a 64-letter alphabet: 96 bits, typed from the terminal once.
    return secrets.token_urlsafe(12)


class Command(BaseCommand):
    help = "Create the demo accounts student, instructor and admin, printing each new password once."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--reset", action="store_true", help="give every demo account a new password")

    def handle(self, *args: Any, **options: Any) -> None:
        made: dict[Role, str] = {}
        with transaction.atomic():
            ensure_role_groups()
            for role in Role:
                user, created = User.objects.get_or_create(username=role.value)
                if created or options["reset"] or not user.has_usable_password():
                    made[role] = new_password()
                    user.set_password(made[role])
                user.is_staff = user.is_superuser = role is Role.ADMIN
                user.save()
                grant(user, role)
        for role in Role:
            if role in made:
                self.stdout.write(f"  {role.value:<11} password: {made[role]}   (shown once: note it now)")
            else:
                self.stdout.write(
                    f"  {role.value:<11} exists; its password was shown when it was made "
                    f"(`manage.py demo_accounts --reset` makes new ones)"
                )
