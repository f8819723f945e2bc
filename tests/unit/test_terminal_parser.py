"""The terminal's command language, including property-based tests (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sandbox.terminal.parser import ParseError, parse, quote

# Any printable text without control characters (which the parser refuses outright).
words = st.text(alphabet=st.characters(min_codepoint=32, blacklist_categories=("Cs", "Cc")), max_size=30)


def argv_of(text: str) -> list[tuple[str, ...]]:
    return [c.argv for step in parse(text).steps for c in step.pipeline.commands]


@given(st.lists(words, min_size=1, max_size=12))
def test_it_reads_back_any_quoted_words_unchanged(argv: list[str]) -> None:
    line = " ".join(quote(word) for word in argv)
    assert argv_of(line) == [tuple(argv)]


@given(st.text(max_size=300))
def test_it_either_parses_or_refuses_with_a_message(text: str) -> None:
    try:
        line = parse(text)
    except ParseError as exc:
        message = exc.message
        line = None
    if line is None:
        assert message
        return
    for step in line.steps:
        assert step.joiner in ("", ";", "&&")
        for command in step.pipeline.commands:
            assert command.argv
            for word in command.argv:
                # Nothing a shell would expand ever survives unquoted into a word... unless quoted.
                assert "\x00" not in word


@given(st.lists(st.lists(words.filter(bool), min_size=1, max_size=4), min_size=1, max_size=5))
def test_it_keeps_pipelines_in_order(pipeline: list[list[str]]) -> None:
    line = " | ".join(" ".join(quote(w) for w in command) for command in pipeline)
    assert argv_of(line) == [tuple(command) for command in pipeline]


def test_it_splits_sequences_and_conditionals() -> None:
    line = parse("kubectl get pods && kubectl get svc ; kubectl get deploy | grep web")
    assert [step.joiner for step in line.steps] == ["", "&&", ";"]
    assert [c.argv[0] for c in line.steps[2].pipeline.commands] == ["kubectl", "grep"]


def test_it_handles_quotes_and_escapes_like_a_shell() -> None:
    assert argv_of("""kubectl get pods -o jsonpath='{.items[*].metadata.name}'""") == [
        ("kubectl", "get", "pods", "-o", "jsonpath={.items[*].metadata.name}")
    ]
    assert argv_of('echo "a \\"quoted\\" word" it\\\'s') == [("echo", 'a "quoted" word', "it's")]
    assert argv_of("echo 'single $literal' and\\ space") == [("echo", "single $literal", "and space")]
    assert argv_of("kubectl get pods # everything after is a comment; rm -rf /") == [("kubectl", "get", "pods")]


def test_it_treats_an_empty_line_as_nothing_to_do() -> None:
    assert parse("   ").empty
    assert parse("# just a comment").empty


@pytest.mark.parametrize("operator", ["|", "&&", ";"])
def test_it_refuses_operators_without_commands(operator: str) -> None:
    with pytest.raises(ParseError):
        parse(f"{operator} kubectl get pods")
