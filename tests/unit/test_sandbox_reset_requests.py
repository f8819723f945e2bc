"""A reset request changes the state at once, so a burst of clicks queues one reset."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from sandbox import lifecycle
from sandbox.models import Sandbox, State

pytestmark = pytest.mark.django_db


def test_only_the_first_of_many_reset_requests_counts() -> None:
    owner = User.objects.create_user("erin")
    sandbox = Sandbox.objects.create(owner=owner, namespace="sbx-reset", state=State.READY, node_port=30999)
    assert lifecycle.request_reset(sandbox)
    assert not any(lifecycle.request_reset(sandbox) for _ in range(50))
    sandbox.refresh_from_db()
    assert sandbox.state == State.RESETTING
