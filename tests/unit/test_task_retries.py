"""Which errors a sandbox job tries again, and what the student's page says meanwhile."""

from __future__ import annotations

import pytest
from django.db import InterfaceError, OperationalError
from kubernetes.client.exceptions import ApiException

from sandbox.tasks import RETRIES, can_pass, failure_message


@pytest.mark.parametrize(
    ("error", "passes"),
    [
        (OperationalError("server closed the connection unexpectedly"), True),
        (InterfaceError("connection already closed"), True),
        (ApiException(status=503, reason="Service Unavailable"), True),
        (ApiException(status=403, reason="Forbidden"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_errors_that_can_pass_are_tried_again(error: Exception, passes: bool) -> None:
    assert can_pass(error) is passes


def test_a_database_outage_is_named_and_retried_on_the_page() -> None:
    message = failure_message(OperationalError("terminating connection"), 0, final=False)
    assert message == f"The database did not answer; retrying (attempt 2 of {RETRIES + 1})…"
    assert failure_message(OperationalError("x"), RETRIES, final=True).startswith("The database did not answer. Press")
