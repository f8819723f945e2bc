"""Reading and validating lesson folders: every problem with its file and line; the real
lessons in lessons/content all valid; Markdown markers rendered safely."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from django.conf import settings

from lessons import format, markers, templating

GOOD = """\
slug: demo
position: 1
difficulty: beginner
minutes: 5
title: {en: Demo, zh-hans: 演示}
summary: {en: A demo., zh-hans: 一个演示。}
files: [web.yaml]
steps:
  - id: first
    title: {en: First, zh-hans: 第一步}
    checks:
      - exists: {kind: Pod, name: web}
    solution:
      - kubectl apply -f web.yaml
"""
WEB = (
    "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n"
    "spec:\n  containers: [{name: web, image: '{{ registry }}nginx'}]\n"
)


def make(tmp_path: Path, lesson: str = GOOD, files: dict[str, str] | None = None) -> Path:
    folder = tmp_path / "01-demo"
    (folder / "steps").mkdir(parents=True)
    (folder / "manifests").mkdir()
    (folder / "lesson.yaml").write_text(lesson)
    contents = {
        "steps/first.en.md": "Run it:\n\n```run\nkubectl get pods\n```\n",
        "steps/first.zh-hans.md": "运行\n\n```run\nkubectl get pods\n```\n",
        "manifests/web.yaml": WEB,
    }
    for name, content in (contents | (files or {})).items():
        (folder / name).write_text(content)
    return folder


def problems(folder: Path) -> list[str]:
    with pytest.raises(format.LessonError) as info:
        format.load(folder)
    return [str(p).replace(str(folder) + "/", "") for p in info.value.problems]


def test_a_good_lesson_loads(tmp_path: Path) -> None:
    spec = format.load(make(tmp_path))
    assert spec.slug == "demo"
    assert [s.id for s in spec.steps] == ["first"]
    assert spec.steps[0].wait_seconds == format.DEFAULT_WAIT_SECONDS
    assert spec.files == {"web.yaml": WEB}


def test_schema_errors_name_the_line(tmp_path: Path) -> None:
    bad = GOOD.replace("difficulty: beginner", "difficulty: wizard").replace(
        "      - exists: {kind: Pod, name: web}", "      - exists: {kind: Node, name: web}"
    )
    found = problems(make(tmp_path, bad))
    assert "lesson.yaml:3: difficulty: 'wizard' is not one of ['beginner', 'intermediate', 'advanced']" in found
    assert any(p.startswith("lesson.yaml:12: steps.0.checks.0.exists.kind") for p in found), found


def test_missing_translation_and_unknown_keys(tmp_path: Path) -> None:
    bad = GOOD.replace("title: {en: Demo, zh-hans: 演示}", "title: {en: Demo}").replace(
        "minutes: 5", "minutes: 5\ncolour: red"
    )
    found = problems(make(tmp_path, bad))
    assert any(p.startswith("lesson.yaml:6: title: 'zh-hans' is a required property") for p in found), found
    assert any(p.startswith("lesson.yaml:1: lesson: Additional properties are not allowed ('colour'") for p in found), (
        found
    )


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    found = problems(make(tmp_path, GOOD.replace("minutes: 5", "minutes: [5")))
    assert found[0].startswith("lesson.yaml:")
    assert "not valid YAML" in found[0]


def test_what_the_schema_cannot_say(tmp_path: Path) -> None:
    bad = GOOD.replace(
        "      - exists: {kind: Pod, name: web}",
        textwrap.indent(
            textwrap.dedent("""\
            - exists: {kind: Pod, name: web}
              absent: {kind: Pod, name: db}
            - field: {kind: Pod, name: web, path: "spec..x", equals: a}
            - ran: {matches: "([unclosed"}
            - exists: {kind: Pod, name: "{{ nodename }}"}"""),
            "      ",
        ),
    ).replace(
        "      - kubectl apply -f web.yaml",
        "      - kubectl apply -f web.yaml\n      - kubectl --kubeconfig=/etc/x get pods\n      - cat /etc/passwd",
    )
    found = problems(
        make(tmp_path, bad, {"steps/first.en.md": "```run\nkubectl proxy\n```\n[x](open:missing.yaml) {{ user }}\n"})
    )
    assert any("lesson.yaml:12: a check needs exactly one of" in p for p in found), found
    assert any("lesson.yaml:14: cannot read the path 'spec..x'" in p for p in found), found
    assert any(p.startswith("lesson.yaml:15: not a valid regular expression") for p in found), found
    assert any(p.startswith("lesson.yaml:16: unknown placeholder {{ nodename }}") for p in found), found
    assert any(
        p.startswith("lesson.yaml:19: the terminal would refuse 'kubectl --kubeconfig=/etc/x get pods'") for p in found
    ), found
    assert any(p.startswith("lesson.yaml:20: the terminal would refuse 'cat /etc/passwd'") for p in found), found
    assert any(p.startswith("steps/first.en.md:1: the terminal would refuse 'kubectl proxy'") for p in found), found
    assert any(p.startswith("steps/first.en.md:4: open:missing.yaml names a file") for p in found), found
    assert any(p.startswith("steps/first.en.md:4: unknown placeholder {{ user }}") for p in found), found


def test_missing_step_text_and_manifest_problems(tmp_path: Path) -> None:
    folder = make(tmp_path, files={"manifests/web.yaml": "kind: Pod\nmetadata: {name: web, namespace: kube-system}\n"})
    (folder / "steps" / "first.zh-hans.md").unlink()
    found = problems(folder)
    assert any(p.startswith("lesson.yaml:9: missing steps/first.zh-hans.md") for p in found), found
    assert "manifests/web.yaml:1: every document needs apiVersion and kind" in found
    folder2 = make(
        tmp_path / "b", files={"manifests/web.yaml": WEB.replace("name: web\n", "name: web\n  namespace: other\n", 1)}
    )
    assert "manifests/web.yaml:1: a manifest may only name the sandbox's own namespaces" in problems(folder2)


def test_duplicate_slugs_and_positions(tmp_path: Path) -> None:
    make(tmp_path)
    second = make(tmp_path / "x")
    second.rename(tmp_path / "02-demo")
    _, found = format.load_all(tmp_path)
    assert any("slug 'demo' is also used" in str(p) for p in found)
    assert any("position 1 is also used" in str(p) for p in found)


def test_the_curriculum_is_valid_and_complete() -> None:
    lessons, found = format.load_all(settings.LESSONS_DIR)
    assert [str(p) for p in found] == []
    assert len(lessons) >= 10
    assert [lesson.position for lesson in lessons] == list(range(1, len(lessons) + 1))
    for lesson in lessons:
        for step in lesson.steps:
            assert step.body["en"].strip(), f"{lesson.slug}/{step.id}"
            assert step.body["zh-hans"].strip(), f"{lesson.slug}/{step.id}"


def test_placeholders() -> None:
    assert (
        templating.render("ns={{ namespace }} port={{node_port}}", {"namespace": "a", "node_port": 30001})
        == "ns=a port=30001"
    )
    assert templating.problems("{{ namespace }} {{ secret_key }}") == [
        (1, "unknown placeholder {{ secret_key }}; known: namespace, node_port, registry")
    ]
    # Other double braces (go-templates, JSON) are text, not placeholders.
    assert templating.problems('kubectl get pods -o go-template=\'{{.metadata.name}}\' {"a":{"b":1}}') == []
    assert templating.render("{{.metadata.name}} {{ namespace }}", {"namespace": "a"}) == "{{.metadata.name}} a"
    assert templating.registry_prefix("") == ""
    assert templating.registry_prefix("mirror.local:5000/") == "mirror.local:5000/"


def test_markdown_is_rendered_without_raw_html() -> None:
    labels = {"run": "Run", "copy": "Copy", "open": "Open"}
    html = markers.render(
        '<script>alert(1)</script>\n\n```run\nkubectl get pods -l "a=b"\n```\n\n```copy\nx<y\n```\n\n'
        "[file](open:web.yaml) [js](javascript:alert(1)) [site](https://kubernetes.io)\n",
        labels,
    )
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert 'data-run="kubectl get pods -l &quot;a=b&quot;"' in html
    assert 'data-copy="x&lt;y\n"' in html
    assert 'data-open-file="web.yaml"' in html
    assert 'href="javascript' not in html
    assert 'href="https://kubernetes.io" target="_blank" rel="noopener"' in html


def test_a_solution_line_marked_to_fail_is_checked_and_run_without_its_mark() -> None:
    from lessons.format import solution_line

    assert solution_line("! kubectl rollout status deployment/web --timeout=5s") == (
        "kubectl rollout status deployment/web --timeout=5s",
        True,
    )
    assert solution_line("kubectl get pods") == ("kubectl get pods", False)
    assert solution_line("!kubectl get pods") == ("!kubectl get pods", False)  # only "! " marks it
