"""What the per-student ceiling costs a line: prints figures, asserts nothing.

    python tests/bench/terminal_ceiling.py    (with the test services' environment)

The same `kubectl get pods` line through Session.run_line in two sessions of one student, one in
the student's resource group and one with the group switched off (the code path without
cgroups: subprocess's user= and prlimit), in random order, so load from elsewhere on the machine
falls on both alike.
"""

from __future__ import annotations

import asyncio
import os
import random
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402

from sandbox import provisioning  # noqa: E402
from sandbox.models import Sandbox  # noqa: E402
from sandbox.terminal.session import Session  # noqa: E402
from tests.bench.students import signed_in_student  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "60"))


class Discard:
    async def write(self, data: bytes) -> None:
        pass


async def compare(user: User, sandbox: Sandbox) -> None:
    inside, outside = Session(user, sandbox), Session(user, sandbox)
    if inside.group is None:
        print("the ceiling is off on this host; nothing to compare")
        return
    group, outside.group = outside.group, None
    times: dict[str, list[float]] = {"off": [], "on": []}
    try:
        for session in (inside, outside):
            await session.run_line("kubectl get pods", Discard())  # token, workspace, group
        for _ in range(ROUNDS):
            order = [("on", inside), ("off", outside)]
            random.shuffle(order)
            for name, session in order:
                began = time.perf_counter()
                assert await session.run_line("kubectl get pods", Discard()) == 0
                times[name].append(time.perf_counter() - began)
    finally:
        outside.group = group
        await inside.close()
        await outside.close()
    off, on = (statistics.median(times[name]) * 1000 for name in ("off", "on"))
    print(f"kubectl get pods via Session.run_line, n={ROUNDS} each, interleaved:")
    print(f"  ceiling off p50={off:6.1f} ms   on p50={on:6.1f} ms   difference {on - off:+.1f} ms")


def main() -> None:
    call_command("migrate", verbosity=0)
    sandbox, _cookie = signed_in_student("ceiling")
    try:
        asyncio.run(compare(User.objects.get(sandboxes=sandbox), sandbox))
    finally:
        provisioning.destroy(sandbox.pk)


if __name__ == "__main__":
    main()
