"""Parse a terminal line into commands, without ever handing it to a shell.

The language is a deliberately small subset of what a shell accepts:

    line     := pipeline ((";" | "&&") pipeline)*
    pipeline := command ("|" command)*
    command  := word+

Words may be quoted: '...' is literal, "..." allows \\" and \\\\ escapes, and a backslash
outside quotes escapes the next character. A word starting with # begins a comment. There is no
expansion of any kind: `$`, backticks, globbing and `~` are not interpreted, and the shell
features that would need them (substitution, redirection, background jobs, subshells) are
refused with a message that says what to do instead.
"""

from __future__ import annotations

from dataclasses import dataclass

MAX_LINE = 2000
MAX_WORDS = 200
MAX_PIPELINES = 8
MAX_PIPE_LENGTH = 5


class ParseError(ValueError):
    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.position = position


@dataclass(frozen=True)
class Command:
    argv: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.argv[0]


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]


@dataclass(frozen=True)
class Step:
    """A pipeline and how it joins the previous one: "" (first), ";" (always) or "&&" (if it succeeded)."""

    joiner: str
    pipeline: Pipeline


@dataclass(frozen=True)
class Line:
    steps: tuple[Step, ...]

    @property
    def empty(self) -> bool:
        return not self.steps


_REFUSED = {
    "`": "command substitution with backticks is not supported",
    "$": "variables and $(...) are not supported; quote a literal $ in single quotes",
    ">": "redirecting output to files is not supported; workspace files are edited in the editor tab",
    "<": "reading input from files is not supported; use kubectl's -f NAME with a workspace file",
    "(": "subshells and grouping are not supported",
    ")": "subshells and grouping are not supported",
}

# (token, kind) where kind is "word" or an operator.
_Token = tuple[str, str]


def _tokens(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in " \t":
            i += 1
            continue
        if ch == "#":
            break  # a comment runs to the end of the line
        if ch in "|;&":
            if text.startswith("&&", i):
                tokens.append(("&&", "op"))
                i += 2
            elif text.startswith("||", i):
                raise ParseError("'||' is not supported; use '&&' or ';'", i)
            elif text.startswith("|&", i):
                raise ParseError("'|&' is not supported; only standard output goes through a pipe", i)
            elif ch == "&":
                raise ParseError("running commands in the background ('&') is not supported", i)
            else:
                tokens.append((ch, "op"))
                i += 1
            continue
        word, i = _word(text, i)
        tokens.append((word, "word"))
    return tokens


def _word(text: str, i: int) -> tuple[str, int]:
    out: list[str] = []
    n = len(text)
    while i < n and text[i] not in " \t|;&":
        ch = text[i]
        if ch in _REFUSED:
            raise ParseError(_REFUSED[ch], i)
        if ch == "\\":
            if i + 1 >= n:
                raise ParseError("a backslash at the end of the line has nothing to escape", i)
            out.append(text[i + 1])
            i += 2
        elif ch == "'":
            end = text.find("'", i + 1)
            if end < 0:
                raise ParseError("unterminated single quote: add the closing '", i)
            out.append(text[i + 1 : end])
            i = end + 1
        elif ch == '"':
            i += 1
            while True:
                if i >= n:
                    raise ParseError('unterminated double quote: add the closing "', i)
                ch = text[i]
                if ch == '"':
                    i += 1
                    break
                if ch in "$`":
                    raise ParseError(f"{_REFUSED[ch]} (inside double quotes too)", i)
                if ch == "\\" and i + 1 < n and text[i + 1] in '"\\':
                    out.append(text[i + 1])
                    i += 2
                else:
                    out.append(ch)
                    i += 1
        else:
            out.append(ch)
            i += 1
    return "".join(out), i


def parse(text: str) -> Line:
    """Parse one terminal line. Raises ParseError with a message meant for the student."""
    if len(text) > MAX_LINE:
        raise ParseError(f"the line is too long ({len(text)} characters; at most {MAX_LINE})")
    for index, ch in enumerate(text):
        if (ord(ch) < 32 and ch != "\t") or ord(ch) == 127:
            raise ParseError("the line contains control characters; type it again or paste plain text", index)
    tokens = _tokens(text)
    if sum(1 for _, kind in tokens if kind == "word") > MAX_WORDS:
        raise ParseError(f"too many words (at most {MAX_WORDS})")

    steps: list[Step] = []
    joiner = ""
    commands: list[Command] = []
    argv: list[str] = []

    def end_command(after: str) -> None:
        if not argv:
            raise ParseError(f"'{after}' needs a command before it")
        commands.append(Command(tuple(argv)))
        argv.clear()

    for value, kind in tokens:
        if kind == "word":
            argv.append(value)
        elif value == "|":
            end_command("|")
        else:  # ";" or "&&"
            end_command(value)
            if len(commands) > MAX_PIPE_LENGTH:
                raise ParseError(f"a pipeline may have at most {MAX_PIPE_LENGTH} commands")
            steps.append(Step(joiner, Pipeline(tuple(commands))))
            commands.clear()
            joiner = value
    if argv:
        commands.append(Command(tuple(argv)))
    elif commands:
        raise ParseError("'|' needs a command after it")
    elif joiner == "&&":
        raise ParseError("'&&' needs a command after it")
    if commands:
        if len(commands) > MAX_PIPE_LENGTH:
            raise ParseError(f"a pipeline may have at most {MAX_PIPE_LENGTH} commands")
        steps.append(Step(joiner, Pipeline(tuple(commands))))
    if len(steps) > MAX_PIPELINES:
        raise ParseError(f"at most {MAX_PIPELINES} commands may be joined with ';' or '&&'")
    return Line(tuple(steps))


def quote(word: str) -> str:
    """Quote a word so that parse() reads it back unchanged (used for history and tests)."""
    if word and all(ch.isalnum() or ch in "-_./=:,@%+{}[]*" for ch in word):
        return word
    return "'" + word.replace("'", "'\\''") + "'"
