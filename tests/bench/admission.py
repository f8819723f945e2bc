"""Admission benchmark: what the start limit, the cap and the line cost a request. Prints
figures, asserts nothing; needs only the database (no cluster: the class is full, so nothing
is provisioned).

    DATABASE_URL=postgres://... python tests/bench/admission.py [--waiting 200] [--rounds 200]

Fills the platform with SANDBOX_MAX_LIVE rows owned by stand-in students, puts --waiting
students in line, then times over HTTP (Django's test client, the whole middleware stack): a
new student's start (refused, joins the line), the last in line asking again (keeps the
place), and their page's status poll. Everything it creates is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402

from sandbox import admission  # noqa: E402
from sandbox.models import Sandbox, State  # noqa: E402


def timed(action: Callable[[], object], rounds: int) -> list[float]:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def report(name: str, samples: list[float]) -> None:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    print(f"{name:<52} p50 {statistics.median(ordered):6.2f} ms   p95 {p95:6.2f} ms   (n={len(ordered)})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--waiting", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=200)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    tag = f"bench-{uuid.uuid4().hex[:6]}"
    places = 50
    try:
        with override_settings(SANDBOX_MAX_LIVE=places, ALLOWED_HOSTS=["testserver"]):
            for number in range(places):
                owner = User.objects.create_user(f"{tag}-live{number}")
                Sandbox.objects.create(owner=owner, namespace=f"{tag}-{number}", state=State.READY)
            waiting = [User.objects.create_user(f"{tag}-wait{number}") for number in range(args.waiting)]
            for user in waiting:
                with contextlib.suppress(admission.StartRefused):  # joins the line
                    admission.request_start(user)
            last = Client()
            last.force_login(waiting[-1])
            newcomer_samples: list[float] = []
            for number in range(args.rounds):
                client = Client()
                client.force_login(User.objects.create_user(f"{tag}-new{number}"))
                started = time.perf_counter()
                client.post("/sandbox/start")  # 429: in line
                newcomer_samples.append((time.perf_counter() - started) * 1000)
            print(f"database: {connection.vendor}; {places} places taken, {args.waiting} in line")
            report(f"start refused, joins a line of {args.waiting}+", newcomer_samples)
            report(
                "start asked again by one in line (keeps the place)",
                timed(lambda: last.post("/sandbox/start"), args.rounds),
            )
            report("status poll of one in line", timed(lambda: last.get("/sandbox/status"), args.rounds))
            placed = Client()
            placed.force_login(User.objects.get(username=f"{tag}-live0"))
            report(
                "reference: status poll of one with a sandbox",
                timed(lambda: placed.get("/sandbox/status"), args.rounds),
            )
            calls: list[tuple[str, Callable[[], object]]] = [
                ("start asked again", lambda: last.post("/sandbox/start")),
                ("status poll in line", lambda: last.get("/sandbox/status")),
            ]
            for name, call in calls:
                with CaptureQueriesContext(connection) as queries:
                    call()
                print(f"{name}: {len(queries)} SQL statements (session and user lookups included)")
    finally:
        Sandbox.objects.filter(namespace__startswith=tag).delete()
        User.objects.filter(username__startswith=tag).delete()  # their places go with them


if __name__ == "__main__":
    main()
