"""Reading a lesson folder (lessons/content/<folder>/) into a LessonSpec, with every problem
reported as file:line: message. Pure: files in, data or errors out; no database, no cluster.

    lesson.yaml              metadata, steps, checks, hints, solutions (lessons/schema/lesson.schema.json)
    steps/<id>.en.md         each step's text, in English
    steps/<id>.zh-hans.md    and in Simplified Chinese
    manifests/<file>         the files the student gets in the workspace

The format is documented in lessons/README.md."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import regex
import yaml

from lessons import markers, templating

LANGUAGES = ("en", "zh-hans")
SCHEMA_PATH = Path(__file__).parent / "schema" / "lesson.schema.json"
MAX_MARKDOWN = 20_000
MAX_MANIFEST = 64 * 1024
DEFAULT_WAIT_SECONDS = 60


# A solution line that starts with "! " must fail (exit status other than 0), as the shell's `!`
# negates a status: lessons show failures on purpose (a short name that does not resolve across
# namespaces), and lesson CI proves they really happen. The terminal runs the line without it.
EXPECTED_FAILURE = "! "


def solution_line(line: str) -> tuple[str, bool]:
    """A solution line as the terminal runs it, and whether it must fail."""
    if line.startswith(EXPECTED_FAILURE):
        return line[len(EXPECTED_FAILURE) :], True
    return line, False


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class StepSpec:
    id: str
    title: dict[str, str]
    body: dict[str, str]
    checks: list[dict[str, Any]]
    hints: list[dict[str, str]]
    solution: list[str]
    undo: list[str]
    wait_seconds: int


@dataclass
class LessonSpec:
    folder: Path
    slug: str
    position: int
    difficulty: str
    minutes: int
    title: dict[str, str]
    summary: dict[str, str]
    size: str
    extra_namespaces: list[str]
    node_ports: int
    files: dict[str, str]
    steps: list[StepSpec] = field(default_factory=list)


class LessonError(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _whole_pattern(validator: Any, pattern: str, instance: Any, schema: Any) -> Any:
    """JSON Schema's `pattern` with the schema's own meaning of `$`: in ECMA-262 regular
    expressions (what a schema's patterns are written in) `$` is the end of the text, while
    Python's `$` also matches before a final newline, so "slug\\n" passed. A pattern that ends
    in `$` is checked with `\\Z` instead."""
    if not isinstance(instance, str):
        return
    anchored = pattern[:-1] + r"\Z" if pattern.endswith("$") and not pattern.endswith(r"\$") else pattern
    if re.search(anchored, instance) is None:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


# The schema's validator, with `pattern` read as the schema language means it.
LessonSchemaValidator = jsonschema.validators.extend(  # type: ignore[no-untyped-call]
    jsonschema.Draft202012Validator, {"pattern": _whole_pattern}
)


@cache
def schema_validator() -> Any:
    return LessonSchemaValidator(json.loads(SCHEMA_PATH.read_text()))


def _line_of(node: yaml.Node | None, path: list[str | int]) -> int:
    """The line (1-based) of the YAML node at a JSON path, or of its nearest existing parent."""
    line = node.start_mark.line + 1 if node else 1
    for key in path:
        if isinstance(node, yaml.MappingNode):
            found = [v for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == key]
            if not found:
                break
            node = found[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(key, int) and key < len(node.value):
            node = node.value[key]
        else:
            break
        line = node.start_mark.line + 1
    return line


def _load_yaml(path: Path) -> tuple[Any, yaml.Node | None]:
    text = path.read_text(encoding="utf-8")
    # SafeLoader: a lesson file builds plain data, never Python objects.
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    return yaml.safe_load(text), node


def load(folder: Path) -> LessonSpec:
    """The lesson in `folder`, or LessonError with every problem found."""
    meta_path = folder / "lesson.yaml"
    if not meta_path.is_file():
        raise LessonError([Problem(meta_path, 1, "missing lesson.yaml")])
    try:
        data, root = _load_yaml(meta_path)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        raise LessonError([Problem(meta_path, line, f"not valid YAML: {exc.problem}")]) from exc
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise LessonError([Problem(meta_path, 1, f"not valid YAML: {exc}")]) from exc

    problems = [
        Problem(meta_path, _line_of(root, list(error.absolute_path)), _describe(error))
        for error in sorted(schema_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        raise LessonError(problems)

    def at(*path: str | int) -> int:
        return _line_of(root, list(path))

    sandbox = data.get("sandbox") or {}
    files: dict[str, str] = {}
    for index, name in enumerate(data.get("files") or []):
        file_path = folder / "manifests" / name
        if not file_path.is_file():
            problems.append(Problem(meta_path, at("files", index), f"no file manifests/{name}"))
            continue
        content = file_path.read_text(encoding="utf-8")
        if len(content.encode()) > MAX_MANIFEST:
            problems.append(Problem(file_path, 1, f"larger than {MAX_MANIFEST} bytes"))
        problems += [Problem(file_path, line, msg) for line, msg in templating.problems(content)]
        if name.endswith((".yaml", ".yml")):
            problems += _yaml_problems(file_path, content)
        files[name] = content

    steps: list[StepSpec] = []
    seen: set[str] = set()
    for index, step in enumerate(data["steps"]):
        if step["id"] in seen:
            problems.append(Problem(meta_path, at("steps", index, "id"), f"step id {step['id']!r} is used twice"))
        seen.add(step["id"])
        body: dict[str, str] = {}
        for lang in LANGUAGES:
            md_path = folder / "steps" / f"{step['id']}.{lang}.md"
            if not md_path.is_file():
                problems.append(Problem(meta_path, at("steps", index, "id"), f"missing steps/{md_path.name}"))
                continue
            text = md_path.read_text(encoding="utf-8")
            if len(text) > MAX_MARKDOWN:
                problems.append(Problem(md_path, 1, f"longer than {MAX_MARKDOWN} characters"))
            problems += [Problem(md_path, line, msg) for line, msg in templating.problems(text)]
            problems += [Problem(md_path, line, msg) for line, msg in markers.problems(text, set(files))]
            body[lang] = text
        problems += _language_problems(folder, step["id"], body)
        for key in ("solution", "undo"):
            for n, line in enumerate(step.get(key) or []):
                for msg in markers.line_problems(solution_line(line)[0], set(files)):
                    problems.append(Problem(meta_path, at("steps", index, key, n), msg))
        for n, check in enumerate(step["checks"]):
            for msg in check_problems(check):
                problems.append(Problem(meta_path, at("steps", index, "checks", n), msg))
        steps.append(
            StepSpec(
                id=step["id"],
                title=step["title"],
                body=body,
                checks=step["checks"],
                hints=step.get("hints") or [],
                solution=step["solution"],
                undo=step.get("undo") or [],
                wait_seconds=step.get("wait_seconds", DEFAULT_WAIT_SECONDS),
            )
        )
    for key in ("title", "summary"):
        for lang in LANGUAGES:
            problems += [Problem(meta_path, at(key, lang), msg) for _, msg in templating.problems(data[key][lang])]
    problems += _stray_step_files(folder, seen)
    if problems:
        raise LessonError(problems)
    return LessonSpec(
        folder=folder,
        slug=data["slug"],
        position=data["position"],
        difficulty=data["difficulty"],
        minutes=data["minutes"],
        title=data["title"],
        summary=data["summary"],
        size=sandbox.get("size", "small"),
        extra_namespaces=list(sandbox.get("extra_namespaces") or []),
        node_ports=sandbox.get("node_ports", 0),
        files=files,
        steps=steps,
    )


def _language_problems(folder: Path, step_id: str, body: dict[str, str]) -> list[Problem]:
    """Both languages of a step offer the same commands, in the same order: a translation may
    word the text its own way, never change what the student runs."""
    if len(body) != len(LANGUAGES):
        return []  # a missing file is reported already
    first, *others = LANGUAGES
    expected = markers.commands(body[first])
    problems = []
    for lang in others:
        got = markers.commands(body[lang])
        if got != expected:
            missing = [c for c in expected if c not in got]
            extra = [c for c in got if c not in expected]
            detail = "; ".join(
                part
                for part in (
                    f"{first} has {missing!r} that {lang} lacks" if missing else "",
                    f"{lang} has {extra!r} that {first} lacks" if extra else "",
                    "the same commands in another order" if not (missing or extra) else "",
                )
                if part
            )
            md_path = folder / "steps" / f"{step_id}.{lang}.md"
            problems.append(Problem(md_path, 1, f"the code blocks differ from steps/{step_id}.{first}.md: {detail}"))
    return problems


def _stray_step_files(folder: Path, step_ids: set[str]) -> list[Problem]:
    """A text under steps/ that no step of lesson.yaml reads: a step renamed in one language
    only, or a language the platform does not have. The two languages then no longer have the
    same steps, and the stray text would silently never be shown."""
    problems = []
    for path in sorted((folder / "steps").glob("*")):
        step_id, _, rest = path.name.partition(".")
        lang = rest.removesuffix(".md")
        if not path.is_file() or (step_id in step_ids and lang in LANGUAGES and rest.endswith(".md")):
            continue
        if step_id not in step_ids:
            why = f"there is no step {step_id!r} in lesson.yaml"
        else:
            why = f"the languages are {', '.join(LANGUAGES)} (steps/{step_id}.<language>.md)"
        problems.append(Problem(path, 1, f"steps/{path.name} belongs to no step: {why}"))
    return problems


def _describe(error: jsonschema.ValidationError) -> str:
    where = ".".join(str(p) for p in error.absolute_path) or "lesson"
    if error.validator == "additionalProperties":
        return f"{where}: {error.message} (see lessons/schema/lesson.schema.json)"
    return f"{where}: {error.message}"


def _yaml_problems(path: Path, content: str) -> list[Problem]:
    # Placeholders are not YAML-safe everywhere ({{ node_port }} as a bare value is a flow
    # mapping), so a manifest is checked with sample values in place.
    try:
        docs = list(yaml.safe_load_all(templating.render(content, templating.SAMPLE)))
    except yaml.MarkedYAMLError as exc:
        return [Problem(path, (exc.problem_mark.line + 1) if exc.problem_mark else 1, f"not valid YAML: {exc.problem}")]
    problems = []
    for doc in docs:
        if doc is None:
            continue
        if not isinstance(doc, dict) or "kind" not in doc or "apiVersion" not in doc:
            problems.append(Problem(path, 1, "every document needs apiVersion and kind"))
        elif not templating.is_sample_namespace((doc.get("metadata") or {}).get("namespace")):
            problems.append(Problem(path, 1, "a manifest may only name the sandbox's own namespaces"))
    return problems


PATH_TOKEN = re.compile(r"""\.?([A-Za-z0-9_-]+)|\[(\d+)\]|\[([A-Za-z0-9_.-]+)=([A-Za-z0-9_.:/-]+)\]|\["([^"\]]+)"\]""")


def parse_path(path: str) -> list[tuple[str, Any]]:
    """`spec.containers[name=web].env[0]` -> [("key","spec"), ("key","containers"),
    ("where",("name","web")), ("key","env"), ("index",0)]. ValueError if it does not parse."""
    parts: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(path):
        match = PATH_TOKEN.match(path, pos)
        if not match or (pos == 0 and path.startswith(".")):
            raise ValueError(f"cannot read the path {path!r} at {path[pos:]!r}")
        key, index, where_key, where_value, quoted = match.groups()
        if key is not None:
            parts.append(("key", key))
        elif index is not None:
            parts.append(("index", int(index)))
        elif where_key is not None:
            parts.append(("where", (where_key, where_value)))
        else:
            parts.append(("key", quoted))
        pos = match.end()
    return parts


def check_problems(check: dict[str, Any]) -> list[str]:
    """What the schema cannot say about one check."""
    kinds = [k for k in check if k != "message"]
    if len(kinds) != 1:
        return ["a check needs exactly one of: " + ", ".join(sorted(CHECK_KINDS))]
    kind = kinds[0]
    body = check[kind]
    problems: list[str] = []
    for value in _strings(body):
        problems += [msg for _, msg in templating.problems(value)]
    if kind == "field":
        tests = [k for k in ("equals", "contains", "matches") if k in body]
        if len(tests) != 1:
            problems.append("a field check needs exactly one of equals, contains, matches")
        try:
            parse_path(body["path"])
        except ValueError as exc:
            problems.append(str(exc))
    if kind == "count" and ("equals" in body) == ("at_least" in body):
        problems.append("a count check needs exactly one of equals, at_least")
    if kind == "self_healed" and ("replicaset" in body) == ("deployment" in body):
        problems.append("self_healed needs exactly one of replicaset, deployment")
    if kind == "http" and ("service" in body) == ("pod" in body):
        problems.append("an http check names exactly one of service, pod")
    if kind == "exec" and ("pod" in body) == ("selector" in body):
        problems.append("an exec check names exactly one of pod, selector")
    if kind == "exec" and "contains" in body and "matches" in body:
        problems.append("an exec check takes contains or matches, not both")
    if kind in ("exists", "absent") and "name" in body and "selector" in body:
        problems.append(f"{kind} takes a name or a selector, not both")
    for pattern in (body.get("matches"),):
        if isinstance(pattern, str):
            problems += regex_problems(pattern)
    return problems


# Inputs that make a backtracking pattern such as ^(a|aa)+$ take exponential time.
_PROBES = ["a" * 28 + "!", "kubectl " * 12 + "!", "1" * 28 + "x", " " * 28 + "!"]


def regex_problems(pattern: str) -> list[str]:
    try:
        compiled = regex.compile(pattern)
    except regex.error as exc:
        return [f"not a valid regular expression {pattern!r}: {exc}"]
    try:
        for probe in _PROBES:
            compiled.search(probe, timeout=0.05)
    except TimeoutError:
        return [f"the regular expression {pattern!r} can take exponential time (nested repetition); simplify it"]
    return []


CHECK_KINDS = (
    "exists",
    "absent",
    "field",
    "count",
    "condition",
    "rollout",
    "selects",
    "event",
    "self_healed",
    "history",
    "http",
    "exec",
    "ran",
)


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def discover(content_dir: Path) -> list[Path]:
    """The lesson folders: every directory with a lesson.yaml, in name order."""
    return sorted(p.parent for p in content_dir.glob("*/lesson.yaml"))


def load_all(content_dir: Path) -> tuple[list[LessonSpec], list[Problem]]:
    lessons: list[LessonSpec] = []
    problems: list[Problem] = []
    for folder in discover(content_dir):
        try:
            lessons.append(load(folder))
        except LessonError as exc:
            problems += exc.problems
    slugs: dict[str, Path] = {}
    positions: dict[int, str] = {}
    for lesson in lessons:
        if lesson.slug in slugs:
            problems.append(
                Problem(lesson.folder / "lesson.yaml", 1, f"slug {lesson.slug!r} is also used by {slugs[lesson.slug]}")
            )
        slugs[lesson.slug] = lesson.folder
        if lesson.position in positions:
            problems.append(
                Problem(
                    lesson.folder / "lesson.yaml",
                    1,
                    f"position {lesson.position} is also used by {positions[lesson.position]}",
                )
            )
        positions[lesson.position] = lesson.slug
    return lessons, problems
