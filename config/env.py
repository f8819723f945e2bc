"""Strict readers for settings that come from environment variables.

Each reader raises ImproperlyConfigured with the variable's name when a value cannot be
parsed, so a typo in a deployment fails at start-up instead of behaving like the default.
Secrets can also come from a file named by ``NAME_FILE`` (the Docker/Kubernetes secret
convention), which keeps them out of ``/proc/<pid>/environ``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """``$NAME``; unset or empty both mean the default, as `.env.example` lists every name empty."""
    return os.environ.get(name) or default


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be one of 1/0, true/false, yes/no, on/off; got {raw!r}")


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer; got {raw!r}") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum}; got {value}")
    return value


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_secret(name: str, default: str = "") -> str:
    """Return ``$NAME``, or the contents of the file named by ``$NAME_FILE``."""
    path = os.environ.get(f"{name}_FILE")
    if path:
        try:
            return Path(path).read_text().strip()
        except OSError as exc:
            raise ImproperlyConfigured(f"{name}_FILE={path!r} cannot be read: {exc.strerror}") from None
    return os.environ.get(name, default)


def database_from_url(url: str, *, base_dir: Path) -> dict[str, object]:
    """Turn ``sqlite:///path`` or ``postgres://user:pass@host:port/name`` into DATABASES['default']."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        # sqlite:///db.sqlite3 is relative to the project, sqlite:////abs/path is absolute.
        path = parts.path[1:] if parts.path.startswith("/") else parts.path
        if not path:
            raise ImproperlyConfigured("DATABASE_URL: sqlite URL needs a file path, e.g. sqlite:///db.sqlite3")
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(base_dir / path),
            "OPTIONS": {
                # The embedded default serves several processes (web, worker, watcher) and many
                # sockets at once. In SQLite's default mode a writer blocks every reader and a
                # second writer fails at once ("database is locked": concurrent file saves
                # answered 500). WAL lets readers go on beside the one writer; BEGIN IMMEDIATE
                # takes the write lock when a transaction starts, so a waiting writer waits (up
                # to the busy timeout) instead of failing midway on a lock upgrade it can never get.
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    if parts.scheme in {"postgres", "postgresql"}:
        name = parts.path.lstrip("/")
        if not name:
            raise ImproperlyConfigured("DATABASE_URL: postgres URL needs a database name after the last '/'")
        return {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": unquote(name),
            "USER": unquote(parts.username or ""),
            "PASSWORD": unquote(parts.password or ""),
            "HOST": unquote(parts.hostname or ""),
            "PORT": str(parts.port or ""),
            # No persistent connections: under ASGI every request runs its sync code in a thread
            # of its own, so a kept connection is never reused and only waits for its age. A
            # class of 50 signing in at once used up PostgreSQL's 100 connections that way and
            # got 500s (make bench-class). Django's own advice for ASGI.
            "CONN_MAX_AGE": 0,
        }
    raise ImproperlyConfigured(f"DATABASE_URL scheme must be sqlite or postgres; got {parts.scheme!r}")


def env_rate(name: str, default: str) -> tuple[int, float]:
    """``$NAME`` as ``COUNT/SECONDS`` (e.g. ``3/60``): at most COUNT at once, then one more every
    SECONDS/COUNT seconds (a token bucket)."""
    raw = (os.environ.get(name) or default).strip()
    count, slash, seconds = raw.partition("/")
    try:
        parsed = (int(count), float(seconds))
    except ValueError:
        parsed = (0, 0.0)
    if not slash or parsed[0] < 1 or not 0 < parsed[1] < math.inf:
        raise ImproperlyConfigured(f"{name} must be COUNT/SECONDS with both above 0, e.g. 3/60; got {raw!r}")
    return parsed


REAL_NODE_MODES = {"auto": "auto", "require": "require", "off": "off"}
_REAL_NODE_ALIASES = {**dict.fromkeys(_TRUE, "require"), **dict.fromkeys(_FALSE, "off")}
CLUSTERS = ("local", "local-sim", "kind")


def real_node_mode(raw: str, cluster: str) -> str:
    """LOCAL_REAL_NODE as one of auto/require/off; CLUSTER=local-sim (or kind) means off."""
    if cluster not in CLUSTERS:
        raise ImproperlyConfigured(f"CLUSTER must be one of {', '.join(CLUSTERS)}; got {cluster!r}")
    value = raw.strip().lower()
    mode = REAL_NODE_MODES.get(value) or _REAL_NODE_ALIASES.get(value)
    if mode is None:
        raise ImproperlyConfigured(f"LOCAL_REAL_NODE must be auto, require or off (or 1/0); got {raw!r}")
    if cluster != "local":
        if mode == "require":
            raise ImproperlyConfigured(f"LOCAL_REAL_NODE=require needs CLUSTER=local, not {cluster!r}")
        return "off"
    return mode
