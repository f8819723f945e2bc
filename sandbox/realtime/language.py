"""The language a socket's page was served in, from the same inputs Django's LocaleMiddleware
reads (the language cookie, then Accept-Language): a socket has no request of its own."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils import translation


def scope_language(scope: dict[str, Any]) -> str:
    request = HttpRequest()
    request.COOKIES = dict(scope.get("cookies") or {})
    headers = dict(scope.get("headers") or [])
    request.META["HTTP_ACCEPT_LANGUAGE"] = headers.get(b"accept-language", b"").decode("latin-1")
    language = translation.get_language_from_request(request)
    return language if language in {code for code, _name in settings.LANGUAGES} else settings.LANGUAGE_CODE
