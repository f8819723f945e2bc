"""The address a request came from, for the per-address limits (sign-ups, failed logins).

By default it is REMOTE_ADDR, the peer of the TCP connection, which a client cannot forge.
Behind reverse proxies that peer is the nearest proxy, so every student would share one
address; TRUSTED_PROXY_COUNT=N then reads X-Forwarded-For, where each proxy appends the address
it was connected from. Only the last N entries were written by our proxies: the one N places
from the right is the client as the outermost proxy saw it. Entries further left came from the
client and are ignored, so a forged header cannot pick an address."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_address(request: HttpRequest) -> str:
    remote = _address(request.META.get("REMOTE_ADDR", ""))
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
    if len(hops) < proxies:
        # Fewer hops than proxies: the request did not come through all of them (or a proxy
        # does not append); the connection's peer is the only address we know for sure.
        return remote
    return _address(hops[-proxies]) or remote


def _address(value: str) -> str:
    """The address in its canonical form, or "" when it is not one (a test request has none)."""
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        return ""
