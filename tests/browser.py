"""Headless Chromium for the tests of the HTML view (driven by the ``playwright`` package).

``chromium_page`` yields a function that opens a URL in a fresh page of one
browser shared by a test module; it skips, with the reason, where the
package or the browser is missing. Clicks go through the canvas at a box's
position on screen, as a user's would.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "docs"))
from chromium_setup import CHROMIUM, FLAGS, missing


def skip_reason() -> str | None:
    """Why the browser tests cannot run here, or None."""
    return missing()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium for the module."""
    reason = skip_reason()
    if reason is not None:
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        chromium.close()


class Page:
    """One open page and what it asked the network for."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.requests: list[str] = []
        self.errors: list[str] = []
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("pageerror", lambda e: self.errors.append(str(e)))

    def wait_drawn(self) -> int:
        """Wait until the page marked ``<body data-nodes="N">``; return N."""
        self.page.wait_for_selector("body:not([data-nodes=''])", timeout=30_000)
        return int(self.body("nodes"))

    def body(self, name: str) -> str:
        """The value of ``<body data-<name>>``."""
        return str(self.page.evaluate(f"document.body.dataset[{name!r}]"))

    def box_ids(self) -> list[str]:
        """The ids of the boxes drawn."""
        return list(self.page.evaluate("statefireView.cy.nodes().map(n => n.id())"))

    def click_box(self, box_id: str, double: bool = False) -> None:
        """Click (or double-click) a box where it is drawn, through the canvas."""
        page = self.page
        pos = page.evaluate(
            "id => { const n = statefireView.cy.getElementById(id); statefireView.cy.center(n);"
            " const r = document.getElementById('graph').getBoundingClientRect();"
            " const bb = n.renderedBoundingBox({includeLabels: false});"
            " return n.isParent() ? {x: r.left + (bb.x1 + bb.x2) / 2, y: r.top + bb.y1 + 5}"
            " : {x: r.left + (bb.x1 + bb.x2) / 2, y: r.top + (bb.y1 + bb.y2) / 2}; }",
            box_id,
        )
        if double:
            page.mouse.dblclick(pos["x"], pos["y"])
        else:
            page.mouse.click(pos["x"], pos["y"])


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[[str], Page]]:
    """Open a URL in a fresh 1400x900 page; every page is closed after the test."""
    pages: list[Any] = []

    def open_url(url: str) -> Page:
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        pages.append(page)
        wrapped = Page(page)
        page.goto(url)
        return wrapped

    yield open_url
    for page in pages:
        page.close()
