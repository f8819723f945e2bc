"""The query a terminal line makes before it runs: the student's live sandbox, the same one
sandbox.lifecycle names, read with its workspace's version, which every change moves."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from sandbox import lifecycle
from sandbox.models import Sandbox, State
from sandbox.terminal import workspace

pytestmark = pytest.mark.django_db


def version(owner: User) -> workspace.Version | None:
    sandbox = workspace.live_sandbox(owner)
    assert sandbox is not None
    return workspace.version_of(sandbox)


def test_it_finds_the_sandbox_lifecycle_finds() -> None:
    student, outsider = User.objects.create_user("sam"), User.objects.create_user("olga")
    Sandbox.objects.create(owner=student, namespace="sbx-old", state=State.DELETED, node_port=30301)
    live = Sandbox.objects.create(owner=student, namespace="sbx-live", state=State.READY, node_port=30302)
    Sandbox.objects.create(owner=outsider, namespace="sbx-other", state=State.READY, node_port=30303)
    found = workspace.live_sandbox(student)
    assert found == lifecycle.live_sandbox(student) == live
    assert found is not None
    assert found.namespace == "sbx-live"
    assert found.state == State.READY
    assert workspace.live_sandbox(User.objects.create_user("nobody")) is None


def test_every_change_of_the_workspace_changes_its_version() -> None:
    student = User.objects.create_user("sam")
    sandbox = Sandbox.objects.create(owner=student, namespace="sbx-v", state=State.READY, node_port=30304)
    seen = [version(student)]
    assert seen[0] == (0, None)
    workspace.save(sandbox, "pod.yaml", "kind: Pod\n")  # a new file
    seen.append(version(student))
    workspace.save(sandbox, "svc.yaml", "kind: Service\n")  # another
    seen.append(version(student))
    workspace.save(sandbox, "pod.yaml", "kind: Pod\nmetadata: {}\n")  # an edit
    seen.append(version(student))
    workspace.delete(sandbox, "svc.yaml")  # a deletion
    seen.append(version(student))
    workspace.delete(sandbox, "pod.yaml")
    workspace.save(sandbox, "pod.yaml", "kind: Pod\n")  # deleted and made again
    seen.append(version(student))
    assert len(set(seen)) == len(seen), seen
    assert version(student) == version(student)  # and nothing else does
    assert workspace.version(sandbox.pk)[0] == 1  # the query a session makes without the socket's


def test_a_sandbox_read_otherwise_has_no_version() -> None:
    student = User.objects.create_user("sam")
    sandbox = Sandbox.objects.create(owner=student, namespace="sbx-n", state=State.READY, node_port=30305)
    assert workspace.version_of(Sandbox.objects.get(pk=sandbox.pk)) is None
