"""`lessons validate` warns about images the local real node cannot run (it pulls nothing)."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from lessons import images
from lessons.format import LessonSpec, StepSpec


def lesson(files: dict[str, str], solution: list[str]) -> LessonSpec:
    step = StepSpec(id="s", title={}, body={}, checks=[], hints=[], solution=solution, undo=[], wait_seconds=30)
    return LessonSpec(
        folder=Path("99-sample"),
        slug="sample",
        position=99,
        difficulty="easy",
        minutes=5,
        title={},
        summary={},
        size="small",
        extra_namespaces=[],
        node_ports=0,
        files=files,
        steps=[step],
    )


def test_references_are_named_as_containerd_names_them() -> None:
    assert images.normalize("nginx") == "docker.io/library/nginx:latest"
    assert images.normalize("mysql:5.7") == "docker.io/library/mysql:5.7"
    assert images.normalize("spring2go/spring-petclinic:1.0.0.RELEASE") == (
        "docker.io/spring2go/spring-petclinic:1.0.0.RELEASE"
    )
    assert images.normalize("registry.k8s.io/pause:3.10") == "registry.k8s.io/pause:3.10"
    assert images.normalize("localhost:5000/app") == "localhost:5000/app:latest"


def test_images_come_from_manifests_and_solution_lines() -> None:
    manifest = """\
apiVersion: apps/v1
kind: Deployment
spec:
  template:
    spec:
      initContainers: [{name: init, image: "{{ registry }}busybox:1.35"}]
      containers: [{name: web, image: "{{ registry }}nginx:1.27"}]
---
apiVersion: v1
kind: Pod
spec: {containers: [{name: db, image: mysql:5.7}]}
"""
    spec = lesson(
        {"web.yaml": manifest, "notes.md": "not: [yaml"},
        [
            "kubectl run a --image=redis:7",
            "kubectl create deployment b --image httpd",
            "! kubectl set image deployment/web web=nginx:1.28 init=busybox:1.35",
        ],
    )
    assert images.used(spec) == {
        "docker.io/library/busybox:1.35": "web.yaml",
        "docker.io/library/nginx:1.27": "web.yaml",
        "docker.io/library/mysql:5.7": "web.yaml",
        "docker.io/library/redis:7": "step s",
        "docker.io/library/httpd:latest": "step s",
        "docker.io/library/nginx:1.28": "step s",
    }
    warned = images.warnings([spec], {"busybox:1.35", "docker.io/library/mysql:5.7"})
    assert len(warned) == 4
    assert warned[0].startswith("99-sample: step s uses docker.io/library/httpd:latest, which the local real node")
    assert "ErrImagePull" in warned[0]


def test_the_course_uses_only_images_the_local_node_has(capsys: pytest.CaptureFixture[str]) -> None:
    call_command("lessons", "validate")
    assert "warning" not in capsys.readouterr().err
