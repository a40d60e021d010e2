"""Per-iteration cost of statefire's ``Engine`` next to a hand-written loop and ignite's.

Four loops over the same data, in one run (for (d), see below):

  raw           a hand-written Python ``for`` loop calling the same process function;
  ignite        ``ignite.engine.Engine(process_fn).run(data)``;
  statefire     ``nodes.Engine(state, name, process_fn, data).run()``;
  IgniteEngine  ``nodes.IgniteEngine(process_fn).run(data)``: ignite's Engine run by
                statefire's ``IgniteLoop``, whose events are the variables of that
                statefire engine (target: an overhead at most ignite's);

on four workloads:

  (a) a no-op process function (``return batch``) over ``--iterations`` batches;
  (b) the same with five handlers, three every iteration and two every 10
      (ignite: ``Events.ITERATION_COMPLETED`` x3 and ``ITERATION_COMPLETED(every=10)``
      x2; statefire: ``n_iteration_completed_ref.subscribe(h)`` x3 and
      ``subscribe(h, every=10)`` x2; IgniteEngine: as ignite; raw: the five calls,
      the last two under ``if i % 10 == 0``). Each handler is a no-argument function that counts
      its calls; the counts are checked to be equal across the four loops;
  (d) the no-op process function with one handler every iteration written the
      ignite way (``def h(engine)``): on ignite's engine, on statefire's
      ``engine.ignite`` face (a subscription of ``n_iteration_completed``), and,
      for comparison, as a plain statefire subscription (``def h()``); raw calls
      it in the loop. It prints the cost of one ignite handler through the face;
      (a) is the face's cost when nothing is attached to it (none: it adds no
      subscription until a handler is attached);
  (c) a training step of a tiny MLP (Linear(32, 64)-ReLU-Linear(64, 10),
      cross-entropy, SGD lr 0.01, batches of 64x32 floats) over
      ``--mlp-iterations`` batches; every loop starts from the same weights and
      the final weights are checked to be equal across the four loops.

The batches of (a) and (b) are precomputed tensors of shape (1,) (views of one
tensor), so statefire's ``n_samples`` reads a real shape; those of (c) are
``(x, y)`` tuples, views of one precomputed data set. The data is a list, so
no loop pays for a ``DataLoader``.

Method. Engines are built once per workload and run once, untimed, to warm up
(statefire validates its graph on the first run). A timing is one full run
(one epoch over the data) of one loop under ``time.perf_counter_ns``, after
``gc.collect()`` and with the garbage collector disabled; the per-iteration
time is the elapsed time over the number of iterations. Each repeat times the
four loops once each, one after the other, in an order that rotates from
repeat to repeat, so that machine noise falls on all four alike; the tables
show medians over ``--repeats`` repeats and the min-max. The overhead of an
engine is its median per-iteration time minus the raw loop's: the only
subtraction made. For (c) the target is judged on the median over repeats of
the ratio statefire / raw within a repeat (the loops of one repeat run back
to back, so the ratio cancels slow drifts of the machine's load); the ratio
of the medians is printed next to it, and so is what (a)'s overhead alone
predicts for (c). The process functions and handlers are the same Python
functions in all four loops.

    OMP_NUM_THREADS=1 python benchmarks/bench_engine.py [--repeats 15] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

# The benchmarks folder (for bench_core) and the repository root (for a checkout whose
# editable install predates nodes/__init__.py, where `nodes` would be a namespace package).
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_HERE, os.path.dirname(_HERE)]
from bench_core import hook_kind, machine, print_table  # noqa: E402

from nodes import Engine  # noqa: E402
from nodes import IgniteEngine as StatefireIgniteEngine  # noqa: E402
from pipeline import State  # noqa: E402

warnings.filterwarnings("ignore", category=DeprecationWarning)
warnings.filterwarnings("ignore", category=FutureWarning)
from ignite.engine import Engine as IgniteEngine  # noqa: E402
from ignite.engine import Events  # noqa: E402

LOOPS = ("raw", "ignite", "statefire", "IgniteEngine")


@dataclass
class Loop:
    """One timed loop: ``run()`` does one full pass over the data."""

    label: str
    run: Callable[[], Any]
    reset: Callable[[], None] | None = None  # called, untimed, before every run
    after: Callable[[], None] | None = None  # called, untimed, after every run
    samples: list[float] = field(default_factory=list)

    def time(self, n_iterations: int) -> None:
        if self.reset is not None:
            self.reset()
        gc.collect()
        gc.disable()
        try:
            t0 = time.perf_counter_ns()
            self.run()
            elapsed = time.perf_counter_ns() - t0
        finally:
            gc.enable()
            if self.after is not None:
                self.after()
        self.samples.append(elapsed / n_iterations / 1000)  # us per iteration

    @property
    def median(self) -> float:
        return statistics.median(self.samples)


def measure(loops: Sequence[Loop], n_iterations: int, repeats: int) -> None:
    """Warm up every loop once, then time them ``repeats`` times, rotating the order."""
    for loop in loops:
        if loop.reset is not None:
            loop.reset()
        loop.run()
        if loop.after is not None:
            loop.after()
    for r in range(repeats):
        for i in range(len(loops)):
            loops[(r + i) % len(loops)].time(n_iterations)


# The workloads ------------------------------------------------------------------


def noop_process(engine: Any, batch: Any) -> Any:
    return batch


def scalar_batches(n: int) -> list[torch.Tensor]:
    """``n`` tensors of shape (1,), views of one tensor."""
    return list(torch.arange(n, dtype=torch.float32).reshape(n, 1).unbind(0))


def make_handlers() -> tuple[list[int], list[Callable[[], None]]]:
    """Five no-argument handlers, each counting its calls in ``counts``."""
    counts = [0, 0, 0, 0, 0]

    def h0() -> None:
        counts[0] += 1

    def h1() -> None:
        counts[1] += 1

    def h2() -> None:
        counts[2] += 1

    def h3() -> None:
        counts[3] += 1

    def h4() -> None:
        counts[4] += 1

    return counts, [h0, h1, h2, h3, h4]


def loops_noop(data: list[Any], process: Callable[[Any, Any], Any]) -> list[Loop]:
    def raw() -> Any:
        output = None
        for batch in data:
            output = process(None, batch)
        return output

    ignite = IgniteEngine(process)
    engine = Engine(State(), "engine", process, data)
    both = StatefireIgniteEngine(process)
    return [
        Loop("raw", raw),
        Loop("ignite", lambda: ignite.run(data, max_epochs=1)),
        Loop("statefire", engine.run),
        Loop("IgniteEngine", lambda: both.run(data, max_epochs=1)),
    ]


def loops_handlers(data: list[Any]) -> tuple[list[Loop], list[list[int]]]:
    process = noop_process
    raw_counts, (r0, r1, r2, r3, r4) = make_handlers()

    def raw() -> Any:
        output = None
        for i, batch in enumerate(data, 1):
            output = process(None, batch)
            r0()
            r1()
            r2()
            if i % 10 == 0:
                r3()
                r4()
        return output

    def ignite_with_handlers(cls: type[IgniteEngine]) -> tuple[list[int], IgniteEngine]:
        counts, hs = make_handlers()
        engine = cls(process)
        for h in hs[:3]:
            engine.add_event_handler(Events.ITERATION_COMPLETED, h)
        for h in hs[3:]:
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=10), h)
        return counts, engine

    ignite_counts, ignite = ignite_with_handlers(IgniteEngine)
    both_counts, both = ignite_with_handlers(StatefireIgniteEngine)

    sf_counts, hs = make_handlers()
    engine = Engine(State(), "engine", process, data)
    for h in hs[:3]:
        engine.n_iteration_completed_ref.subscribe(h)
    for h in hs[3:]:
        engine.n_iteration_completed_ref.subscribe(h, every=10)

    loops = [
        Loop("raw", raw),
        Loop("ignite", lambda: ignite.run(data, max_epochs=1)),
        Loop("statefire", engine.run),
        Loop("IgniteEngine", lambda: both.run(data, max_epochs=1)),
    ]
    return loops, [raw_counts, ignite_counts, sf_counts, both_counts]


def loops_face(data: list[Any]) -> tuple[list[Loop], list[list[int]]]:
    """One handler every iteration: raw, on ignite, through engine.ignite, as a subscription."""
    process = noop_process

    def counter() -> tuple[list[int], Callable[[Any], None], Callable[[], None]]:
        counts = [0]

        def h_engine(engine: Any) -> None:
            counts[0] += 1

        def h() -> None:
            counts[0] += 1

        return counts, h_engine, h

    raw_counts, _, r0 = counter()

    def raw() -> Any:
        output = None
        for batch in data:
            output = process(None, batch)
            r0()
        return output

    ignite_counts, h_engine, _ = counter()
    ignite = IgniteEngine(process)
    ignite.add_event_handler(Events.ITERATION_COMPLETED, h_engine)

    face_counts, h_engine, _ = counter()
    face_engine = Engine(State(), "engine", process, data)
    face_engine.ignite.add_event_handler(Events.ITERATION_COMPLETED, h_engine)

    sub_counts, _, h = counter()
    sub_engine = Engine(State(), "engine", process, data)
    sub_engine.n_iteration_completed_ref.subscribe(h)

    loops = [
        Loop("raw", raw),
        Loop("ignite", lambda: ignite.run(data, max_epochs=1)),
        Loop("statefire", sub_engine.run),
        Loop("statefire.ignite", face_engine.run),
    ]
    return loops, [raw_counts, ignite_counts, sub_counts, face_counts]


def loops_mlp(n: int, seed: int = 0) -> tuple[list[Loop], list[torch.nn.Module]]:
    """Four loops training four copies of one MLP; each run starts from the same weights."""
    g = torch.Generator().manual_seed(seed)
    xs = torch.randn(n, 64, 32, generator=g)
    ys = torch.randint(0, 10, (n, 64), generator=g)
    data = list(zip(xs.unbind(0), ys.unbind(0), strict=True))
    torch.manual_seed(seed)
    init = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))
    start = {k: v.clone() for k, v in init.state_dict().items()}
    loss_fn = torch.nn.CrossEntropyLoss()

    def make_step() -> tuple[torch.nn.Module, Callable[[Any, Any], Any], Callable[[], None]]:
        model = torch.nn.Sequential(
            torch.nn.Linear(32, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10)
        )
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01)

        def step(engine: Any, batch: Any) -> Any:
            x, y = batch
            optimizer.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            optimizer.step()
            return loss.detach()

        def reset() -> None:
            model.load_state_dict(start)

        return model, step, reset

    models = []
    loops = []
    for label in LOOPS:
        model, step, reset = make_step()
        models.append(model)
        if label == "raw":

            def raw(step: Any = step) -> Any:
                output = None
                for batch in data:
                    output = step(None, batch)
                return output

            run: Callable[[], Any] = raw
        elif label in ("ignite", "IgniteEngine"):
            ignite = (IgniteEngine if label == "ignite" else StatefireIgniteEngine)(step)
            run = lambda ignite=ignite: ignite.run(data, max_epochs=1)  # noqa: E731
        else:
            run = Engine(State(), "trainer", step, data).run
        loops.append(Loop(label, run, reset))
    return loops, models


# Reporting ------------------------------------------------------------------------


def spread(loop: Loop) -> str:
    return f"{min(loop.samples):.3f}-{max(loop.samples):.3f}"


def report(title: str, loops: Sequence[Loop]) -> dict[str, float]:
    """Print one table; return the median per-iteration overhead of each engine (us)."""
    raw = loops[0]
    overheads: dict[str, float] = {}
    rows = []
    for loop in loops:
        over = loop.median - raw.median
        overheads[loop.label] = over
        rows.append(
            (
                loop.label,
                f"{loop.median:.3f}",
                spread(loop),
                "" if loop is raw else f"{over:+.3f}",
                f"{loop.median / raw.median:.3f}x",
            )
        )
    print_table(title, rows, ("loop", "us/iter", "min-max", "overhead us/iter", "vs raw"))
    return overheads


def overhead_ratio(
    title: str, overheads: dict[str, float], target: float, label: str = "statefire"
) -> None:
    ratio = overheads[label] / overheads["ignite"]
    verdict = "PASS" if ratio <= target else "FAIL"
    print(
        f"{title}: {label} overhead / ignite overhead = {overheads[label]:.3f} / "
        f"{overheads['ignite']:.3f} us = {ratio:.3f} (target <= {target:g}: {verdict})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timings per loop (median shown)")
    parser.add_argument("--iterations", type=int, default=100_000, help="batches of (a) and (b)")
    parser.add_argument("--mlp-iterations", type=int, default=5_000, help="batches of (c)")
    parser.add_argument("--quick", action="store_true", help="3 repeats, 10,000 and 500 iterations")
    args = parser.parse_args()
    repeats, n, n_mlp = args.repeats, args.iterations, args.mlp_iterations
    if args.quick:
        repeats, n, n_mlp = 3, min(n, 10_000), min(n_mlp, 500)
    torch.set_num_threads(1)
    import ignite

    print(f"bench_engine: {machine()}")
    print(f"set hook: {hook_kind()}")
    print(
        f"torch {torch.__version__} ({torch.get_num_threads()} thread, "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}), "
        f"pytorch-ignite {ignite.__version__}"
    )
    print(
        f"{repeats} repeats, the loops interleaved in a rotating order; one timing = one "
        "run over all batches, gc disabled; us/iter are medians"
    )
    sys.stdout.flush()

    data = scalar_batches(n)
    loops = loops_noop(data, noop_process)
    measure(loops, n, repeats)
    over_a = report(f"(a) no-op process function, {n:,} batches (tensors of shape (1,))", loops)

    loops, counts = loops_handlers(data)
    measure(loops, n, repeats)
    if any(c != counts[0] for c in counts):
        raise AssertionError(
            f"handlers were called differently: raw/ignite/statefire/IgniteEngine {counts}"
        )
    over_b = report(
        f"(b) no-op process function and five handlers (3 every iteration, 2 every 10), "
        f"{n:,} batches",
        loops,
    )

    loops, counts = loops_face(data)
    measure(loops, n, repeats)
    if not counts[0] == counts[1] == counts[2] == counts[3]:
        raise AssertionError(f"the handler was called differently: {counts}")
    over_d = report(
        f"(d) no-op process function and one ignite-style handler every iteration, {n:,} batches "
        "(statefire: a subscription; statefire.ignite: attached to engine.ignite)",
        loops,
    )

    loops, models = loops_mlp(n_mlp)
    measure(loops, n_mlp, repeats)
    for model, loop in zip(models[1:], loops[1:], strict=True):
        for p, q in zip(models[0].parameters(), model.parameters(), strict=True):
            if not torch.equal(p, q):
                raise AssertionError(f"{loop.label} trained different weights than the raw loop")
    report(
        f"(c) MLP training step (Linear(32,64)-ReLU-Linear(64,10), SGD, batch 64x32), "
        f"{n_mlp:,} batches",
        loops,
    )

    print()
    overhead_ratio("(a)", over_a, 0.25)
    overhead_ratio("(b)", over_b, 0.25)
    overhead_ratio("(a)", over_a, 1, "IgniteEngine")
    overhead_ratio("(b)", over_b, 1, "IgniteEngine")
    print(
        "(a): nothing attached to engine.ignite adds no subscription: (a)'s statefire loop is "
        "the cost of the face unused"
    )
    print(
        f"(d): an ignite handler through engine.ignite costs "
        f"{over_d['statefire.ignite'] - over_d['statefire']:+.3f} us/iter more than the same "
        f"handler as a plain subscription; with it, statefire's overhead / ignite's = "
        f"{over_d['statefire.ignite']:.3f} / {over_d['ignite']:.3f} us = "
        f"{over_d['statefire.ignite'] / over_d['ignite']:.3f}"
    )
    raw, ign, sf = loops[:3]
    for loop, target in ((sf, 0.02), (ign, None)):
        rel = loop.median / raw.median - 1
        paired = statistics.median(
            s / r - 1 for s, r in zip(loop.samples, raw.samples, strict=True)
        )
        verdict = ""
        if target is not None:
            verdict = f" (target <= {target:.0%}: {'PASS' if paired <= target else 'FAIL'})"
        print(
            f"(c): {loop.label} vs raw loop: median of per-repeat ratios {paired:+.2%}, "
            f"ratio of medians {rel:+.2%}{verdict}"
        )
    print(
        f"(c): statefire's overhead in (a), {over_a['statefire']:.3f} us, is "
        f"{over_a['statefire'] / raw.median:.2%} of the raw training step ({raw.median:.1f} us)"
    )


if __name__ == "__main__":
    main()
