"""Overhead of the core state graph next to plain Python, measured in one run.

Prints one table per question:

  (a) reading a variable vs reading a plain attribute of a plain object;
  (b) setting a variable nobody subscribes to vs setting a plain attribute
      (with the pure-Python twin of the compiled hook as a reference row);
  (c) one set dispatched to k = 0, 1, 4, 16 no-op subscribers (taking no
      argument, or the Event), next to the same set plus k direct calls;
  (d) one set with one subscriber in a graph of 10 vs 10,000 unrelated
      variables and subscriptions;
  (e) the cost of ``hold()`` and of an active ``trace()`` on one set.

Method. Every case is a statement (``o.n``, ``o.n = 0``, ...) written out
``UNROLL`` times in the body of a generated function ``for _ in range(loops):
<stmt>; <stmt>; ...``, so the framework and its baseline pay the same (small)
loop overhead; nothing is subtracted from either side. Set statements
alternate between the values 0 and 1 so every set is a change. One timing
runs the function once with ``loops`` calibrated to take about ``--target-ms``,
under ``time.perf_counter_ns`` with the garbage collector disabled; ns/op is
the elapsed time over ``loops * UNROLL``. Each repeat times every case of a
table once, in turn (subject and baseline interleaved), and the table shows
the median over ``--repeats`` repeats and the ratio of the medians. Reference
rows (marked "ref") show what any Python-level hook costs on this
interpreter, to tell the framework's own work from CPython's.

    OMP_NUM_THREADS=1 python benchmarks/bench_core.py [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import platform
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pipeline import Node, State, Variable, _hooks, _pyhooks
from pipeline.variable import Slot

UNROLL = 50


# Timing machinery -------------------------------------------------------------


def make_loop(stmts: Sequence[str], names: Sequence[str]) -> Callable[..., None]:
    """Compile ``for _ in range(loops):`` around the statements, unrolled ``UNROLL`` times.

    ``stmts`` are cycled (``["o.n = 0", "o.n = 1"]`` alternates the values);
    ``names`` become arguments of the function, so they are fast locals.
    """
    body = "".join(f"        {stmts[i % len(stmts)]}\n" for i in range(UNROLL))
    src = f"def _loop(_loops, {', '.join(names)}):\n    for _ in range(_loops):\n{body}"
    namespace: dict[str, Any] = {}
    exec(compile(src, "<bench>", "exec"), namespace)
    return namespace["_loop"]  # type: ignore[no-any-return]


@dataclass
class Case:
    """One timed statement and the objects it runs on."""

    label: str
    stmts: Sequence[str]
    env: dict[str, Any]
    note: str = ""
    loops: int = 0
    samples: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.fn = make_loop(self.stmts, list(self.env))
        self.args = list(self.env.values())

    def run(self, loops: int) -> int:
        gc.disable()
        try:
            t0 = time.perf_counter_ns()
            self.fn(loops, *self.args)
            return time.perf_counter_ns() - t0
        finally:
            gc.enable()

    def calibrate(self, target_ns: float) -> None:
        loops = 1
        while True:
            elapsed = self.run(loops)
            if elapsed >= target_ns / 4:
                self.loops = max(1, int(loops * target_ns / elapsed))
                return
            loops *= 4

    def sample(self) -> None:
        self.samples.append(self.run(self.loops) / (self.loops * UNROLL))

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def measure(cases: Sequence[Case], repeats: int, target_ms: float) -> None:
    """Calibrate every case, then time them in turn, ``repeats`` times."""
    for case in cases:
        case.calibrate(target_ms * 1e6)
    for _ in range(repeats):
        for case in cases:
            case.sample()


def print_table(title: str, rows: Sequence[tuple[str, ...]], header: Sequence[str]) -> None:
    widths = [max(len(str(r[i])) for r in [tuple(header), *rows]) for i in range(len(header))]
    print(f"\n{title}")
    line = "  ".join(
        h.ljust(w) if i == 0 else h.rjust(w)
        for i, (h, w) in enumerate(zip(header, widths, strict=True))
    )
    print(line)
    print("-" * len(line))
    for row in rows:
        print(
            "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(row, widths, strict=True))
            )
        )


def spread(case: Case) -> str:
    """Min and max of the repeats, to show how noisy the median is."""
    return f"{min(case.samples):.1f}-{max(case.samples):.1f}"


def verdict(ratio: float, target: float | None) -> str:
    if target is None:
        return ""
    return f"<= {target:g}x: {'PASS' if ratio <= target else 'FAIL'}"


def compare_table(
    title: str, pairs: Sequence[tuple[Case, Case, float | None]], refs: Sequence[Case] = ()
) -> list[tuple[str, ...]]:
    """Rows of subject vs baseline; reference rows are shown against the first baseline."""
    rows: list[tuple[str, ...]] = []
    for subject, base, target in pairs:
        ratio = subject.median / base.median
        rows.append((base.label, f"{base.median:.1f}", spread(base), "1.00x", ""))
        rows.append(
            (
                subject.label,
                f"{subject.median:.1f}",
                spread(subject),
                f"{ratio:.2f}x",
                verdict(ratio, target),
            )
        )
    if refs:
        base = pairs[0][1]
        for ref in refs:
            rows.append(
                (
                    f"ref: {ref.label}",
                    f"{ref.median:.1f}",
                    spread(ref),
                    f"{ref.median / base.median:.2f}x",
                    "",
                )
            )
    print_table(title, rows, ("case", "ns/op", "min-max", "ratio", "target"))
    return rows


# The objects measured -----------------------------------------------------------


class Counter(Node):
    """A node with one variable, as an engine's counter."""

    n = Variable(0, doc="a counter")


class Plain:
    """A plain object: the baseline."""

    def __init__(self) -> None:
        self.n = 0
        self.box = self


class WithGetattr:
    """A plain object whose class defines ``__getattr__`` (as Node and Container do)."""

    def __init__(self) -> None:
        self.n = 0

    def __getattr__(self, name: str) -> Any:
        raise AttributeError(name)


class EmptyHook:
    """A class with the cheapest possible Python ``__setattr__``: the floor of any hook."""

    def __setattr__(self, name: str, value: Any) -> None:
        pass


class PurePythonCounter(_pyhooks.OwnerBase):
    """An owner on the pure-Python hook (``pipeline/_pyhooks.py``), with a real Slot."""

    def __init__(self, state: State) -> None:
        object.__setattr__(self, "n", 0)
        object.__setattr__(self, "_vars", {"n": Slot(state, self, "n", "pure.n", 0)})

    def _set_other(self, name: str, value: Any) -> None:
        raise AttributeError(name)


def hook_kind() -> str:
    if _hooks.COMPILED:
        return "compiled (pipeline/_speedups.c)"
    return (
        "pure Python (pipeline/_pyhooks.py; the extension is not built or STATEFIRE_PURE_PYTHON=1)"
    )


def noop() -> None:
    pass


def noop_event(event: Any) -> None:
    pass


def big_state(n_unrelated: int) -> tuple[State, Counter]:
    """A state with ``n_unrelated`` variables (half in a container, half on nodes of
    five variables), each with one subscriber, plus the measured counter with one."""
    state = State()
    other = state.add_container("other")
    n_nodes = n_unrelated // 2 // 5
    n_vars = n_unrelated - 5 * n_nodes

    class Five(Node):
        a = Variable(0)
        b = Variable(0)
        c = Variable(0)
        d = Variable(0)
        e = Variable(0)

    for i in range(n_vars):
        ref = other.add_variable(f"v{i}", 0)
        ref.subscribe(lambda: None)
    for i in range(n_nodes):
        node = Five(state, f"five{i}")
        for name in "abcde":
            node.ref(name).subscribe(lambda: None)
    counter = Counter(state, "counter")
    counter.n_ref.subscribe(noop)
    return state, counter


# The tables ---------------------------------------------------------------------


def bench_read(repeats: int, target_ms: float) -> None:
    state = State()
    node = Counter(state, "counter")
    state.configs.lr = 0.1
    plain = Plain()
    base = Case("plain object: o.n", ["o.n"], {"o": plain})
    var = Case("node variable: node.n", ["o.n"], {"o": node})
    base2 = Case("plain object: o.box.n", ["o.box.n"], {"o": plain})
    cvar = Case("container variable: state.configs.lr", ["s.configs.lr"], {"s": state})
    ref = Case("Ref.value", ["r.value"], {"r": node.n_ref})
    hook = Case("plain object, class with __getattr__", ["o.n"], {"o": WithGetattr()})
    measure([base, var, base2, cvar, ref, hook], repeats, target_ms)
    compare_table(
        "(a) read a variable vs a plain attribute",
        [(var, base, 3.0), (cvar, base2, None)],
        refs=[ref, hook],
    )


def bench_set(repeats: int, target_ms: float) -> None:
    state = State()
    node = Counter(state, "counter")
    state.configs.x = 0
    sets = ["o.n = 0", "o.n = 1"]
    base = Case("plain object: o.n = v", sets, {"o": Plain()})
    var = Case("node variable, no subscriber", sets, {"o": node})
    cvar = Case("container variable, no subscriber", ["c.x = 0", "c.x = 1"], {"c": state.configs})
    floor = Case("empty Python __setattr__", sets, {"o": EmptyHook()})
    pure = Case("node variable on the pure-Python hook", sets, {"o": PurePythonCounter(state)})
    measure([base, var, cvar, floor, pure], repeats, target_ms)
    compare_table(
        f"(b) set a variable with no subscriber vs a plain attribute (hook: {hook_kind()})",
        [(var, base, 15.0)],
        refs=[cvar, floor, pure],
    )


def bench_dispatch(repeats: int, target_ms: float) -> None:
    rows: list[tuple[str, ...]] = []
    for pass_event in (False, True):
        cb = noop_event if pass_event else noop
        call = "f(v)" if pass_event else "f()"
        cases: list[tuple[int, Case, Case]] = []
        for k in (0, 1, 4, 16):
            state = State()
            node = Counter(state, "counter")
            for _ in range(k):
                node.n_ref.subscribe(cb)
            subject = Case(f"k={k}", ["o.n = 0", "o.n = 1"], {"o": node})
            by_hand = "; ".join([*[call] * k])
            stmts = [f"p.n = {v}" + (f"; {by_hand}" if k else "") for v in (0, 1)]
            base = Case(f"k={k} by hand", stmts, {"p": Plain(), "f": cb, "v": None})
            cases.append((k, subject, base))
        measure([c for _, s, b in cases for c in (s, b)], repeats, target_ms)
        zero = cases[0][1].median
        for k, subject, base in cases:
            per_sub = f"{(subject.median - zero) / k:.1f}" if k else ""
            rows.append(
                (
                    "Event" if pass_event else "no arg",
                    str(k),
                    f"{subject.median:.1f}",
                    spread(subject),
                    per_sub,
                    f"{base.median:.1f}",
                    f"{subject.median / base.median:.1f}x",
                )
            )
    print_table(
        "(c) one set dispatched to k no-op subscribers (by hand: plain set + k direct calls)",
        rows,
        ("callback", "k", "ns/set", "min-max", "ns/subscriber", "by hand ns", "ratio"),
    )


def bench_scaling(repeats: int, target_ms: float, n_big: int) -> None:
    _, small_node = big_state(10)
    t0 = time.perf_counter()
    _, big_node = big_state(n_big)
    build_s = time.perf_counter() - t0
    sets = ["o.n = 0", "o.n = 1"]
    small = Case("graph of 10 unrelated variables", sets, {"o": small_node})
    big = Case(f"graph of {n_big:,} unrelated variables", sets, {"o": big_node})
    measure([small, big], repeats, target_ms)
    compare_table(
        f"(d) one set with one subscriber, small vs large graph "
        f"(building the large one took {build_s:.1f} s)",
        [(big, small, 1.2)],
    )


def bench_hold_trace(repeats: int, target_ms: float) -> None:
    state = State()
    node = Counter(state, "counter")
    node.n_ref.subscribe(noop)
    sets = ["o.n = 0", "o.n = 1"]
    base = Case("set, one subscriber", sets, {"o": node})
    hold = Case(
        "the same set inside `with state.hold():`",
        [f"with h(): {s}" for s in sets],
        {"o": node, "h": state.hold},
    )
    measure([base, hold], repeats, target_ms)
    with state.trace(maxlen=1000):
        traced = Case("the same set while a trace records", sets, {"o": node})
        measure([traced], repeats, target_ms)
    compare_table("(e) hold() and trace() on one set", [(hold, base, None), (traced, base, None)])


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import os

    return (
        f"{cpu}, {os.cpu_count()} cores; Python {platform.python_version()} "
        f"({platform.python_implementation()}); {platform.platform()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timings per case (median shown)")
    parser.add_argument("--target-ms", type=float, default=50.0, help="duration of one timing")
    parser.add_argument(
        "--quick", action="store_true", help="3 short repeats, a 2,000-variable graph"
    )
    parser.add_argument("--n-big", type=int, default=10_000, help="size of the large graph in (d)")
    args = parser.parse_args()
    repeats, target_ms, n_big = args.repeats, args.target_ms, args.n_big
    if args.quick:
        repeats, target_ms, n_big = 3, 5.0, min(n_big, 2_000)
    print(f"bench_core: {machine()}")
    print(f"set hook: {hook_kind()}")
    print(
        f"{repeats} repeats of ~{target_ms:g} ms per case, statement unrolled x{UNROLL}, "
        "gc disabled while timing; ns/op are medians"
    )
    sys.stdout.flush()
    bench_read(repeats, target_ms)
    bench_set(repeats, target_ms)
    bench_dispatch(repeats, target_ms)
    bench_scaling(repeats, target_ms, n_big)
    bench_hold_trace(repeats, target_ms)


if __name__ == "__main__":
    main()
