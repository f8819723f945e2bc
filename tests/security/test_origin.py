"""Cross-site WebSocket hijacking: only the site's own pages (scheme, host and port) and the
origins in CSRF_TRUSTED_ORIGINS may open the sandbox socket with a student's cookie.

The attack that came back from a review: a page on another port of the same host opened the
socket with the student's cookie and ran kubectl as them, because the old check compared host
names only."""

from __future__ import annotations

import pytest
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import User
from django.test import override_settings

from config.asgi import application
from sandbox.realtime.origin import allowed, parse_origin
from tests.cluster.test_terminal_socket import cookie_for
from tests.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)


def scope(origin: bytes | None, host: bytes | None = b"localhost:8000", scheme: str = "ws") -> dict[str, object]:
    headers = [(b"origin", origin)] if origin is not None else []
    if host is not None:
        headers.append((b"host", host))
    return {"type": "websocket", "scheme": scheme, "headers": headers}


@pytest.mark.parametrize(
    ("origin", "host", "scheme", "expected"),
    [
        (b"http://localhost:8000", b"localhost:8000", "ws", True),
        (b"https://localhost", b"localhost", "wss", True),
        (b"https://localhost:443", b"localhost", "wss", True),  # the default port, written out
        (b"HTTP://LOCALHOST:8000", b"localhost:8000", "ws", True),  # scheme and host are case-blind
        (b"http://localhost:8001", b"localhost:8000", "ws", False),  # another port, same host
        (b"http://localhost", b"localhost:8000", "ws", False),  # port 80 is another port
        (b"https://localhost:8000", b"localhost:8000", "ws", False),  # the other scheme
        (b"http://localhost:8000", b"localhost:8000", "wss", False),  # page over http, socket over wss
        (b"null", b"localhost:8000", "ws", False),  # sandboxed frames, file: pages
        (None, b"localhost:8000", "ws", False),  # no Origin at all
        (b"", b"localhost:8000", "ws", False),
        (b"http://evil.example:8000", b"localhost:8000", "ws", False),
        (b"http://localhost:8000/path", b"localhost:8000", "ws", False),
        (b"http://user@localhost:8000", b"localhost:8000", "ws", False),
        (b"http://localhost:8000\n", b"localhost:8000", "ws", False),
        (b"http://localhost:99999", b"localhost:99999", "ws", False),  # not a port
        (b"http://evil.example", b"evil.example", "ws", False),  # a Host outside ALLOWED_HOSTS
        (b"http://localhost:8000", None, "ws", False),  # no Host: no own origin to compare with
    ],
)
def test_origin_rules(origin: bytes | None, host: bytes | None, scheme: str, expected: bool) -> None:
    assert allowed(scope(origin, host, scheme)) is expected


def test_two_origin_headers_are_refused() -> None:
    headers = [
        (b"origin", b"http://localhost:8000"),
        (b"origin", b"http://localhost:8000"),
        (b"host", b"localhost:8000"),
    ]
    assert not allowed({"type": "websocket", "scheme": "ws", "headers": headers})


@override_settings(CSRF_TRUSTED_ORIGINS=["https://class.example.org"])
def test_trusted_origins_are_accepted_exactly() -> None:
    # Behind a TLS-terminating proxy the handshake arrives as ws:// while the page is https.
    assert allowed(scope(b"https://class.example.org", b"localhost:8000"))
    assert allowed(scope(b"https://class.example.org:443", b"localhost:8000"))
    assert not allowed(scope(b"https://class.example.org:8443", b"localhost:8000"))
    assert not allowed(scope(b"http://class.example.org", b"localhost:8000"))


def test_parse_origin_refuses_what_is_not_an_origin() -> None:
    assert parse_origin("https://[::1]:8000") == ("https", "::1", 8000)
    for text in [
        "",
        "null",
        "ftp://localhost",
        "localhost:8000",
        "http://",
        "http://a b",
        "http://x:1?q",
        "http://x#f",
    ]:
        assert parse_origin(text) is None, text


def handshake(
    cookie: bytes, origin: bytes | None, host: bytes = b"localhost:8000", scheme: str = "ws"
) -> tuple[bool, int]:
    """Open the real ASGI application's socket with the student's cookie, as a browser would."""

    async def scenario() -> tuple[bool, int]:
        headers = [(b"cookie", cookie), (b"host", host)]
        if origin is not None:
            headers.append((b"origin", origin))
        communicator = WebsocketCommunicator(application, "/ws/sandbox/", headers=headers)
        communicator.scope["scheme"] = scheme
        connected, code = await communicator.connect(timeout=10)
        if connected:
            hello = await communicator.receive_json_from(timeout=10)
            assert hello["type"] == "hello"
            await communicator.disconnect()
        return connected, int(code or 0)

    return run_async(scenario)


def test_the_student_cookie_opens_the_socket_only_from_the_site_itself(student: User) -> None:
    cookie = cookie_for(student)
    assert handshake(cookie, b"http://localhost:8000") == (True, 0)
    # The attack: a page on another port of the same host, the other scheme, a sandboxed frame,
    # no Origin at all. Each is refused before the consumer runs (4403), with the same cookie.
    assert handshake(cookie, b"http://localhost:8081") == (False, 4403)
    assert handshake(cookie, b"https://localhost:8000") == (False, 4403)
    assert handshake(cookie, b"null") == (False, 4403)
    assert handshake(cookie, None) == (False, 4403)
    assert handshake(cookie, b"https://localhost", host=b"localhost", scheme="wss") == (True, 0)
