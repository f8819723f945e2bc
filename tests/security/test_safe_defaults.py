"""Safe defaults for the main command: `make run` serves with DEBUG off, so a student who
triggers an error sees a plain page, never a traceback with paths and settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import Client, override_settings
from django.urls import include, path

ROOT = Path(__file__).resolve().parents[2]


def explode(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("secret detail: /root/.cache/k8s-sandbox and SECRET_KEY")


urlpatterns = [path("explode/", explode), path("", include("config.urls"))]


def test_the_run_configuration_turns_debug_off() -> None:
    # `make run` copies .env.example to .env on a fresh install.
    lines = (ROOT / ".env.example").read_text().splitlines()
    assert "DEBUG=0" in lines
    assert not any(line.startswith("DEBUG=1") for line in lines)


def test_debug_is_off_unless_asked_for() -> None:
    env = {k: v for k, v in os.environ.items() if k != "DEBUG"}
    probe = "from django.conf import settings; print(settings.DEBUG)"
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings'; django.setup(); {probe}",
        ],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"


@pytest.mark.django_db
@override_settings(DEBUG=False, ROOT_URLCONF=__name__)
def test_an_error_shows_no_traceback() -> None:
    client = Client(raise_request_exception=False)
    response = client.get("/explode/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body
    assert "服务器出错了" in body
    for leak in ("Traceback", "RuntimeError", "secret detail", "SECRET_KEY", "/root/"):
        assert leak not in body


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_a_missing_page_is_a_plain_404_in_the_visitors_language() -> None:
    client = Client()
    response = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()
    assert "URLconf" not in response.content.decode()
