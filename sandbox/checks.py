"""System checks for settings that cannot be validated while they are read."""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register


@register()
def check_secret_key(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if not settings.DEBUG and not settings.SECRET_KEY_SET:
        return [
            Error(
                "SECRET_KEY is not set.",
                hint="Set SECRET_KEY (or SECRET_KEY_FILE) to a long random string, or DEBUG=1 for development.",
                id="sandbox.E001",
            )
        ]
    return []


@register()
def check_channel_layer(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if settings.CHANNEL_LAYER not in {"redis", "memory"}:
        return [
            Error(
                f"CHANNEL_LAYER must be 'redis' or 'memory', not {settings.CHANNEL_LAYER!r}.",
                hint="Use 'redis' whenever more than one process serves the site.",
                id="sandbox.E002",
            )
        ]
    if settings.CHANNEL_LAYER == "memory" and not settings.DEBUG:
        return [
            Warning(
                "CHANNEL_LAYER=memory only reaches consumers in the same process.",
                hint="Use the Redis layer in production.",
                id="sandbox.W001",
            )
        ]
    return []


@register()
def check_redis_url(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    if not settings.REDIS_URL.startswith(("redis://", "rediss://", "unix://")):
        return [
            Error(
                f"REDIS_URL must be a redis://, rediss:// or unix:// URL, not {settings.REDIS_URL!r}.",
                id="sandbox.E003",
            )
        ]
    return []


@register()
def check_kubeconfig(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    # A warning, not an error: migrations and the admin work without a cluster.
    if not settings.CLUSTER_KUBECONFIG.is_file():
        return [
            Warning(
                f"No kubeconfig at {settings.CLUSTER_KUBECONFIG}; sandboxes cannot be provisioned.",
                hint="Run `make cluster` (local control plane) or set CLUSTER_KUBECONFIG to a cluster's kubeconfig.",
                id="sandbox.W002",
            )
        ]
    return []


def _terminal_program(path: Any, what: str, hint: str, check_id: str) -> list[CheckMessage]:
    # A warning, like the kubeconfig's: the pages work, the terminal refuses lines and says why.
    if os.access(path, os.X_OK):
        return []
    return [Warning(f"No {what} at {path}; the terminal cannot run commands.", hint=hint, id=check_id)]


@register()
def check_kubectl(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    return _terminal_program(
        settings.KUBECTL,
        "kubectl",
        "Run `make cluster` (it builds kubectl and links it there) or set KUBECTL to a kubectl.",
        "sandbox.W005",
    )


@register()
def check_terminal_launcher(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    return _terminal_program(
        settings.TERMINAL_LAUNCHER,
        "terminal launcher",
        "Run `make deps` (it compiles sandbox/terminal/launch.c there) or set TERMINAL_LAUNCHER.",
        "sandbox.W006",
    )


@register()
def check_terminal_ceiling(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    from sandbox.terminal import ceiling  # the terminal app's module; imported when checks run

    problems = ceiling.validate_limits(
        settings.TERMINAL_MEMORY_MB,
        settings.TERMINAL_PROCESSES,
        settings.TERMINAL_CPU_WEIGHT,
        settings.TERMINAL_CPU_PERCENT,
    )
    try:
        ceiling.validate_parent(settings.TERMINAL_CGROUP_PARENT)
    except ValueError as exc:
        problems.append(str(exc))
    if problems:
        return [Error(problem, id="sandbox.E004") for problem in problems]
    reason = ceiling.problem()
    if reason:
        # A warning: the terminal works, but one student's terminals together are not capped.
        return [
            Warning(
                f"The per-student terminal ceiling cannot be enforced: {reason}.",
                hint="Run the web process as root on a host with cgroup v1 memory and pids controllers, "
                "or cgroup v2 with them delegated; each kubectl still has its own limits.",
                id="sandbox.W003",
            )
        ]
    return []
