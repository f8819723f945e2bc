"""A signed-up student starts a sandbox from the page and gets a ready namespace."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client, override_settings

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("eager_celery")]


@override_settings(SANDBOX_POOL_SIZE=0)
def test_it_gives_a_new_student_a_ready_sandbox(client: Client) -> None:
    client.post(
        "/accounts/signup/",
        {"username": "newcomer", "password1": "a-long-passphrase-7", "password2": "a-long-passphrase-7"},
    )
    assert client.get("/sandbox/status").json() == {"state": "none"}
    started = client.post("/sandbox/start")
    assert started.status_code in (200, 202)
    status = client.get("/sandbox/status").json()
    assert status["state"] == "ready"
    assert status["namespace"].startswith(settings.SANDBOX_NAMESPACE_PREFIX)
    assert 30000 <= status["node_port"] <= 32767
    page = client.get("/lessons/").content.decode()
    assert 'id="sandbox-panel"' in page
