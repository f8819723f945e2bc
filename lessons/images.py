"""Which container images a lesson uses, and which of them the local real node cannot run.

The local node has no registry: it runs only the images built on the machine
(sandbox/cluster/images.py). A lesson that names any other image works on kind, where images
are pulled, but its Pods stay in ErrImagePull here; `lessons validate` warns about it (a
warning, not an error: the lesson is still valid for kind)."""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Iterator
from typing import Any

import yaml

from lessons import templating
from lessons.format import LessonSpec, solution_line

# `--image=NAME`, `--image NAME`, and `kubectl set image TARGET CONTAINER=NAME ...`.
_IMAGE_FLAG = re.compile(r"^--image(?:=(.+))?$")


def normalize(reference: str) -> str:
    """A reference as containerd names it: docker.io/library/ for short names, :latest when
    no tag or digest is given."""
    name = reference.strip()
    first, _, rest = name.partition("/")
    if not rest:
        name = f"docker.io/library/{name}"
    elif "." not in first and ":" not in first and first != "localhost":
        name = f"docker.io/{name}"
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        name += ":latest"
    return name


def _from_manifest(data: Any) -> Iterator[str]:
    if isinstance(data, dict):
        for key, value in data.items():
            if key in ("containers", "initContainers") and isinstance(value, list):
                for container in value:
                    if isinstance(container, dict) and isinstance(container.get("image"), str):
                        yield container["image"]
            else:
                yield from _from_manifest(value)
    elif isinstance(data, list):
        for item in data:
            yield from _from_manifest(item)


def _from_line(line: str) -> Iterator[str]:
    try:
        words = shlex.split(line)
    except ValueError:
        return
    for index, word in enumerate(words):
        match = _IMAGE_FLAG.match(word)
        if match:
            value = match.group(1) or (words[index + 1] if index + 1 < len(words) else "")
            if value:
                yield value
    if words[:3] == ["kubectl", "set", "image"]:
        yield from (word.split("=", 1)[1] for word in words[4:] if "=" in word and not word.startswith("-"))


def used(lesson: LessonSpec) -> dict[str, str]:
    """Every image the lesson's files and solution lines name (normalized) -> where it is named."""
    found: dict[str, str] = {}
    context = templating.SAMPLE
    for name, text in lesson.files.items():
        try:
            documents = list(yaml.safe_load_all(templating.render(text, context)))
        except yaml.YAMLError:
            continue  # not a manifest (or validate reports it)
        for image in _from_manifest(documents):
            found.setdefault(normalize(image), name)
    for step in lesson.steps:
        for line in step.solution:
            for image in _from_line(templating.render(solution_line(line)[0], context)):
                found.setdefault(normalize(image), f"step {step.id}")
    return found


def warnings(lessons: Iterable[LessonSpec], local: set[str]) -> list[str]:
    """One line per lesson image the local node cannot run."""
    local = {normalize(name) for name in local}
    return [
        f"{lesson.folder.name}: {where} uses {image}, which the local real node cannot run (it is not built "
        "here, and no image is pulled): its Pods will stay in ErrImagePull; it works on kind"
        for lesson in lessons
        for image, where in sorted(used(lesson).items())
        if image not in local
    ]
