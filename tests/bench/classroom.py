"""A class at once: prints figures, asserts nothing.

    make bench-class                       (BENCH_CLASS_SIZES=50,100,200 by default)

For each class size N, N students work at the same time against real processes (daphne, Celery
workers, the watcher, Redis, PostgreSQL, the local API server with its simulated nodes), each
over HTTP and one WebSocket exactly as the page does: sign in with the login form, subscribe
to the live view, start a sandbox (the pool holds one for half of the class: the first to come
get those, the others wait for a new one), open lesson 02 and type its solution lines into the terminal with the
automatic checks on, at a class's pace: they arrive within BENCH_CLASS_RAMP_SECONDS (30) and
pause BENCH_CLASS_THINK_SECONDS (20, on average) before each line, as a student reads and
types (see THINK below). They sign in just before the clock starts.
Reported per size: sandbox start p50/p95 (warm, cold), terminal line round
trip p50/p95, time from a line's end to the check result that marks its step done p50/p95, the
live view's latency (a Pod's `kubectl apply` ending → its event on the page) p95, API requests
per second to the API server and per student per minute, CPU and memory of the web server, the
workers and the watcher, and errors. Bounded in time (BENCH_CLASS_SECONDS per size) and count;
loopback only. On a cluster others use too, the API server's counter includes their requests:
the rate measured just before each class (BENCH_CLASS_QUIET_SECONDS) is printed and taken off,
and the web server counts its own requests (tests/bench/counted_web.py).
BENCH_CLASS_PORT moves the web server off 18768 (two runs at once).
"""

from __future__ import annotations

import asyncio
import http.cookiejar
import json
import os
import random
import re
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import websockets  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import Group, User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connections  # noqa: E402

from accounts.roles import Role, ensure_role_groups  # noqa: E402
from lessons.models import Lesson  # noqa: E402
from sandbox import lifecycle, provisioning  # noqa: E402
from sandbox.cluster.tools import kubectl  # noqa: E402
from sandbox.models import LIVE_STATES, Sandbox  # noqa: E402
from tests.processes import server_log, start_celery_worker, start_daphne, start_watcher, stop  # noqa: E402

PORT = int(os.environ.get("BENCH_CLASS_PORT", "18768"))
SIZES = [int(n) for n in os.environ.get("BENCH_CLASS_SIZES", "50,100,200").split(",")]
SECONDS = float(os.environ.get("BENCH_CLASS_SECONDS", "240"))  # the longest one class may take
WORKERS = int(os.environ.get("BENCH_CLASS_WORKERS", "2"))
# Seconds the API server's counter is read with no class at work, before each class: on a
# shared cluster, what other clients send then is taken off the class's figure.
QUIET = float(os.environ.get("BENCH_CLASS_QUIET_SECONDS", "20"))
# A class's pace: the students open the page within RAMP seconds of the start (the instructor
# says "go"), and each reads and types for THINK seconds on average (half to one and a half
# times that) before each line. Lesson 02 plans 15 minutes for its 5 lines, a line every 3
# minutes: 20 s is nine times faster than that. 3 s (the stress case) or 0 and 0 (all at once)
# measure a machine past its capacity instead.
RAMP = float(os.environ.get("BENCH_CLASS_RAMP_SECONDS", "30"))
THINK = float(os.environ.get("BENCH_CLASS_THINK_SECONDS", "20"))
SIGN_IN_AT_ONCE = 8
pace = random.Random(12)  # noqa: S311  (the same pace in every run; nothing secret)
LESSON = "pod"
PASSWORD = "bench-only-password"
ORIGIN = f"http://127.0.0.1:{PORT}"
# Client side only: the students' HTTP calls run in threads, so that the class's own requests
# never wait for one another in the benchmark.
http_pool = ThreadPoolExecutor(max_workers=64)


@dataclass
class Figures:
    sign_in: list[float] = field(default_factory=list)
    start_warm: list[float] = field(default_factory=list)
    start_cold: list[float] = field(default_factory=list)
    line: list[float] = field(default_factory=list)
    by_command: dict[str, list[float]] = field(default_factory=dict)  # "kubectl delete" -> times
    check: list[float] = field(default_factory=list)
    live: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def rss_mib(pid: int) -> float:
    return int(Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split()[0]) / 1024


def tree(pid: int) -> Iterator[int]:
    """The process and its descendants (Celery's pool children, the terminals' kubectl)."""
    yield pid
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        for child in children.read_text().split():
            yield from tree(int(child))


def usage(pid: int) -> tuple[float, float]:
    cpu = rss = 0.0
    for member in tree(pid):
        try:
            cpu += cpu_seconds(member)
            rss += rss_mib(member)
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
    return cpu, rss


def api_requests() -> Counter[str]:
    """Requests the API server has served so far (its own counter, every client), by verb and
    resource ("LIST pods"): the report sums them and names where they went."""
    out = subprocess.run(
        [kubectl(), "--kubeconfig", str(settings.CLUSTER_ADMIN_KUBECONFIG), "get", "--raw", "/metrics"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    counts: Counter[str] = Counter()
    for line in out.splitlines():
        if line.startswith("apiserver_request_total{"):
            labels = dict(LABEL.findall(line))
            kind = labels.get("resource") or "(non-resource)"
            if labels.get("subresource"):
                kind += "/" + labels["subresource"]
            counts[f"{labels.get('verb', '?')} {kind}"] += int(float(line.rsplit(" ", 1)[1]))
    return counts


LABEL = re.compile(r'(\w+)="([^"]*)"')


def lists(counts: Counter[str]) -> int:
    return sum(n for key, n in counts.items() if key.startswith("LIST "))


COUNT_FILE = Path(f"/tmp/bench-class-web-requests-{os.getpid()}")


def web_requests(server: subprocess.Popen[bytes]) -> int:
    """The web server's own Kubernetes API requests so far (tests/bench/counted_web.py): the
    pages' snapshots and the lesson checks, whatever else uses the cluster."""
    COUNT_FILE.unlink(missing_ok=True)
    server.send_signal(signal.SIGUSR1)
    deadline = time.monotonic() + 10
    while not COUNT_FILE.exists() or not COUNT_FILE.read_text():
        if time.monotonic() > deadline:
            raise RuntimeError("the web server did not write its request count")
        time.sleep(0.05)
    return int(COUNT_FILE.read_text())


def background() -> tuple[float, float]:
    """Requests per second (all, LISTs) while no class works: other clients of the cluster."""
    before, t0 = api_requests(), time.monotonic()
    time.sleep(QUIET)
    used, elapsed = api_requests() - before, time.monotonic() - t0
    return used.total() / elapsed, lists(used) / elapsed


class Student:
    def __init__(self, name: str, figures: Figures) -> None:
        self.name, self.figures = name, figures
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.events: dict[str, float] = {}  # Pod name -> when its first event arrived
        self.doing = "signing in"  # for an error's message

    def cookie(self, name: str) -> str:
        return next((c.value or "" for c in self.jar if c.name == name), "")

    def _http(self, path: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> str:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        # Always http://127.0.0.1:PORT: the address is ours, never taken from input.
        request = urllib.request.Request(  # noqa: S310
            ORIGIN + path, data=body, headers={"Referer": ORIGIN + "/", **(headers or {})}
        )
        with self.opener.open(request, timeout=30) as answer:
            return str(answer.read().decode())

    async def http(self, path: str, data: dict[str, str] | None = None, headers: dict[str, str] | None = None) -> str:
        return await asyncio.get_running_loop().run_in_executor(http_pool, self._http, path, data, headers)

    async def sign_in(self) -> None:
        await self.http("/accounts/login/")
        form = {"username": self.name, "password": PASSWORD, "csrfmiddlewaretoken": self.cookie("csrftoken")}
        await self.http("/accounts/login/", form)
        if not self.cookie("sessionid"):
            raise RuntimeError("login failed")

    async def listen(self, ws: websockets.ClientConnection) -> None:
        async for raw in ws:
            message = json.loads(raw)
            if message["type"] == "cluster.event" and message["object"].get("kind") == "Pod":
                self.events.setdefault(message["object"]["name"], time.perf_counter())
            elif message["type"] in ("error", "lesson.error"):
                self.figures.errors.append(f"{self.name}: {message.get('message')}")
            else:
                await self.inbox.put(message)

    async def expect(self, kind: str, timeout: float = 60) -> dict[str, Any]:
        return await self.expect_any(kind, timeout=timeout)

    async def expect_any(self, *kinds: str, timeout: float = 60) -> dict[str, Any]:
        """The next message of one of these types (others are skipped)."""
        while True:
            try:
                message = await asyncio.wait_for(self.inbox.get(), timeout)
            except TimeoutError:
                raise TimeoutError(f"no {' or '.join(kinds)} within {timeout:.0f} s while {self.doing}") from None
            if message["type"] in kinds:
                return message

    async def start_sandbox(self) -> None:
        """As the page does: one POST, then the sandbox's states come over the socket
        (sandbox.status), with no polling. Warm when the answer is a ready sandbox (one from
        the pool): who gets one depends on who comes first, not on who was meant to."""
        began = time.perf_counter()
        answer = json.loads(await self.http("/sandbox/start", {}, {"X-CSRFToken": self.cookie("csrftoken")}))
        warm = answer.get("state") == "ready"
        while answer.get("state") != "ready":
            if answer.get("state") in ("failed", "error"):
                raise RuntimeError(f"sandbox did not start: {answer}")
            left = 120 - (time.perf_counter() - began)
            if left <= 0:
                raise RuntimeError(f"sandbox not ready after 120 s: {answer}")
            try:
                answer = (await self.expect("sandbox.status", timeout=left))["sandbox"]
            except TimeoutError as exc:  # what the server says now tells a lost message from a slow start
                now = json.loads(await self.http("/sandbox/status")).get("state")
                raise TimeoutError(f"{exc}; last state {answer.get('state')!r}, the server says {now!r} now") from None
        (self.figures.start_warm if warm else self.figures.start_cold).append(time.perf_counter() - began)

    async def work(self, solutions: list[tuple[str, list[str]]]) -> None:
        async with websockets.connect(
            f"ws://127.0.0.1:{PORT}/ws/sandbox/",
            additional_headers={"Cookie": f"sessionid={self.cookie('sessionid')}", "Origin": ORIGIN},
            max_size=None,
        ) as ws:
            listener = asyncio.create_task(self.listen(ws))
            try:
                self.doing = "connecting"
                await self.expect("hello")
                self.doing = "starting the sandbox"
                await self.start_sandbox()
                self.doing = "subscribing"
                await ws.send(json.dumps({"type": "cluster.subscribe"}))
                await self.expect("cluster.snapshot")
                await ws.send(json.dumps({"type": "lesson.open", "slug": LESSON, "language": "en"}))
                await self.expect("lesson.state")
                for step, lines in solutions:
                    ended = 0.0
                    for line in lines:
                        await asyncio.sleep(THINK * pace.uniform(0.5, 1.5))
                        self.doing = f"running {line!r}"
                        sent = time.perf_counter()
                        await ws.send(json.dumps({"type": "terminal.run", "line": line}))
                        output: list[str] = []
                        while (answer := await self.expect_any("terminal.output", "terminal.exit"))["type"] != (
                            "terminal.exit"
                        ):
                            output.append(answer["data"])
                        ended = time.perf_counter()
                        self.figures.line.append(ended - sent)
                        self.figures.by_command.setdefault(" ".join(line.split()[:2]), []).append(ended - sent)
                        if answer["status"] != 0:
                            said = "".join(output).strip()[-160:]
                            self.figures.errors.append(f"{self.name}: {line!r} exited {answer['status']}: {said}")
                        if line.startswith("kubectl apply"):
                            await self.wait_event("petclinic", ended)
                    self.doing = f"waiting for step {step!r} to be done"
                    await self.wait_done(step, ended)
            finally:
                listener.cancel()

    async def wait_event(self, pod: str, since: float) -> None:
        deadline = time.perf_counter() + 30
        while pod not in self.events and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        if pod in self.events:
            self.figures.live.append(max(0.0, self.events[pod] - since))
        else:
            self.figures.errors.append(f"{self.name}: no live view event for {pod}")

    async def wait_done(self, step: str, since: float) -> None:
        """The first lesson.state after the step's last line that marks the step done."""
        while True:
            state = await self.expect("lesson.state", timeout=60)
            statuses = {s["key"]: s["status"] for s in state["steps"]}
            if statuses.get(step) in ("done", "skipped"):
                self.figures.check.append(time.perf_counter() - since)
                return


def solutions() -> list[tuple[str, list[str]]]:
    lesson = Lesson.objects.get(slug=LESSON, active=True)
    return [(step.key, list(step.solution)) for step in lesson.steps.all()]


def make_class(size: int, tag: str) -> list[str]:
    ensure_role_groups()
    hashed = make_password(PASSWORD)
    users = User.objects.bulk_create(User(username=f"{tag}-{i}", password=hashed) for i in range(size))
    group = Group.objects.get(name=Role.STUDENT.value)
    group.user_set.add(*users)
    return [user.username for user in users]


def fill_pool(count: int) -> None:
    """Ready, unowned sandboxes: the first `count` students to start get one of these. Made
    four at a time, before the clock starts."""

    def one(_: int) -> None:
        try:
            sandbox = lifecycle.create_sandbox(None, enqueue=False)
            provisioning.provision(sandbox.pk)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as makers:
        list(makers.map(one, range(count)))


def destroy_all() -> None:
    """Every sandbox the class left, four at a time (after the figures)."""

    def one(pk: int) -> None:
        try:
            provisioning.destroy(pk)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=4) as removers:
        list(removers.map(one, Sandbox.objects.filter(state__in=LIVE_STATES).values_list("pk", flat=True)))


async def sign_in_all(names: list[str], figures: Figures) -> list[Student]:
    """Everyone signs in before the clock starts, SIGN_IN_AT_ONCE at a time, as students do
    while they sit down. A sign-in is mostly the password hash (PBKDF2, Django's default cost:
    about 0.4 s of CPU each here): 200 of them inside the class's first half minute would fill
    both cores with hashing alone and measure the hasher, not the class."""
    gate = asyncio.Semaphore(SIGN_IN_AT_ONCE)

    async def one(student: Student) -> Student:
        async with gate:
            began = time.perf_counter()
            await student.sign_in()
            figures.sign_in.append(time.perf_counter() - began)
            return student

    return list(await asyncio.gather(*(one(Student(name, figures)) for name in names)))


async def run_class(students: list[Student], steps: list[tuple[str, list[str]]]) -> None:
    figures = students[0].figures

    async def one(student: Student, arrives: float) -> None:
        await asyncio.sleep(arrives)
        try:
            await student.work(steps)
        except Exception as exc:
            figures.errors.append(f"{student.name}: {type(exc).__name__}: {exc}")

    tasks = [asyncio.create_task(one(student, pace.uniform(0, RAMP))) for student in students]
    _, pending = await asyncio.wait(tasks, timeout=SECONDS)
    for task in pending:
        task.cancel()
        figures.errors.append("a student did not finish within the time bound")


def report(
    size: int,
    figures: Figures,
    elapsed: float,
    requests: Counter[str],
    quiet: tuple[float, float],
    web: int,
    processes: dict[str, tuple[float, float]],
) -> None:
    def ms(values: list[float], q: float) -> str:
        return f"{pct(values, q) * 1000:7.0f} ms"

    print(f"class of {size}: {elapsed:.0f} s, errors {len(figures.errors)}")
    print(f"  pace: arrivals over {RAMP:.0f} s, {THINK:.1f} s on average before each line")
    print(
        f"  sandbox start  warm ({len(figures.start_warm)}) p50 {ms(figures.start_warm, 0.5)}"
        f"  p95 {ms(figures.start_warm, 0.95)}   cold ({len(figures.start_cold)}) p50 {ms(figures.start_cold, 0.5)}"
        f"  p95 {ms(figures.start_cold, 0.95)}"
    )
    print(f"  terminal line  p50 {ms(figures.line, 0.5)}  p95 {ms(figures.line, 0.95)}   ({len(figures.line)} lines)")
    for command, times in sorted(figures.by_command.items()):
        print(f"    {command:<20} p50 {ms(times, 0.5)}  p95 {ms(times, 0.95)}  max {ms(times, 1.0)}")
    print(
        f"  check result after the change  p50 {ms(figures.check, 0.5)}  "
        f"p95 {ms(figures.check, 0.95)}  (goal p95 < 1000 ms)"
    )
    print(f"  live view: apply ended -> Pod event  p95 {ms(figures.live, 0.95)}")
    every, listed = requests.total(), lists(requests)
    per_minute = every / size / (elapsed / 60)
    print(
        f"  API requests {every / elapsed:7.1f}/s, {per_minute:6.1f} per student per minute,"
        f" {every / size:6.1f} per student over the whole lesson"
    )
    # Less what the cluster's other clients sent per second just before (a shared cluster).
    own, own_lists = every / elapsed - quiet[0], listed / elapsed - quiet[1]
    print(
        f"  less the background ({quiet[0]:.1f}/s, LIST {quiet[1]:.1f}/s): {own:7.1f}/s,"
        f" {own * 60 / size:6.1f} per student per minute; LIST {own_lists * 60 / size:6.1f} per student per minute"
    )
    print(
        f"  web server's own API requests (snapshots, checks): {web}, {web * 60 / size / elapsed:6.1f}"
        " per student per minute"
    )
    # Where they went (every client, background included): what grows with the class shows here.
    top = ", ".join(f"{key} {n / size:.1f}" for key, n in requests.most_common(8))
    print(f"  API requests per student over the lesson, the most common: {top}")
    for name, (cpu, rss) in processes.items():
        print(f"  {name:<8} CPU {cpu / elapsed * 100:6.1f}% of a core   RSS {rss:7.1f} MiB")
    for error in figures.errors[:10]:
        print(f"    error: {error}")


def main() -> None:
    call_command("migrate", verbosity=0)
    call_command("lessons", "load", verbosity=0)
    env = {
        **os.environ,
        "CHANNEL_LAYER": "redis",
        "LOG_LEVEL": "WARNING",
        # No pool while the class is set up: fill_pool() makes it, and the workers of each class
        # keep it at that size as students claim from it (see below), as a deployment does.
        "SANDBOX_POOL_SIZE": "0",
        # A whole class at once from one address: the platform's per-student and per-address limits
        # are not what this measures.
        "SANDBOX_MAX_LIVE": "0",
        "SANDBOX_START_LIMIT": "0",
    }
    server = start_daphne(PORT, env | {"BENCH_REQUEST_COUNT_FILE": str(COUNT_FILE)}, module="tests.bench.counted_web")
    watcher = start_watcher(env)
    workers: list[subprocess.Popen[bytes]] = []
    try:
        time.sleep(5)  # the watcher lists every kind first
        logged = watcher_logged = 0
        for size in SIZES:
            tag = f"class{size}-{int(time.time())}"
            names = make_class(size, tag)
            warm = size // 2
            print(f"class of {size}: filling the warm pool with {warm} sandboxes…", flush=True)
            fill_pool(warm)
            # Workers whose pool size is this class's: a claim's refill makes a new one, as in a
            # deployment (with 0, the first claim's refill would remove the whole pool).
            workers = [start_celery_worker(env | {"SANDBOX_POOL_SIZE": str(warm)}, f"class{i}") for i in range(WORKERS)]
            processes = {"web": server, **{f"worker{i}": w for i, w in enumerate(workers)}, "watcher": watcher}
            figures = Figures()
            began = time.monotonic()
            students = asyncio.run(sign_in_all(names, figures))
            signed_in = time.monotonic() - began
            quiet = background()
            before = {name: usage(p.pid) for name, p in processes.items()}
            web0, api0, t0 = web_requests(server), api_requests(), time.monotonic()
            asyncio.run(run_class(students, solutions()))
            elapsed = time.monotonic() - t0
            one = f"p50 {pct(figures.sign_in, 0.5) * 1000:.0f} ms, p95 {pct(figures.sign_in, 0.95) * 1000:.0f} ms"
            print(f"\nclass of {size}: signed in first, {SIGN_IN_AT_ONCE} at a time, in {signed_in:.0f} s ({one})")
            web1, api1 = web_requests(server), api_requests()
            after = {name: usage(p.pid) for name, p in processes.items()}
            used = {name: (after[name][0] - before[name][0], after[name][1]) for name in processes}
            report(size, figures, elapsed, api1 - api0, quiet, web1 - web0, used)
            log = server_log(server)
            logged_before = logged
            server_errors = [line for line in log.splitlines()[logged:] if "ERROR" in line or "Traceback" in line]
            logged = len(log.splitlines())
            print(f"  errors in the web server's log: {len(server_errors)}")
            for line in dict.fromkeys(server_errors[:5]):
                print(f"    {line[:200]}")
            lines = log.splitlines()
            first = next((i for i, line in enumerate(lines) if line.startswith("Traceback")), None)
            if first is not None:  # the first traceback's end says what went wrong
                # ...which is the line before the next log record (records start with the date).
                end = next((i for i in range(first + 1, len(lines)) if lines[i][:1].isdigit()), len(lines))
                print("    " + "\n    ".join(lines[max(first, end - 6) : end]))
            # Both say when changes travelled late, and the watcher when questions came too late.
            late = [line for line in lines[logged_before:] if "after the watcher saw them" in line]
            for line in late[:5]:
                print(f"  web: {line[:220]}")
            unanswered = sum("did not answer within" in line for line in lines[logged_before:])
            print(f"  questions the watcher did not answer in time (read from the API server instead): {unanswered}")
            said = server_log(watcher).splitlines()
            for line in [line for line in said[watcher_logged:] if "WARNING" in line][:5]:
                print(f"  watcher: {line[:220]}")
            watcher_logged = len(said)
            stop(*workers)
            workers = []
            destroy_all()
    finally:
        stop(server, watcher, *workers)
        destroy_all()


if __name__ == "__main__":
    main()
