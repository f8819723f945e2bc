"""The lesson page in Chinese on a laptop-sized window: the step text's code (long commands,
full DNS names) wraps or scrolls inside its own column and never runs over the terminal."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lessons import loader
from tests.browser.conftest import login, with_password

pytestmark = pytest.mark.browser


def test_a_chinese_lesson_keeps_its_code_inside_its_column(
    live_url: str, browser_page: Any, make_sandbox: Callable[..., tuple[Any, str]]
) -> None:
    assert not loader.load().problems
    sandbox, _ = make_sandbox(extra_namespaces=["db"])
    page = browser_page
    page.set_viewport_size({"width": 1000, "height": 800})
    login(page, live_url, sandbox.owner.username, with_password(sandbox.owner.username))
    page.select_option("#language", "zh-hans")
    page.wait_for_selector("html[lang=zh-hans]", timeout=15000)

    for slug in ("namespaces", "configmap", "clusterip-dns"):
        page.goto(f"{live_url}/lessons/{slug}/")
        page.wait_for_selector("#lesson .step-body", state="attached")
        # Every step open, as a student reading ahead would have them.
        page.evaluate("document.querySelectorAll('#lesson details').forEach((d) => { d.open = true; })")
        terminal_left = page.evaluate("document.querySelector('.terminal-box').getBoundingClientRect().left")
        widest, element = page.evaluate(
            """() => {
              // What a scrolling block holds is cut at its edge: only the block itself counts.
              const clipped = (e) => {
                for (let p = e.parentElement; p && !p.classList.contains('sandbox-side'); p = p.parentElement) {
                  if (getComputedStyle(p).overflowX !== 'visible') return true;
                }
                return false;
              };
              return [...document.querySelectorAll('.sandbox-side *')]
                 .filter((e) => e.getClientRects().length && !clipped(e))
                 .map((e) => [e.getBoundingClientRect().right, e.tagName + '.' + e.className])
                 .reduce((a, b) => (b[0] > a[0] ? b : a), [0, '']);
            }"""
        )
        where = f"{slug}: {element} reaches {widest}px, the terminal starts at {terminal_left}px"
        assert widest <= terminal_left, where
        # The long lines are all there: a block too narrow for its line scrolls sideways.
        assert page.evaluate(
            "[...document.querySelectorAll('#lesson .step-body pre, #lesson .cmd code')]"
            ".some((e) => e.scrollWidth > e.clientWidth && getComputedStyle(e).overflowX === 'auto')"
        )
