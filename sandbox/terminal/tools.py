"""The helpers a student can pipe kubectl into, implemented here in Python.

Running the host's grep or sort would hand students flags that read or write host files
(`grep -f FILE`, `sort -o FILE`, `--files0-from`...). These small versions read only from the
pipe, accept only the flags listed, and stream line by line where that makes sense, so
`kubectl get pods -w | grep web` shows matches as they happen.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import regex

from sandbox.names import is_decimal
from sandbox.terminal.errors import Denied

Lines = AsyncIterator[str]
Emit = Callable[[str], Awaitable[None]]
# A running tool: reads lines (None for the first command of a pipeline) and emits lines.
Tool = Callable[[Lines | None, Emit], Awaitable[int]]

MAX_BUFFERED_LINES = 100_000
MATCH_SECONDS = 0.05  # per line, for grep
MATCH_BUDGET = 2.0  # per command, all lines together


@dataclass(frozen=True)
class Options:
    flags: set[str]
    values: dict[str, str]
    operands: list[str]


def parse_options(name: str, args: list[str], *, flags: str = "", valued: str = "", max_operands: int = 0) -> Options:
    """getopt-style parsing with a fixed set of single-letter flags; anything else is refused."""
    found: set[str] = set()
    values: dict[str, str] = {}
    operands: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        i += 1
        if arg.startswith("-") and len(arg) > 1 and not operands and not is_decimal(arg[1:]):
            letters = arg[1:]
            j = 0
            while j < len(letters):
                letter = letters[j]
                j += 1
                if letter in valued:
                    value = letters[j:] or (args[i] if i < len(args) else "")
                    if not letters[j:]:
                        i += 1
                    if not value:
                        raise Denied(f"{name}: -{letter} needs a value")
                    values[letter] = value
                    break
                if letter not in flags:
                    allowed = " ".join(f"-{c}" for c in flags + valued) or "none"
                    raise Denied(f"{name}: option -{letter} is not supported here (supported: {allowed})")
                found.add(letter)
        elif arg.startswith("-") and is_decimal(arg[1:]) and name in ("head", "tail"):
            values["n"] = arg[1:]
        else:
            operands.append(arg)
    if len(operands) > max_operands:
        raise Denied(f"{name} reads only from a pipe here, e.g. `kubectl get pods | {name} ...`; it cannot open files")
    return Options(found, values, operands)


def _count(name: str, value: str) -> int:
    if not is_decimal(value) or int(value) > 1_000_000:
        raise Denied(f"{name}: -n needs a number of lines, e.g. {name} -n 5")
    return int(value)


MAX_CONTEXT = 1000  # lines of -A/-B/-C: the "before" lines are held in memory


def _context(opts: Options, letter: str) -> int:
    """Lines of context after (A) or before (B) a match; -C gives both unless -A/-B is given."""
    if letter not in opts.values:
        letter = "C"
    value = opts.values.get(letter, "0")
    if not is_decimal(value) or int(value) > MAX_CONTEXT:
        raise Denied(f"grep: -{letter} needs a number of lines up to {MAX_CONTEXT}, e.g. grep -{letter} 2 web")
    return int(value)


def grep(args: list[str]) -> Tool:
    opts = parse_options("grep", args, flags="ivcnwEFo", valued="ABC", max_operands=1)
    after, before = _context(opts, "A"), _context(opts, "B")
    if not opts.operands:
        raise Denied("grep needs a pattern, e.g. `kubectl get pods | grep web`")
    pattern = opts.operands[0]
    flags = regex.IGNORECASE if "i" in opts.flags else 0
    source = regex.escape(pattern) if "F" in opts.flags else _basic_to_python(pattern, extended="E" in opts.flags)
    if "w" in opts.flags:
        source = rf"\b(?:{source})\b"
    try:
        compiled = regex.compile(source, flags)
    except regex.error as exc:
        raise Denied(f"grep: invalid pattern {pattern!r} ({exc})") from None

    spent = [0.0]  # matching time of this command: the event loop is shared by every student

    def search(line: str) -> Any:
        # The `regex` module can give up: a pattern such as (a|aa)+$ would otherwise backtrack
        # for minutes and freeze the server's event loop, which serves every student.
        started = time.perf_counter()
        try:
            return compiled.search(line, timeout=MATCH_SECONDS)
        except TimeoutError:
            raise Denied(f"grep: the pattern {pattern!r} takes too long to match; simplify it") from None
        finally:
            spent[0] += time.perf_counter() - started
            if spent[0] > MATCH_BUDGET:
                raise Denied(f"grep: the pattern {pattern!r} takes too long to match; simplify it")

    def matches(line: str) -> list[str]:
        try:
            return [m.group(0) for m in compiled.finditer(line, timeout=MATCH_SECONDS)]
        except TimeoutError:
            raise Denied(f"grep: the pattern {pattern!r} takes too long to match; simplify it") from None

    # Context lines as GNU grep prints them: "NUM-" instead of "NUM:" with -n, and "--" between
    # groups that are not next to each other (even with -A 0). -c and -o print no context here.
    with_context = bool({"A", "B", "C"} & set(opts.values)) and not {"c", "o"} & opts.flags

    def shown(number: int, text: str, mark: str) -> str:
        return f"{number}{mark}{text}" if "n" in opts.flags else text

    async def run(lines: Lines | None, emit: Emit) -> int:
        matched = number = last_shown = after_left = 0
        held: deque[tuple[int, str]] = deque(maxlen=before or None)
        async for line in _require(lines, "grep"):
            number += 1
            hit = search(line)
            if bool(hit) == ("v" in opts.flags):
                if with_context and after_left:
                    after_left -= 1
                    last_shown = number
                    await emit(shown(number, line, "-"))
                elif with_context and before:
                    held.append((number, line))
                continue
            matched += 1
            if "c" in opts.flags:
                continue
            text = "\n".join(matches(line)) if "o" in opts.flags and hit else line
            if with_context:
                first = held[0][0] if held else number
                if last_shown and first > last_shown + 1:
                    await emit("--")
                for earlier, earlier_line in held:
                    await emit(shown(earlier, earlier_line, "-"))
                held.clear()
                after_left, last_shown = after, number
            await emit(shown(number, text, ":"))
        if "c" in opts.flags:
            await emit(str(matched))
        return 0 if matched else 1

    return run


def _basic_to_python(pattern: str, *, extended: bool) -> str:
    # Basic regular expressions treat + ? | ( ) { } literally unless escaped; Python does the opposite.
    if extended:
        return pattern
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern) and pattern[i + 1] in "+?|(){}":
            out.append(pattern[i + 1])
            i += 2
            continue
        out.append("\\" + ch if ch in "+?|(){}" else ch)
        i += 1
    return "".join(out)


def head(args: list[str]) -> Tool:
    opts = parse_options("head", args, valued="n")
    limit = _count("head", opts.values.get("n", "10"))

    async def run(lines: Lines | None, emit: Emit) -> int:
        if limit == 0:
            return 0
        seen = 0
        async for line in _require(lines, "head"):
            await emit(line)
            seen += 1
            if seen >= limit:
                break  # the runner then stops the commands upstream
        return 0

    return run


def tail(args: list[str]) -> Tool:
    opts = parse_options("tail", args, valued="n")
    limit = _count("tail", opts.values.get("n", "10"))

    async def run(lines: Lines | None, emit: Emit) -> int:
        kept: deque[str] = deque(maxlen=limit)
        async for line in _require(lines, "tail"):
            kept.append(line)
        for line in kept:
            await emit(line)
        return 0

    return run


def wc(args: list[str]) -> Tool:
    opts = parse_options("wc", args, flags="lwc")
    which = opts.flags or {"l", "w", "c"}

    async def run(lines: Lines | None, emit: Emit) -> int:
        counts = {"l": 0, "w": 0, "c": 0}
        async for line in _require(lines, "wc"):
            counts["l"] += 1
            counts["w"] += len(line.split())
            counts["c"] += len(line.encode()) + 1
        await emit(" ".join(f"{counts[k]:>7}" for k in "lwc" if k in which))
        return 0

    return run


def sort(args: list[str]) -> Tool:
    opts = parse_options("sort", args, flags="rnu", valued="k")
    key_column = _count("sort", opts.values["k"].split(",")[0]) if "k" in opts.values else 0

    def key(line: str) -> tuple[float, str]:
        fields = line.split()
        text = (fields[key_column - 1] if len(fields) >= key_column else "") if key_column else line
        if "n" in opts.flags:
            match = re.match(r"\s*-?\d+(\.\d+)?", text)
            return (float(match.group(0)) if match else 0.0, text)
        return (0.0, text)

    async def run(lines: Lines | None, emit: Emit) -> int:
        collected = await _collect(_require(lines, "sort"))
        collected.sort(key=key, reverse="r" in opts.flags)
        previous = None
        for line in collected:
            if "u" in opts.flags and line == previous:
                continue
            previous = line
            await emit(line)
        return 0

    return run


def uniq(args: list[str]) -> Tool:
    opts = parse_options("uniq", args, flags="c")

    async def run(lines: Lines | None, emit: Emit) -> int:
        previous: str | None = None
        count = 0
        async for line in _require(lines, "uniq"):
            if line == previous:
                count += 1
                continue
            if previous is not None:
                await emit(f"{count:>7} {previous}" if "c" in opts.flags else previous)
            previous, count = line, 1
        if previous is not None:
            await emit(f"{count:>7} {previous}" if "c" in opts.flags else previous)
        return 0

    return run


async def _require(lines: Lines | None, name: str) -> AsyncIterator[str]:
    if lines is None:
        raise Denied(f"{name} reads from a pipe, e.g. `kubectl get pods | {name}`")
    async for line in lines:
        yield line


async def _collect(lines: AsyncIterator[str]) -> list[str]:
    collected: list[str] = []
    async for line in lines:
        collected.append(line)
        if len(collected) > MAX_BUFFERED_LINES:
            raise Denied(f"too much input to buffer (over {MAX_BUFFERED_LINES} lines)")
    return collected


TEXT_TOOLS: dict[str, Callable[[list[str]], Tool]] = {
    "grep": grep,
    "head": head,
    "tail": tail,
    "wc": wc,
    "sort": sort,
    "uniq": uniq,
}
