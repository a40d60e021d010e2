"""How long it takes to look at a large state: the view model, its DOT source,
and the drawn SVG, at the ``nodes`` level (the default) and the ``variables`` level.

The state: ``--nodes`` nodes of ``--vars`` variables each (default 500 x 20 =
10,000 variables), in five containers; each node subscribes to a counter of
the one before it (every third with an ``every=`` filter), reads another of
its variables, and a tenth of them write a shared container variable, so the
graph has as many edges as a real training has per node.

Each step is timed ``--repeats`` times (median, min-max); the target is the
issue's: the ``nodes`` level of a 10,000-variable state drawn in under 2 s
(view model + DOT + Graphviz's layout to SVG). The noise floor is the spread
of the repeats (shown); this machine is shared, so a median within the spread
of the target is not a failure of the code.

    OMP_NUM_THREADS=1 python benchmarks/bench_views.py [--repeats 5] [--nodes 500 --vars 20]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from pipeline import Node, State, Variable
from pipeline.render import pipe, to_dot


def build(n_nodes: int, n_vars: int) -> State:
    """A state of ``n_nodes`` nodes with ``n_vars`` variables each, chained by subscriptions."""
    state = State()
    for name in ("stage_a", "stage_b", "stage_c", "stage_d", "stage_e"):
        state.add_container(name)
    cls = type("Block", (Node,), {f"v{i}": Variable(0) for i in range(n_vars)})
    containers = ["stage_a", "stage_b", "stage_c", "stage_d", "stage_e"]
    nodes = [
        cls(state, f"block{i}", containers[i * len(containers) // n_nodes]) for i in range(n_nodes)
    ]
    for i, node in enumerate(nodes):
        if i % 10 == 0:
            setattr(state.configs, f"shared{i // 10}", 0)
        if i == 0:
            continue
        prev = nodes[i - 1]
        prev.ref("v0").subscribe(_noop_of(node), every=3 if i % 3 == 0 else None)
        node.declare_reads(prev.ref("v1"))
        if i % 10 == 0:
            node.declare_writes(f"configs.shared{i // 10}")
    return state


def _noop_of(node: Node) -> Callable[[], None]:
    def step() -> None:
        node.v0 += 1

    step.__qualname__ = f"step_{node.name}"
    return step


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def steps(
    state: State, level: str, repeats: int, has_dot: bool, tmp: Path
) -> list[tuple[str, list[float], str]]:
    """The timed steps of one level: view model, DOT source, and at the nodes level the drawing."""
    model = state.view_model(level)
    source = to_dot(model)
    rows = [
        (f"{level}: view model", timed(lambda: state.view_model(level), repeats), ""),
        (f"{level}: DOT source", timed(lambda: to_dot(model), repeats), ""),
    ]
    if level != "nodes":
        return rows
    if not has_dot:
        return [*rows, ("nodes: dot layout to SVG", [], "skipped: no Graphviz 'dot'")]
    total = timed(lambda: state.render(tmp / "g.svg"), repeats)
    ok = "PASS" if statistics.median(total) < 2.0 else "FAIL"
    return [
        *rows,
        ("nodes: dot layout to SVG", timed(lambda: pipe(source, "svg"), repeats), ""),
        ("nodes: state.render(svg), all", total, f"< 2 s: {ok}"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timings per step (median shown)")
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--vars", type=int, default=20, help="variables per node")
    args = parser.parse_args()

    start = time.perf_counter()
    state = build(args.nodes, args.vars)
    print(
        f"bench_views: {len(state.variables())} variables, {len(state.nodes())} nodes, "
        f"{state.graph.number_of_edges()} edges (built in {time.perf_counter() - start:.1f} s); "
        f"{args.repeats} repeats, seconds"
    )
    has_dot = shutil.which("dot") is not None
    rows: list[tuple[str, list[float], str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for level in ("nodes", "variables"):
            rows += steps(state, level, args.repeats, has_dot, Path(tmp))
    print(f"{'step':<34} {'median':>8} {'min-max':>15}  target")
    print("-" * 72)
    for name, times, target in rows:
        if not times:
            print(f"{name:<34} {'':>8} {'':>15}  {target}")
            continue
        spread = f"{min(times):.3f}-{max(times):.3f}"
        print(f"{name:<34} {statistics.median(times):>8.3f} {spread:>15}  {target}")


if __name__ == "__main__":
    main()
