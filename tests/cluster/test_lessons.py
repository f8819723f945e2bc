"""Every lesson can be completed (lesson CI, as `manage.py lessons test` runs it), and the
engine and the lesson.* socket messages behave on a real sandbox."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.models import User
from django.utils import translation

from lessons import ci, engine, format, loader
from lessons.models import Lesson, StepProgress
from sandbox import api
from sandbox.models import Sandbox
from sandbox.terminal import workspace
from tests.cluster.conftest import Kubectl
from tests.cluster.test_terminal_socket import connect, run
from tests.conftest import SAME_ORIGIN, run_async

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]
SLUGS = [folder.name.split("-", 1)[1] for folder in format.discover(settings.LESSONS_DIR)]


def load() -> None:
    report = loader.load()
    assert [str(p) for p in report.problems] == []


@pytest.mark.parametrize("folder", format.discover(settings.LESSONS_DIR), ids=lambda f: f.name)
def test_the_lesson_can_be_completed(folder: Any, capsys: pytest.CaptureFixture[str]) -> None:
    load()
    lesson = Lesson.objects.get(source=folder.name)
    report = ci.run_lesson(lesson)
    with capsys.disabled():
        steps = ", ".join(f"{s.key} {s.seconds:.1f}s" for s in report.steps)
        print(f"\n  lesson {lesson.slug}: {len(report.steps)} steps in {report.seconds:.1f}s ({steps})")
    assert report.ok, report.problem or next(f"{s.key}: {s.problem}" for s in report.steps if not s.ok)
    assert [s.key for s in report.steps] == list(lesson.steps.values_list("key", flat=True))


def test_progress_hints_skip_and_reset(make_sandbox: MakeSandbox) -> None:
    load()
    lesson = Lesson.objects.get(slug="pod")
    sandbox, _ = make_sandbox()
    user = User.objects.get(sandboxes=sandbox)
    fitting, fits = engine.begin(user, lesson)
    assert fits
    assert fitting == sandbox
    assert "petclinic-pod.yaml" in workspace.files(sandbox)

    engine.check(user, lesson, sandbox)
    state = engine.state(user, lesson)
    assert [s["status"] for s in state["steps"]] == ["current", "pending", "pending", "pending"]
    assert state["steps"][0]["failures"] == [f"Pod petclinic does not exist yet in namespace {sandbox.namespace}."]
    with translation.override("zh-hans"):
        engine.check(user, lesson, sandbox)
        assert engine.state(user, lesson)["steps"][0]["failures"][0].startswith("名字空间")

    assert engine.state(user, lesson)["steps"][0]["more_hints"]
    engine.reveal_hint(user, lesson, "apply")
    first = engine.state(user, lesson)["steps"][0]
    assert len(first["hints"]) == 1
    assert not first["more_hints"]

    lines = engine.skip(user, lesson, "apply", sandbox)
    assert lines == ["kubectl apply -f petclinic-pod.yaml"]
    assert run_async(lambda: ci.run_lines(user, sandbox, lines)) == ""
    deadline_checks = 0
    while engine.state(user, lesson)["steps"][0]["status"] != "skipped" and deadline_checks < 60:
        engine.check(user, lesson, sandbox)
        deadline_checks += 1
    statuses = [s["status"] for s in engine.state(user, lesson)["steps"]]
    assert statuses[0] == "skipped"
    assert "current" in statuses  # the next step waits for its own work

    undo = engine.reset_step(user, lesson, "apply", sandbox)
    assert undo == ["kubectl delete pod petclinic --ignore-not-found"]
    assert not StepProgress.objects.filter(user=user, step__lesson=lesson, done_at__isnull=False).exists()

    workspace.save(sandbox, "petclinic-pod.yaml", "edited by the student")
    engine.begin(user, lesson)
    assert workspace.files(sandbox)["petclinic-pod.yaml"] == "edited by the student"  # never overwritten
    engine.reset_lesson(user, lesson, sandbox)
    assert workspace.files(sandbox)["petclinic-pod.yaml"].startswith("# A single Pod")
    assert not StepProgress.objects.filter(user=user).exists()


def test_a_lesson_that_needs_more_offers_a_replacement(make_sandbox: MakeSandbox, kubectl: Kubectl) -> None:
    load()
    lesson = next((lesson for lesson in Lesson.objects.all() if lesson.needs.get("extra_namespaces")), None)
    assert lesson is not None, "the curriculum has a lesson with an extra namespace (Namespaces)"
    sandbox, _ = make_sandbox()
    user = User.objects.get(sandboxes=sandbox)
    same, fits = engine.begin(user, lesson)
    assert (same, fits) == (sandbox, False)
    replacement, fits = engine.begin(user, lesson, replace=True)
    assert fits
    assert replacement is not None
    assert replacement.pk != sandbox.pk
    assert replacement.extra_namespaces == lesson.needs["extra_namespaces"]
    assert api.current(user) == replacement
    # The request removed nothing itself: the old sandbox is a worker's to remove.
    sandbox.refresh_from_db()
    assert sandbox.state == "deleting"
    assert kubectl("get", "namespace", sandbox.namespace, "-o", "name").stdout.strip()
    from sandbox import provisioning

    assert provisioning.destroy(sandbox.pk)  # what the enqueued task runs
    sandbox.refresh_from_db()
    assert sandbox.state == "deleted"
    provisioning.destroy(replacement.pk)


def test_the_socket_completes_a_step_when_the_terminal_changes_the_sandbox(make_sandbox: MakeSandbox) -> None:
    load()
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)

    async def scenario() -> None:
        communicator = await connect(owner)
        await communicator.send_json_to({"type": "lesson.open", "slug": "pod", "language": "en"})

        async def next_state() -> dict[str, Any]:
            while True:
                message: dict[str, Any] = await communicator.receive_json_from(timeout=30)
                if message["type"] == "lesson.state":
                    return message
                assert message["type"] in ("lesson.files", "terminal.output", "terminal.exit"), message

        first = await next_state()
        assert first["steps"][0]["status"] == "current"
        assert await sync_to_async(lambda: "petclinic-pod.yaml" in workspace.files(sandbox))()
        output, status = await run(communicator, "kubectl apply -f petclinic-pod.yaml")
        assert status == 0, output
        # No lesson.check sent: the finished command triggers the check by itself.
        state = await next_state()
        while state["steps"][0]["status"] != "done":
            state = await next_state()
        await communicator.send_json_to({"type": "lesson.skip", "step": "inspect"})
        message = await communicator.receive_json_from(timeout=10)
        assert message == {
            "type": "lesson.run",
            "lines": ["kubectl get pods -o wide", "kubectl describe pod petclinic"],
        }
        await communicator.send_json_to({"type": "lesson.hint", "step": "nope"})
        await communicator.send_json_to({"type": "lesson.open", "slug": "../etc"})
        while (message := await communicator.receive_json_from(timeout=10))["type"] != "lesson.error":
            pass
        assert message["message"] == "lesson.open needs a lesson 'slug'"
        await communicator.disconnect()

    run_async(scenario)


def test_the_articles_get_all_works_for_a_student_and_stays_read_only(make_sandbox: MakeSandbox) -> None:
    from tests.cluster.conftest import run_kubectl

    _, kubeconfig = make_sandbox()
    # `get all` fails as a whole when one of its kinds is forbidden.
    assert run_kubectl(kubeconfig, "get", "all", check=False).returncode == 0
    assert run_kubectl(kubeconfig, "get", "all", "-n", "kube-system", check=False).returncode == 0
    # Of the kinds it lists, the student writes Jobs, CronJobs and autoscalers in their own
    # namespace (tests/cluster/test_terminal_quick_reference.py); the rest are only read.
    manifest = "apiVersion: v1\nkind: ReplicationController\nmetadata: {name: rc}\nspec: {replicas: 0}\n"
    refused = run_kubectl(kubeconfig, "create", "-f", "-", input=manifest, check=False)
    assert refused.returncode != 0
    assert 'cannot create resource "replicationcontrollers"' in refused.stderr
    refused = run_kubectl(kubeconfig, "create", "job", "j", "--image=busybox", "-n", "kube-system", check=False)
    assert refused.returncode != 0
    assert 'cannot create resource "jobs"' in refused.stderr


def test_a_pod_on_a_simulated_node_has_no_made_up_logs(make_sandbox: MakeSandbox) -> None:
    # Pods land on the real node unless they ask for kwok's simulated ones (the benchmarks'
    # crowds; CLUSTER=local-sim has no other). Nothing runs there, and nothing pretends to:
    # `logs` fails as it would for a container that never started.
    from tests.bench.simulated import kubectl_run_overrides
    from tests.cluster.conftest import run_kubectl

    _, kubeconfig = make_sandbox()
    on_kwok = f"--overrides={kubectl_run_overrides()}"
    run_kubectl(kubeconfig, "run", "petclinic", "--image=spring2go/spring-petclinic:1.0.0.RELEASE", on_kwok)
    run_kubectl(kubeconfig, "wait", "--for=condition=Ready", "pod/petclinic", "--timeout=60s")
    logs = run_kubectl(kubeconfig, "logs", "petclinic", check=False)
    assert logs.returncode != 0
    assert logs.stdout == ""
    assert 'no logs found for container "petclinic"' in logs.stderr


def test_hostile_lesson_messages_get_an_error_and_the_socket_survives(make_sandbox: MakeSandbox) -> None:
    load()
    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)

    async def scenario() -> None:
        communicator = await connect(owner)
        for message in (
            {"type": "lesson.open", "slug": "pod\u0000"},
            {"type": "lesson.open", "slug": ["pod"]},
            {"type": "lesson.open", "slug": "pod", "language": "<script>"},
            {"type": "lesson.hint", "step": "apply\u0000"},
            {"type": "lesson.skip", "step": {"key": "apply"}},
        ):
            await communicator.send_json_to(message)
        seen: list[dict[str, Any]] = []
        while len([m for m in seen if m["type"] in ("lesson.error", "lesson.state")]) < 5:
            seen.append(await communicator.receive_json_from(timeout=20))
        assert [m["type"] for m in seen if m["type"].startswith("lesson.") and m["type"] != "lesson.files"] == [
            "lesson.error",
            "lesson.error",
            "lesson.state",
            "lesson.error",
            "lesson.error",
        ]
        await communicator.send_json_to({"type": "ping"})
        assert await communicator.receive_json_from(timeout=10) == {"type": "pong"}
        await communicator.disconnect()

    run_async(scenario)


def test_a_student_cannot_open_sockets_without_limit(make_sandbox: MakeSandbox) -> None:
    from channels.testing import WebsocketCommunicator

    from config.asgi import application
    from sandbox.realtime.limits import MAX_SOCKETS_PER_USER
    from tests.cluster.test_terminal_socket import cookie_for

    sandbox, _ = make_sandbox()
    owner = User.objects.get(sandboxes=sandbox)

    async def scenario() -> None:
        sockets = [await connect(owner) for _ in range(MAX_SOCKETS_PER_USER)]
        cookie = await sync_to_async(cookie_for)(owner)
        extra = WebsocketCommunicator(
            application,
            "/ws/sandbox/",
            headers=[(b"cookie", cookie), *SAME_ORIGIN],
        )
        connected, code = await extra.connect(timeout=10)
        assert (connected, code) == (False, 4429)
        await extra.wait(timeout=5)  # the refused consumer has finished (left pending, it hangs the loop's shutdown)
        await sockets[0].disconnect()
        again = await connect(owner)  # a closed socket frees its place
        for socket in [*sockets[1:], again]:
            await socket.disconnect()

    run_async(scenario)
