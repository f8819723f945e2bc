"""Every validator that checks a name refuses the whole text or accepts the whole text.

The finding: a file name with a trailing newline passed, because `re.match("^...$")` lets `$`
match before a final newline. Here each validator gets names it accepts, then the same names
with a trailing newline, a NUL, a Unicode look-alike in place of one character, other scripts'
digits, and far too long: every one of those must be refused (and none may raise anything but
the validator's own refusal)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lessons.format import schema_validator
from sandbox import manifests, names
from sandbox.terminal import workspace
from sandbox.terminal.errors import Denied
from sandbox.terminal.parser import ParseError, parse
from sandbox.terminal.policy import check_line

# Look-alikes of ASCII letters and digits from other scripts and blocks: Cyrillic, Greek,
# fullwidth, mathematical, the Kelvin sign, Arabic-Indic and superscript digits.
LOOKALIKES = {
    "a": "\u0430",
    "e": "\u0435",
    "o": "\u043e",
    "p": "\u0440",
    "c": "\u0441",
    "x": "\u0445",
    "i": "\u0456",
    "k": "\u212a",
    "s": "\u0455",
    "l": "\u04cf",
    "d": "\U0001d5bd",
    "n": "\u0578",
    "0": "\u0660",
    "1": "\u00b9",
    "2": "\u00b2",
    "3": "\uff13",
    "5": "\u06f5",
    "7": "\u0667",
    "-": "\u2010",
    ".": "\u2024",
    "_": "\uff3f",
}
HOSTILE_SUFFIXES = ["\n", "\r\n", "\x00", "\r", " ", "\t", "\u2028", "\u0085", "/", "\\"]


def refused(check: Callable[[str], object], text: str) -> bool:
    """True when `check` refuses `text` the way it refuses bad input (False / None / Denied /
    ValueError from our own validator); any other exception fails the test."""
    try:
        result = check(text)
    except (Denied, ParseError, ValueError):
        return True
    return result is False or result is None


def workspace_name(text: str) -> object:
    return workspace.validate_name(text)


def namespace_name(text: str) -> object:
    return manifests.validate_name(text)


def forward_line(text: str) -> object:
    # The terminal's `port-forward` target: the object name and the port are both checked.
    return check_line(parse(f"kubectl port-forward 'pod/{text}' 8080"), set())


def forward_port(text: str) -> object:
    return check_line(parse(f"kubectl port-forward pod/petclinic '{text}'"), set())


def head_count(text: str) -> object:
    return check_line(parse(f"kubectl get pods | head -n '{text}'"), set())


def lesson_field(field: str) -> Callable[[str], object]:
    base = {
        "slug": "pod-basics",
        "position": 1,
        "difficulty": "beginner",
        "minutes": 10,
        "title": {"en": "t", "zh-hans": "t"},
        "summary": {"en": "s", "zh-hans": "s"},
        "files": ["pod.yaml"],
        "steps": [
            {"id": "apply", "title": {"en": "t", "zh-hans": "t"}, "checks": [], "solution": ["kubectl get pods"]}
        ],
    }

    def validate(text: str) -> object:
        data = {**base}
        if field == "slug":
            data["slug"] = text
        elif field == "file":
            data["files"] = [text]
        else:
            data["steps"] = [{**base["steps"][0], "id": text}]  # type: ignore[index]
        # Only the errors about the field under test: the rest of this minimal lesson is not the point.
        where = {"slug": ["slug"], "file": ["files", 0], "step": ["steps", 0, "id"]}[field]
        return not [e for e in schema_validator().iter_errors(data) if list(e.absolute_path) == where]

    return validate


# (name, validator, a strategy for names it accepts, longest valid length)
FILE_NAMES = st.from_regex(names.FILE_NAME, fullmatch=True).filter(lambda s: ".." not in s)
VALIDATORS: list[tuple[str, Callable[[str], object], st.SearchStrategy[str], int]] = [
    ("dns label", names.is_dns_label, st.from_regex(names.DNS_LABEL, fullmatch=True), 63),
    ("dns subdomain", names.is_dns_subdomain, st.from_regex(names.DNS_SUBDOMAIN, fullmatch=True), 253),
    ("file name", names.is_file_name, FILE_NAMES, 64),
    ("lesson key", names.is_lesson_key, st.from_regex(names.LESSON_KEY, fullmatch=True), 50),
    ("port", names.port, st.integers(1, 65535).map(str), 5),
    ("workspace file", workspace_name, FILE_NAMES, 64),
    ("namespace", namespace_name, st.from_regex(names.DNS_LABEL, fullmatch=True), 63),
    ("port-forward name", forward_line, st.from_regex(r"[a-z][a-z0-9-]{0,20}[a-z0-9]", fullmatch=True), 253),
    ("port-forward port", forward_port, st.integers(1, 65535).map(str), 5),
    ("head -n", head_count, st.integers(0, 999_999).map(str), 9),
    ("lesson slug", lesson_field("slug"), st.from_regex(r"[a-z0-9][a-z0-9-]{1,48}", fullmatch=True), 49),
    ("step id", lesson_field("step"), st.from_regex(r"[a-z0-9][a-z0-9-]{0,40}", fullmatch=True), 41),
    ("lesson file", lesson_field("file"), st.from_regex(names.FILE_NAME, fullmatch=True), 64),
]
IDS = [v[0] for v in VALIDATORS]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize(("label", "check", "valid", "longest"), VALIDATORS, ids=IDS)
@FAST
@given(data=st.data())
def test_valid_names_pass_and_every_hostile_variant_is_refused(
    label: str, check: Callable[[str], object], valid: st.SearchStrategy[str], longest: int, data: st.DataObject
) -> None:
    name = data.draw(valid, label="name")
    assert not refused(check, name), f"{label}: a valid name {name!r} was refused"
    for suffix in HOSTILE_SUFFIXES:
        assert refused(check, name + suffix), f"{label}: {name + suffix!r} passed"
        assert refused(check, suffix + name), f"{label}: {suffix + name!r} passed"
    inner = data.draw(st.integers(0, len(name)), label="where")
    assert refused(check, name[:inner] + "\x00" + name[inner:]), f"{label}: a NUL passed"
    swappable = [i for i, ch in enumerate(name) if ch in LOOKALIKES]
    if swappable:
        i = data.draw(st.sampled_from(swappable), label="swapped")
        twin = name[:i] + LOOKALIKES[name[i]] + name[i + 1 :]
        assert refused(check, twin), f"{label}: the look-alike {twin!r} passed"
    overlong = (name * (longest // max(len(name), 1) + 2))[: longest + 1 + data.draw(st.integers(0, 5000))]
    assert refused(check, overlong), f"{label}: {len(overlong)} characters passed"


@pytest.mark.parametrize(("label", "check", "valid", "longest"), VALIDATORS, ids=IDS)
@FAST
@given(text=st.text(max_size=80))
def test_arbitrary_text_is_refused_or_accepted_without_crashing(
    label: str, check: Callable[[str], object], valid: st.SearchStrategy[str], longest: int, text: str
) -> None:
    ok = not refused(check, text)
    if ok:  # whatever passes is plain ASCII with no control characters
        assert text.isascii(), f"{label}: {text!r} passed"
        assert text.isprintable(), f"{label}: {text!r} passed"


@pytest.mark.parametrize("digits", ["\u00b2", "\uff13\uff10", "\u0663\u0660\u0660\u0660", "\u0968", "8080\n", " 8080"])
def test_other_scripts_digits_are_not_numbers(digits: str) -> None:
    assert names.port(digits) is None
    assert not names.is_decimal(digits)
    assert refused(head_count, digits)
    assert refused(forward_port, digits)
