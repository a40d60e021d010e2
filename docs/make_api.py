"""Generate the API reference from the code: the pages of ``docs/reference/`` and the
tables of node variables in ``docs/api.md``.

``docs/reference/<package>.md`` has one mkdocstrings block (``::: nodes.Engine``)
per name of the package's ``__all__`` (for ``nodes``, also the names its modules
export without the package re-exporting them), each node class followed by the
table of the ``Variable``s it declares; the site renders the docstrings.

In ``docs/api.md`` each table sits between ``<!-- variables: Class -->`` and
``<!-- /variables -->`` and lists the ``Variable``s the class declares
(``Class._declared``: name, default, doc, persistent, shared), so the reference
cannot drift from the code. ``<!-- variables: structure -->`` lists the
variables of a fresh State's ``structure`` container.

    python docs/make_api.py           # rewrite the reference pages and the tables
    python docs/make_api.py --check   # exit 1 when one of them is out of date
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from types import ModuleType

import nodes
import pipeline
from nodes import EarlyStopping, Engine, LRScheduler, ProgressBar, TerminateOnNan
from nodes.checkpoint import Checkpoint
from nodes.distributed import Distributed
from nodes.ignite_engine import IgniteLoop
from nodes.rng import RandomStates
from nodes.tensorboard import (
    EnginesMetricsCharts,
    EnginesMetricsComparisonCharts,
    Histograms,
    ScalarChart,
    TensorBoard,
)
from nodes.tensorboard_charts import Series
from pipeline import Node, State

API = Path(__file__).resolve().parent / "api.md"
REFERENCE = Path(__file__).resolve().parent / "reference"

#: The reference pages: package -> what the page says it is.
PACKAGES: dict[ModuleType, str] = {
    pipeline: "The core: the state, its variables and their dependency graph. No torch.",
    nodes: "The ready-made nodes, on torch and pytorch-ignite.",
}

#: The node classes whose variables the reference lists, by the name used in the markers.
CLASSES: dict[str, type[Node]] = {
    cls.__name__: cls
    for cls in (
        Engine,
        IgniteLoop,
        EarlyStopping,
        LRScheduler,
        TerminateOnNan,
        ProgressBar,
        TensorBoard,
        ScalarChart,
        Histograms,
        EnginesMetricsComparisonCharts,
        Series,
        EnginesMetricsCharts,
        Checkpoint,
        RandomStates,
        Distributed,
    )
}

BLOCK = re.compile(r"(<!-- variables: (\w+) -->\n)(.*?)(<!-- /variables -->)", re.S)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def table(rows: list[tuple[str, object, str, bool, bool | str]]) -> str:
    """A markdown table of (name, default, doc, persistent, shared) rows; shared is a bool
    or ``"owner only"`` (a variable that refuses every other writer at once)."""
    if not rows:
        return "No variables of its own (its state is its `state_dict()`).\n"
    lines = [
        "| variable | default | saved | shared | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, default, doc, persistent, shared in rows:
        lines.append(
            f"| `{name}` | `{default!r}` | {'yes' if persistent else 'no'} "
            f"| {shared if isinstance(shared, str) else 'yes' if shared else 'no'} "
            f"| {_cell(doc)} |"
        )
    return "\n".join(lines) + "\n"


def rows_of(name: str) -> list[tuple[str, object, str, bool, bool | str]]:
    """The rows of the table named ``name`` in a marker."""
    if name == "structure":
        box = State().structure
        return [
            (var, slot.value, slot.doc, slot.persistent is not False, True)
            for var, slot in box._vars.items()
        ]
    try:
        cls = CLASSES[name]
    except KeyError:
        raise SystemExit(
            f"docs/api.md names an unknown class {name!r}; known: {sorted(CLASSES)}"
        ) from None
    return [
        (v.name, v.default, v.doc, v.persistent, "owner only" if v.owner_only else v.shared)
        for v in cls._declared.values()
    ]


def render(text: str) -> str:
    """``text`` with every variables block regenerated."""
    return BLOCK.sub(lambda m: m.group(1) + table(rows_of(m.group(2))) + m.group(4), text)


def public_names(package: ModuleType) -> dict[str, list[str]]:
    """Module path -> the public names documented there: the package's ``__all__``, then,
    for ``nodes``, what each public module exports that the package does not re-export."""
    out = {package.__name__: list(package.__all__)}
    if package is nodes:
        exported = {id(getattr(package, name)) for name in package.__all__}
        for info in pkgutil.iter_modules(package.__path__):
            if info.name.startswith("_"):
                continue
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            extra = [n for n in module.__all__ if id(getattr(module, n)) not in exported]
            if extra:
                out[module.__name__] = extra
    return out


def variables_table(cls: type[Node]) -> str:
    """The variables ``cls`` declares, less those of the nearest public base that declares
    some (named with a link instead: the table of ``Trainer`` does not repeat ``Engine``'s)."""
    base = next(
        (
            b
            for b in cls.__mro__[1:]
            if getattr(b, "_declared", None) and b is not Node and not b.__name__.startswith("_")
        ),
        None,
    )
    inherited = set(base._declared) if base is not None else set()
    own = [v for name, v in cls._declared.items() if name not in inherited]
    lines = [f"**Variables of `{cls.__name__}`**", ""]
    if own or base is None:
        lines.append(table([(v.name, v.default, v.doc, v.persistent, v.shared) for v in own]))
    if base is not None:
        lines.append(
            f"And every variable of [`{base.__name__}`][{base.__module__}.{base.__name__}].\n"
        )
    return "\n".join(lines)


def reference_page(package: ModuleType) -> str:
    """The Markdown of ``docs/reference/<package>.md``."""
    name = package.__name__
    lines = [
        f"# `{name}`",
        "",
        PACKAGES[package],
        "",
        "<!-- Generated by docs/make_api.py from the code: edit the docstrings, then run "
        "python docs/make_api.py -->",
        "",
    ]
    for module, names in public_names(package).items():
        if module != name:
            lines += [f"## `{module}`", "", f"Exported by `{module}`, not re-exported by `{name}`.", ""]  # fmt: skip
        for attr in sorted(names, key=str.lower):
            mod = importlib.import_module(module)
            obj = getattr(mod, attr)
            # A name the package exports lazily (a module __getattr__) is documented
            # where it is defined: mkdocstrings reads the source, not the running module.
            where = module if module != name or attr in vars(mod) else obj.__module__
            lines += [f"::: {where}.{attr}"]
            if module != name:  # under the module's heading
                lines += ["    options:", "      heading_level: 3"]
            lines += [""]
            if inspect.isclass(obj) and issubclass(obj, Node) and obj is not Node:
                lines += [variables_table(obj), ""]
    return "\n".join(lines).rstrip("\n") + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when a page is out of date")
    args = parser.parse_args()
    text = API.read_text()
    pages = {API: render(text)}
    pages.update(
        {REFERENCE / f"{package.__name__}.md": reference_page(package) for package in PACKAGES}
    )
    n = len(BLOCK.findall(text))
    if args.check:
        stale = [str(path) for path, new in pages.items() if not path.exists() or path.read_text() != new]  # fmt: skip
        if stale:
            sys.exit(f"out of date: {', '.join(stale)}: run python docs/make_api.py")
        print(f"{API.name}: {n} tables up to date; reference pages up to date")
        return
    REFERENCE.mkdir(exist_ok=True)
    for path, new in pages.items():
        path.write_text(new)
    print(f"{API.name}: {n} tables written; {', '.join(p.name for p in pages if p != API)} written")


if __name__ == "__main__":
    main()
