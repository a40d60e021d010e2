"""The Python snippets of the docs run, in order, as a reader would paste them; the
generated API reference covers every exported name.

Every ```python block of a page runs in one namespace, in a scratch
directory. A block meant as a file of its own (the tutorial's test file,
which imports the tutorial's example module) is marked by its first line
``# file: <name>``: it is written to that file and run with pytest.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import os
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize(
    "page", ["concepts.md", "tutorial.md", "api.md", "from-ignite.md", "live.md"]
)
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


def _documented(page: str) -> list[str]:
    """The object paths of the mkdocstrings blocks (``::: nodes.Engine``) of a reference page."""
    return re.findall(r"^::: (\S+)$", (DOCS / "reference" / page).read_text(), re.M)


def _resolve(path: str) -> object:
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


class TestReference:
    """The generated API reference covers the public API, and the site can render it."""

    @pytest.mark.parametrize("package", ["pipeline", "nodes"])
    def test_every_exported_name_is_documented_once(self, package: str) -> None:
        """Every name of the package's ``__all__`` and of its public modules' ``__all__``
        has exactly one block on its reference page, and every block is such a name."""
        pkg = importlib.import_module(package)
        exported = {id(getattr(pkg, name)): f"{package}.{name}" for name in pkg.__all__}
        if package == "nodes":  # its modules' own helpers (digits_datasets, metric_groups, ...)
            for info in pkgutil.iter_modules(pkg.__path__):
                if not info.name.startswith("_"):
                    module = importlib.import_module(f"nodes.{info.name}")
                    for name in module.__all__:
                        exported.setdefault(id(getattr(module, name)), f"{module.__name__}.{name}")
        documented = _documented(f"{package}.md")
        assert len(documented) == len(set(documented)), "a name is documented twice"
        by_id = {id(_resolve(path)): path for path in documented}
        missing = sorted(path for key, path in exported.items() if key not in by_id)
        assert not missing, f"not in docs/reference/{package}.md: {missing}"
        assert set(by_id) == set(exported), "the page documents names the package does not export"

    def test_node_classes_carry_their_variable_tables(self) -> None:
        """After each node class's block comes the table of the variables it declares."""
        text = (DOCS / "reference" / "nodes.md").read_text()
        for var in ("n_run_started", "n_epoch_completed", "best_score", "n_saves"):
            assert re.search(rf"^\| `{var}` \|", text, re.M), var
        trainer = text.split("::: nodes.Trainer", 1)[1].split(":::", 1)[0]
        assert "And every variable of [`Engine`][nodes.engine.Engine]." in trainer

    def test_site_config_fetches_nothing_and_lists_the_pages(self) -> None:
        """mkdocs.yml: no web fonts, no plugin that fetches at build time, the reference pages
        and the migration page in the navigation."""
        import yaml

        config = yaml.load((ROOT / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
        assert config["theme"]["font"] == "false"
        plugins = {next(iter(p)) if isinstance(p, dict) else p for p in config["plugins"]}
        assert plugins == {"search", "autorefs", "mkdocstrings"}  # no social/privacy plugins
        nav = str(config["nav"])
        for page in (
            "reference/pipeline.md",
            "reference/nodes.md",
            "gallery.md",
            "debugging.md",
            "from-ignite.md",
        ):
            assert page in nav
