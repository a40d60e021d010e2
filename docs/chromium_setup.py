"""Where the headless Chromium is and how it starts: one place for the docs' screenshots
(``make_page_screenshot.py``, ``make_tensorboard_screenshot.py``) and the browser tests.

The flags keep Chromium from reaching for Google's services, which a closed network
refuses many times a second.
"""

from __future__ import annotations

import importlib.util
import os
import shutil

CHROMIUM = os.environ.get("STATEFIRE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]


def missing() -> str | None:
    """Why a headless Chromium cannot be driven here (no playwright, no browser), or None."""
    if importlib.util.find_spec("playwright") is None:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    if not os.path.exists(CHROMIUM):
        return (
            f"Chromium is not at {CHROMIUM}; install Debian's chromium (make setup does it "
            "as root) or set STATEFIRE_CHROMIUM to its path"
        )
    return None
