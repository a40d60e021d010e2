"""The core stays torch-free: pipeline imports the standard library and networkx only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import pipeline

PIPELINE_DIR = Path(pipeline.__file__).parent
FORBIDDEN = {"torch", "ignite", "graphviz", "nodes", "tensorboard", "numpy"}


def top_level_imports(path: Path) -> set[str]:
    """The root modules a file imports outside functions (TYPE_CHECKING blocks excluded)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()

    def visit(stmts: list[ast.stmt]) -> None:
        for node in stmts:
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
            elif isinstance(node, ast.If):
                if "TYPE_CHECKING" not in ast.unparse(node.test):
                    visit(node.body)
                visit(node.orelse)
            elif isinstance(node, (ast.Try, ast.With)):
                visit(node.body)
                if isinstance(node, ast.Try):
                    for handler in node.handlers:
                        visit(handler.body)
                    visit(node.orelse)
                    visit(node.finalbody)

    visit(tree.body)
    return found


class TestLayering:
    @pytest.mark.parametrize(
        "path",
        sorted(PIPELINE_DIR.rglob("*.py")),
        ids=lambda p: str(p.relative_to(PIPELINE_DIR)),
    )
    def test_no_heavy_top_level_import(self, path: Path) -> None:
        """No module of pipeline/ imports torch, ignite, graphviz or nodes at top level."""
        assert top_level_imports(path) & FORBIDDEN == set()

    def test_graphviz_imported_lazily_in_render(self) -> None:
        """graphviz is imported inside render.py's functions only."""
        tree = ast.parse((PIPELINE_DIR / "render.py").read_text())
        inner = {
            alias.name
            for fn in ast.walk(tree)
            if isinstance(fn, ast.FunctionDef)
            for node in ast.walk(fn)
            if isinstance(node, ast.Import)
            for alias in node.names
        }
        assert "graphviz" in inner
        assert "graphviz" not in top_level_imports(PIPELINE_DIR / "render.py")

    def test_import_pipeline_loads_no_torch(self) -> None:
        """`import pipeline` (and using a State) imports neither torch nor ignite nor graphviz."""
        code = (
            "import sys, pipeline\n"
            "s = pipeline.State(); s.configs.x = 1; s.validate(); s.overview(); s.state_dict()\n"
            "print(sorted(m for m in ('torch', 'ignite', 'graphviz') if m in sys.modules))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            cwd=PIPELINE_DIR.parent,
            timeout=60,
        )
        assert out.stdout.strip() == "[]", out.stdout + out.stderr

    def test_init_only_reexports(self) -> None:
        """pipeline/__init__.py only re-exports, and __all__ lists the public API of the issue."""
        tree = ast.parse((PIPELINE_DIR / "__init__.py").read_text())
        kinds = {type(node) for node in tree.body}
        assert kinds <= {ast.Expr, ast.ImportFrom, ast.Assign}
        for name in ("State", "Node", "Variable", "Ref", "GraphError", "Handle", "Event"):
            assert name in pipeline.__all__ and hasattr(pipeline, name)
