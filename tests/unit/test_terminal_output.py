"""The output throttle: a short answer passes at once, a flood is slowed to the rate, and a
command that prints past its total is stopped."""

from __future__ import annotations

import asyncio

import pytest

from sandbox.terminal import output
from sandbox.terminal.output import Limits, OutputLimit, Throttle


class Collect:
    def __init__(self) -> None:
        self.data = b""

    async def write(self, data: bytes) -> None:
        self.data += data


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The waits the throttle asks for (not waited here)."""
    asked: list[float] = []

    async def sleep(seconds: float) -> None:
        asked.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)  # the throttle waits through asyncio.sleep
    return asked


def test_it_lets_a_short_answer_through_without_waiting(sleeps: list[float]) -> None:
    sink = Collect()
    throttle = Throttle(sink, Limits(bytes_per_second=1024))
    chunk = b"x" * 4096

    async def write_all() -> None:
        for _ in range(output.BURST // len(chunk)):
            await throttle.write(chunk)

    asyncio.run(write_all())
    assert sleeps == []
    assert len(sink.data) == output.BURST


def test_it_slows_a_flood_to_the_rate(sleeps: list[float]) -> None:
    sink = Collect()
    rate = 64 * 1024
    throttle = Throttle(sink, Limits(bytes_per_second=rate))
    asyncio.run(throttle.write(b"x" * (output.BURST + 4 * rate)))
    # Everything past the burst waits for its share of time: about 4 s at this rate.
    assert len(sleeps) == 1
    assert 3.9 < sleeps[0] <= 4.0
    assert len(sink.data) == output.BURST + 4 * rate  # slowed, never dropped


def test_it_stops_a_command_past_its_total(sleeps: list[float]) -> None:
    throttle = Throttle(Collect(), Limits(bytes_per_command=100_000))
    with pytest.raises(OutputLimit):
        asyncio.run(throttle.write(b"x" * 100_001))
