"""The client address the per-address limits count: the connection's peer unless the site is
told how many reverse proxies stand in front of it, and then only what those proxies wrote."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import RequestFactory

from sandbox.client_address import client_address


def address(remote: str, forwarded: str | None = None) -> str:
    extra: dict[str, Any] = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return client_address(RequestFactory().get("/", **extra))


def test_without_proxies_the_header_is_ignored(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    assert address("203.0.113.7", "10.0.0.1") == "203.0.113.7"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "203.0.113.7", "203.0.113.7"),
        (1, "10.0.0.1, 203.0.113.7", "203.0.113.7"),  # the client's own entry is ignored
        (2, "10.0.0.1, 203.0.113.7, 192.0.2.2", "203.0.113.7"),
        (2, "203.0.113.7", "192.0.2.1"),  # fewer hops than proxies: the peer
        (1, "not-an-address", "192.0.2.1"),
        (1, "203.0.113.7\n", "203.0.113.7"),
        (1, "2001:DB8::1", "2001:db8::1"),  # one spelling per address
        (1, "", "192.0.2.1"),
    ],
)
def test_behind_proxies_it_reads_the_entry_the_outermost_one_wrote(
    settings: Any, proxies: int, forwarded: str, expected: str
) -> None:
    settings.TRUSTED_PROXY_COUNT = proxies
    assert address("192.0.2.1", forwarded) == expected


def test_a_request_without_an_address_has_none(settings: Any) -> None:
    settings.TRUSTED_PROXY_COUNT = 0
    assert address("") == ""
