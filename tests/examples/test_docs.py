"""The Python snippets of the docs run, in order, as a reader would paste them.

Every ```python block of a page runs in one namespace, in a scratch
directory. A block meant as a file of its own (the tutorial's test file,
which imports the tutorial's example module) is marked by its first line
``# file: <name>``: it is written to that file and run with pytest.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("page", ["concepts.md", "tutorial.md", "api.md", "from-ignite.md"])
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


def test_tutorial_test_file_passes(tmp_path: Path) -> None:
    """The tutorial's pytest file, written out, passes against examples/custom_node.py."""
    files = [
        b for b in BLOCK.findall((DOCS / "tutorial.md").read_text()) if b.startswith("# file: ")
    ]
    assert len(files) == 1
    name = files[0].splitlines()[0].removeprefix("# file: ").strip()
    (tmp_path / name).write_text(files[0])
    env = {**os.environ, "PYTHONPATH": str(ROOT / "examples"), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", name],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    assert re.search(r"\b\d+ passed\b", done.stdout)


def test_api_tables_match_the_classes() -> None:
    """docs/api.md's tables of node variables are what the classes declare."""
    done = subprocess.run(
        [sys.executable, str(DOCS / "make_api.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "up to date" in done.stdout
