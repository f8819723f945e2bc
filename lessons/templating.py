"""Placeholders in lesson text, checks and manifests: `{{ namespace }}`, `{{ node_port }}`,
`{{ registry }}`. Deliberately not a template language: a lesson file can only insert these
few values, never run code. Unknown names are errors at validation time; anything else in
double braces (a go-template such as `{{.metadata.name}}`) is left as it is."""

from __future__ import annotations

import re
from typing import Any

PLACEHOLDER = re.compile(r"\{\{\s*([a-z_]+)\s*\}\}")
NAMES = {
    "namespace": "the student's namespace",
    "node_port": "the NodePort reserved for the student's sandbox",
    "registry": "the image registry prefix ('' for Docker Hub, else 'host/' from LESSONS_IMAGE_REGISTRY)",
}
SAMPLE: dict[str, Any] = {"namespace": "sb-sample", "node_port": 30080, "registry": ""}


def problems(text: str) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        for match in PLACEHOLDER.finditer(line):
            if match.group(1) not in NAMES:
                found.append((number, f"unknown placeholder {match.group(0)}; known: {', '.join(NAMES)}"))
    return found


def render(text: str, context: dict[str, Any]) -> str:
    return PLACEHOLDER.sub(lambda m: str(context[m.group(1)]), text)


def render_data(value: Any, context: dict[str, Any]) -> Any:
    """Placeholders rendered in every string of a JSON-like value."""
    if isinstance(value, str):
        return render(value, context)
    if isinstance(value, dict):
        return {k: render_data(v, context) for k, v in value.items()}
    if isinstance(value, list):
        return [render_data(v, context) for v in value]
    return value


def is_sample_namespace(name: object) -> bool:
    sample = SAMPLE["namespace"]
    return name is None or name == sample or (isinstance(name, str) and name.startswith(f"{sample}-"))


def registry_prefix(setting: str) -> str:
    """LESSONS_IMAGE_REGISTRY as a prefix: '' stays '', 'mirror.local:5000' becomes 'mirror.local:5000/'."""
    setting = setting.strip().rstrip("/")
    return f"{setting}/" if setting else ""
