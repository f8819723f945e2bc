"""Lesson 07 tells the three ways back apart: `rollout undo`, `rollout undo --to-revision=2`
and re-applying a file. With only two revisions a plain undo and --to-revision=2 landed on the
same Pod template, so the to-revision step could not know which one the student typed."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from lessons import ci, engine
from lessons.loader import load
from lessons.models import Lesson
from sandbox.models import Sandbox
from sandbox.terminal import workspace
from tests.conftest import run_async

pytestmark = pytest.mark.django_db(transaction=True)
MakeSandbox = Callable[..., tuple[Sandbox, str]]
IMAGE = "spring2go/spring-petclinic:{}.RELEASE"


def failures_once_settled(user: User, sandbox: Sandbox, lesson: Lesson, step: str, revision: int) -> list[str]:
    """The step's failures once the Deployment has reached `revision` (the controller numbers
    a new ReplicaSet a moment after the change)."""
    deadline = time.monotonic() + 30
    world = engine.ClusterWorld(sandbox, since=timezone.now() - timedelta(hours=1))
    while True:
        world.cache.clear()
        [deployment] = world.objects("Deployment", sandbox.namespace)
        current = int(deployment["metadata"].get("annotations", {}).get("deployment.kubernetes.io/revision", "0"))
        if current >= revision or time.monotonic() > deadline:
            assert current == revision
            return engine.step_failures(lesson.steps.get(key=step), sandbox, world)
        time.sleep(0.3)


def run(user: User, sandbox: Sandbox, *lines: str) -> None:
    assert run_async(lambda: ci.run_lines(user, sandbox, list(lines))) == ""


def to_revision_two_setup(make_sandbox: MakeSandbox) -> tuple[User, Sandbox, Lesson]:
    load()
    lesson = Lesson.objects.get(slug="deployment-history")
    sandbox, _ = make_sandbox()
    user = User.objects.get(sandboxes=sandbox)
    engine.begin(user, lesson)
    run(
        user,
        sandbox,
        "kubectl apply -f petclinic-deployment.yaml",
        f"kubectl set image deployment/petclinic petclinic={IMAGE.format('1.0.1')}",
        'kubectl annotate deployment/petclinic kubernetes.io/change-cause="upgrade to 1.0.1.RELEASE" --overwrite',
    )
    return user, sandbox, lesson


def test_re_applying_the_file_is_not_a_rollback(make_sandbox: MakeSandbox) -> None:
    user, sandbox, lesson = to_revision_two_setup(make_sandbox)
    run(user, sandbox, "kubectl apply -f petclinic-deployment.yaml")  # 1.0.0 again, as revision 3
    failures = failures_once_settled(user, sandbox, lesson, "undo", 3)
    assert any("kubectl rollout undo deployment/petclinic" in f for f in failures), failures
    run(user, sandbox, "kubectl rollout undo deployment/petclinic")  # the rollback itself
    failures = failures_once_settled(user, sandbox, lesson, "undo", 4)
    assert not any("rollout undo" in f for f in failures), failures


def test_a_plain_undo_or_an_edited_file_is_not_to_revision_2(make_sandbox: MakeSandbox) -> None:
    user, sandbox, lesson = to_revision_two_setup(make_sandbox)
    run(
        user,
        sandbox,
        "kubectl rollout undo deployment/petclinic",  # revision 3: 1.0.0
        "kubectl set env deployment/petclinic LOGGING_LEVEL_ROOT=WARN",  # revision 4
        'kubectl annotate deployment/petclinic kubernetes.io/change-cause="quieter logs" --overwrite',
    )
    assert not [f for f in failures_once_settled(user, sandbox, lesson, "quieter", 4) if "rolling out" not in f]

    # A plain undo goes to revision 3's 1.0.0, not to 1.0.1.
    run(user, sandbox, "kubectl rollout undo deployment/petclinic")
    failures = failures_once_settled(user, sandbox, lesson, "to-revision", 5)
    assert any(IMAGE.format("1.0.0") in f and IMAGE.format("1.0.1") in f for f in failures), failures
    assert any("--to-revision=2" in f for f in failures), failures

    # A file edited to 1.0.1 lands on revision 2's template, but keeps the file's own note.
    run(user, sandbox, "kubectl rollout undo deployment/petclinic --to-revision=4")  # back to revision 4's state
    text = workspace.files(sandbox)["petclinic-deployment.yaml"]
    image_line = f"image: {IMAGE.format('1.0.0')}"
    assert image_line in text
    workspace.save(sandbox, "petclinic-deployment.yaml", text.replace(image_line, f"image: {IMAGE.format('1.0.1')}"))
    run(user, sandbox, "kubectl apply -f petclinic-deployment.yaml")
    failures = failures_once_settled(user, sandbox, lesson, "to-revision", 7)
    assert not any("runs" in f and "expected" in f for f in failures), failures  # the image is right...
    assert any("revision 2's note" in f for f in failures), failures  # ...but not the note
    assert any("--to-revision=2" in f for f in failures), failures

    run(user, sandbox, "kubectl rollout undo deployment/petclinic --to-revision=2")
    failures = failures_once_settled(user, sandbox, lesson, "to-revision", 8)
    assert not any("--to-revision=2" in f or "note" in f for f in failures), failures
