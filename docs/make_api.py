"""Fill the tables of node variables in ``docs/api.md`` from the classes themselves.

Each table sits between ``<!-- variables: Class -->`` and ``<!-- /variables -->``
and lists the ``Variable``s the class declares (``Class._declared``: name,
default, doc, persistent, shared), so the reference cannot drift from the code.
``<!-- variables: structure -->`` lists the variables of a fresh State's
``structure`` container.

    python docs/make_api.py           # rewrite the tables in docs/api.md
    python docs/make_api.py --check   # exit 1 when a table is out of date
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="fail when api.md is out of date")
    args = parser.parse_args()
    text = API.read_text()
    new = render(text)
    n = len(BLOCK.findall(text))
    if args.check:
        if new != text:
            sys.exit(f"{API} is out of date: run python docs/make_api.py")
        print(f"{API.name}: {n} tables up to date")
        return
    API.write_text(new)
    print(f"{API.name}: {n} tables written")


if __name__ == "__main__":
    main()
