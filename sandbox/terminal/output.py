"""Where a terminal line's output goes: bytes for xterm.js (CRLF line ends) to a Sink, through a
Throttle that slows a fast command down and stops one that prints without end."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Protocol

RED, DIM, RESET = "\x1b[31m", "\x1b[2m", "\x1b[0m"
CLEAR = "\x1b[H\x1b[2J\x1b[3J"


class Sink(Protocol):
    async def write(self, data: bytes) -> None: ...


@dataclass
class Limits:
    command_seconds: float = 120.0
    streaming_seconds: float = 1800.0
    bytes_per_second: int = 512 * 1024
    bytes_per_command: int = 16 * 1024 * 1024
    history: int = 500


class OutputLimit(Exception):
    pass


BURST = 64 * 1024


class Throttle:
    """Caps a command's output: a rate (the command is slowed, not dropped) and a total. The
    first BURST bytes of each window pass at once: a short answer (most of what students run)
    never waits, and a long one still averages the rate."""

    def __init__(self, sink: Sink, limits: Limits) -> None:
        self.sink, self.limits = sink, limits
        self.total = 0
        self.window_start = time.monotonic()
        self.window_bytes = 0

    async def write(self, data: bytes) -> None:
        self.total += len(data)
        if self.total > self.limits.bytes_per_command:
            raise OutputLimit
        self.window_bytes += len(data)
        elapsed = time.monotonic() - self.window_start
        allowed = BURST + self.limits.bytes_per_second * elapsed
        if self.window_bytes > allowed:
            await asyncio.sleep((self.window_bytes - allowed) / self.limits.bytes_per_second)
        if elapsed > 1.0:
            self.window_start, self.window_bytes = time.monotonic(), 0
        await self.sink.write(data)


def error_line(message: str) -> bytes:
    """A message of ours, in red, on a line of its own."""
    return f"{RED}{message}{RESET}\r\n".encode()
