"""Shared by every test directory: the report header says which set hook runs."""

from __future__ import annotations


def pytest_report_header() -> str:
    from pipeline import _hooks

    kind = "compiled (pipeline/_speedups.c)" if _hooks.COMPILED else "pure Python"
    return f"statefire set hook: {kind}"


# The headless-Chromium fixtures of the HTML view's tests (tests/browser.py).
from browser import browser, open_page  # noqa: E402, F401
