"""`manage.py cluster up|down|status`: the development cluster (local control plane or kind)."""

import subprocess
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from sandbox.cluster import backend, tools


class Command(BaseCommand):
    help = (
        "Start, stop or inspect the development cluster. CLUSTER=local-sim: simulated nodes only; CLUSTER=kind: kind."
    )
    requires_system_checks: list[str] = []  # `up` is what makes the kubeconfig check pass

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["up", "down", "status"])
        parser.add_argument(
            "--backend", dest="backend_name", choices=["local", "local-sim", "kind"], help="default: $CLUSTER or local"
        )

    def handle(self, *args: Any, action: str, backend_name: str | None = None, **options: Any) -> None:
        try:
            cluster = backend(backend_name)
            if action == "up":
                cluster.up()
                tools.link_kubectl()
                # A cluster is only useful to the platform with its operator and shared objects.
                call_command("sandbox", "install", stdout=self.stdout)
            elif action == "down":
                cluster.down()
            elif cluster.status() != 0:
                raise CommandError("the cluster is not running")
        except subprocess.CalledProcessError as exc:
            raise CommandError(
                f"{' '.join(map(str, exc.cmd[:3]))} ... failed with exit status {exc.returncode}"
            ) from exc
        except (FileNotFoundError, RuntimeError, ValueError) as exc:
            raise CommandError(str(exc)) from exc
