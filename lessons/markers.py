"""Lesson Markdown and its three markers, rendered to safe HTML.

    ```run                      each line becomes a button that types it into the terminal and runs it
    kubectl get pods
    ```
    ```copy                     a block with a Copy button
    ```
    [the Pod's manifest](open:petclinic-pod.yaml)     opens a workspace file in the editor

Raw HTML in lesson Markdown is shown as text, never rendered: lesson files come from git, but
a page must not trust them more than it has to."""

from __future__ import annotations

import re
from html import escape
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.token import Token

from lessons import templating
from sandbox.terminal.errors import Denied
from sandbox.terminal.parser import ParseError, parse
from sandbox.terminal.policy import check_line

MARKERS = ("run", "copy")
OPEN = "open:"


def line_problems(line: str, files: set[str]) -> list[str]:
    """Why a terminal line in a lesson would be refused by the student's terminal (none: fine)."""
    try:
        check_line(parse(templating.render(line, templating.SAMPLE)), files)
    except (ParseError, Denied) as exc:
        return [f"the terminal would refuse {line!r}: {exc.message}"]
    return []


def _md() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("table")


def commands(text: str) -> list[str]:
    """The lines of the text's run and copy blocks, in order: what a student may type or copy,
    which both languages of a step must offer alike."""
    found = []
    for token in _md().parse(text):
        if token.type == "fence" and token.info.strip() in ("run", "copy"):
            for line in token.content.splitlines():
                # A shell comment is prose, translated with the rest; the command is not.
                command = _COMMENT.sub("", line).strip()
                if command:
                    found.append(command)
    return found


_COMMENT = re.compile(r"(^|\s)#[^'\"]*$")


def problems(text: str, files: set[str]) -> list[tuple[int, str]]:
    found: list[tuple[int, str]] = []
    for token in _md().parse(text):
        line = (token.map[0] + 1) if token.map else 1
        if token.type == "fence":
            info = token.info.strip()
            if info in ("run",):
                commands = [c for c in token.content.splitlines() if c.strip()]
                if not commands:
                    found.append((line, "an empty run block"))
                found += [(line, msg) for c in commands for msg in line_problems(c, files)]
        for child in token.children or []:
            href = child.attrGet("href") if child.type == "link_open" else None
            if isinstance(href, str) and href.startswith(OPEN) and href[len(OPEN) :] not in files:
                found.append((line, f"{href} names a file the lesson does not list under files:"))
    return found


def render(text: str, labels: dict[str, str]) -> str:
    """HTML for a step's Markdown (placeholders already rendered). `labels` are the button
    texts in the page's language: run, copy, open."""
    md = _md()

    def fence(renderer: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        info = token.info.strip()
        if info == "run":
            rows = "".join(
                f'<div class="cmd"><code>{escape(c)}</code>'
                f'<button type="button" class="run" data-run="{escape(c)}" title="{escape(labels["run"])}">'
                f"{escape(labels['run'])}</button></div>"
                for c in token.content.splitlines()
                if c.strip()
            )
            return f'<div class="cmds">{rows}</div>'
        code = f"<pre><code>{escape(token.content)}</code></pre>"
        if info == "copy":
            return (
                f'<div class="copyable">{code}<button type="button" class="secondary copy" '
                f'data-copy="{escape(token.content)}">{escape(labels["copy"])}</button></div>'
            )
        return code

    def link_open(renderer: Any, tokens: list[Token], idx: int, options: Any, env: Any) -> str:
        token = tokens[idx]
        href = str(token.attrGet("href") or "")
        if href.startswith(OPEN):
            name = href[len(OPEN) :]
            return f'<a href="#" class="open-file" data-open-file="{escape(name)}" title="{escape(labels["open"])}">'
        return f'<a href="{escape(href)}" target="_blank" rel="noopener">'

    md.add_render_rule("fence", fence)
    md.add_render_rule("link_open", link_open)
    return str(md.render(text))
