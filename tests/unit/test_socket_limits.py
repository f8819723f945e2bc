"""The socket limits' pure parts: the token bucket, the COUNT/SECONDS setting, message kinds."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.env import env_rate
from sandbox.realtime.limits import TokenBucket, kind_of, rounded_wait


def test_it_lets_a_burst_through_then_refills_one_token_per_period_over_count() -> None:
    bucket = TokenBucket(3, 60.0, at=100.0)
    assert [bucket.take(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(100.0) == pytest.approx(20.0)
    assert bucket.take(110.0) == pytest.approx(10.0)  # half a token back after 10 s
    assert bucket.take(120.0) == 0.0
    assert bucket.take(120.0) == pytest.approx(20.0)


def test_it_never_holds_more_than_its_capacity() -> None:
    bucket = TokenBucket(2, 10.0, at=0.0)
    assert [bucket.take(1000.0) for _ in range(3)][-1] > 0


def test_it_counts_every_message_type_in_a_known_kind() -> None:
    assert kind_of("lesson.skip") == kind_of("lesson.reset_step") == "lesson.step"
    assert kind_of("terminal.input") == "terminal.keys"
    assert kind_of("ping") == kind_of("anything.else") == "other"


def test_it_tells_a_wait_rounded_up_and_never_zero() -> None:
    assert rounded_wait(0.0001) == 0.01
    assert rounded_wait(1.231) == 1.24


def test_it_reads_rates_strictly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RATE", "5/30")
    assert env_rate("RATE", "1/1") == (5, 30.0)
    monkeypatch.setenv("RATE", "")
    assert env_rate("RATE", "3/60") == (3, 60.0)
    for bad in ("5", "0/10", "5/0", "5/-1", "five/10", "5/inf", "5/nan"):
        monkeypatch.setenv("RATE", bad)
        with pytest.raises(ImproperlyConfigured, match="RATE must be COUNT/SECONDS"):
            env_rate("RATE", "1/1")
