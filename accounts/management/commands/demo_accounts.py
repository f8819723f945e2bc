"""Create (or reset) one demo account per role, for `make run` and for trying the product."""

from typing import Any

from django.contrib.auth.models import User
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.roles import Role, ensure_role_groups, grant

DEMO_PASSWORD = "sandbox-demo"  # printed by `make run`; the accounts are for a local demo only


class Command(BaseCommand):
    help = f"Create the demo accounts student, instructor and admin (password: {DEMO_PASSWORD})."

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            ensure_role_groups()
            for role in Role:
                user, _ = User.objects.get_or_create(username=role.value)
                user.set_password(DEMO_PASSWORD)
                user.is_staff = user.is_superuser = role is Role.ADMIN
                user.save()
                grant(user, role)
        for role in Role:
            self.stdout.write(f"  {role.value:<11} password: {DEMO_PASSWORD}")
