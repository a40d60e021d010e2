"""The Python snippets of the docs run, in order, as a reader would paste them.

Every ```python block of a page runs in one namespace, in a scratch
directory. A block meant as a file of its own (the tutorial's test file,
which imports the tutorial's module) is marked by its first line
``# file: <name>`` and is skipped here; it is checked where that file lives.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("page", ["concepts.md", "tutorial.md", "api.md"])
def test_snippets_run(page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every runnable snippet of the page executes without error."""
    monkeypatch.chdir(tmp_path)
    blocks = BLOCK.findall((DOCS / page).read_text())
    assert blocks, f"docs/{page} has no python snippet"
    namespace: dict[str, object] = {"__name__": "__docs__"}
    ran = 0
    for i, block in enumerate(blocks):
        if block.startswith("# file: "):
            continue
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block, f"docs/{page} snippet {i}", "exec"), namespace)
        ran += 1
    assert ran >= len(blocks) - 1
    assert os.getcwd() == str(tmp_path)
