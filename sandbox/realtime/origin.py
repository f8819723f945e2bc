"""Which pages may open the sandbox socket.

A browser sends the student's cookies with a WebSocket handshake from any page, so the socket
must refuse pages of other sites (cross-site WebSocket hijacking). Channels' own validator
compares the Origin's host name only: a page served from the same host on another port, or over
the other scheme, passed it and drove the student's terminal. Origins are compared as a browser
does: scheme, host and port. Accepted are the site's own origin — the scheme and Host of this
very handshake, with the Host in ALLOWED_HOSTS — and the origins in CSRF_TRUSTED_ORIGINS (for a
site behind a TLS-terminating proxy). A handshake without an Origin, or with `null` (sandboxed
frames, file: pages), is refused: every browser sends one, and the socket only serves pages.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.http.request import split_domain_port, validate_host

DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def parse_origin(text: str) -> Origin | None:
    """(scheme, host, port) of an origin such as https://example.org:8443, or None when the text
    is not one (a path, credentials, a query or a fragment make it something else)."""
    if not text or text.strip() != text or any(ord(c) < 33 or ord(c) > 126 for c in text):
        return None
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username is not None or parts.password is not None:
        return None
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else DEFAULT_PORTS[scheme]


def own_origin(scope: dict[str, Any]) -> Origin | None:
    """The origin of a page served by this site at the Host the handshake was sent to, or None
    when that Host is not one of ALLOWED_HOSTS."""
    host = _header(scope, b"host")
    if not host or not validate_host(split_domain_port(host)[0], settings.ALLOWED_HOSTS):
        return None
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    return parse_origin(f"{scheme}://{host}")


def trusted_origins() -> set[Origin]:
    return {origin for origin in map(parse_origin, settings.CSRF_TRUSTED_ORIGINS) if origin is not None}


def allowed(scope: dict[str, Any], extra: Iterable[Origin] = ()) -> bool:
    origin = parse_origin(_header(scope, b"origin"))
    if origin is None:
        return False
    return origin == own_origin(scope) or origin in trusted_origins() or origin in set(extra)


def _header(scope: dict[str, Any], name: bytes) -> str:
    values = [value for key, value in scope.get("headers") or [] if key.lower() == name]
    # Two Host or Origin headers are not something a browser sends: treat them as none.
    return values[0].decode("latin-1") if len(values) == 1 else ""


class OriginValidator:
    """ASGI middleware: refuses the handshake (HTTP 403) unless `allowed`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not allowed(scope):
            # Read the connect event first, as the ASGI spec asks, then close before accepting:
            # the server answers the handshake with 403.
            message = await receive()
            if message["type"] == "websocket.connect":
                await send({"type": "websocket.close", "code": 4403})
            return None
        return await self.app(scope, receive, send)
