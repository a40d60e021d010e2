"""Cost of leaving ``state.trace()`` on: the 5-handler engine loop, untraced vs traced.

The loop is (b) of ``bench_engine.py``: ``nodes.Engine`` with a no-op process
function over ``--iterations`` tensors of shape (1,), and five no-argument
handlers on ``n_iteration_completed`` (three on every iteration, two with
``every=10``). One engine and one state are timed in three ways, in one run:

  untraced    ``engine.run()``;
  untraced'   the same again: untraced vs untraced' is the noise floor (an
              A/A comparison: how far two timings of the same code differ here);
  traced      ``engine.run()`` while ``with state.trace(maxlen=...)`` records
              (the trace is started before the timing and ended after it, as
              when it is left on while debugging).

Method (as bench_engine.py, whose ``Loop`` and ``measure`` it uses). Every case
runs once untimed to warm up (the engine validates its graph on its first run).
A timing is one full run over the data under ``time.perf_counter_ns``, after
``gc.collect()`` and with the garbage collector disabled; us/iter is the
elapsed time over the number of iterations. Each
repeat times the three cases once each, in an order that rotates from repeat
to repeat; the table shows the median over ``--repeats`` and the min-max. The
target (traced at most 3x untraced) is judged on the ratio of the medians and
on the median of the per-repeat ratios. Ending a trace (turning the last
``maxlen`` records into entries) is timed apart, as a one-off.

    OMP_NUM_THREADS=1 python benchmarks/bench_trace.py [--repeats 9] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_HERE, os.path.dirname(_HERE)]
from bench_core import hook_kind, machine, print_table  # noqa: E402
from bench_engine import Loop, make_handlers, measure, noop_process, scalar_batches  # noqa: E402

from nodes import Engine  # noqa: E402
from pipeline import State, Trace  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=9, help="timings per case (median shown)")
    parser.add_argument("--iterations", type=int, default=100_000, help="batches per run")
    parser.add_argument("--maxlen", type=int, default=10_000, help="the trace's buffer")
    parser.add_argument("--quick", action="store_true", help="3 repeats of 20,000 iterations")
    args = parser.parse_args()
    repeats, n = args.repeats, args.iterations
    if args.quick:
        repeats, n = 3, min(n, 20_000)
    torch.set_num_threads(1)
    print(f"bench_trace: {machine()}")
    print(f"set hook: {hook_kind()}")
    print(
        f"{repeats} repeats, the three cases in a rotating order; one timing = one run over "
        f"{n:,} batches, gc disabled; us/iter are medians; trace(maxlen={args.maxlen:,})"
    )
    sys.stdout.flush()

    counts, handlers = make_handlers()
    state = State()
    engine = Engine(state, "engine", noop_process, scalar_batches(n))
    for h in handlers[:3]:
        engine.n_iteration_completed_ref.subscribe(h)
    for h in handlers[3:]:
        engine.n_iteration_completed_ref.subscribe(h, every=10)

    end_ms: list[float] = []
    traces: list[Trace] = []

    def start_trace() -> None:
        traces.append(state.trace(maxlen=args.maxlen).__enter__())

    def end_trace() -> None:
        t0 = time.perf_counter_ns()
        traces[-1].__exit__(None, None, None)
        end_ms.append((time.perf_counter_ns() - t0) / 1e6)

    loops = [
        Loop("untraced", engine.run),
        Loop("untraced'", engine.run),
        Loop("traced", engine.run, reset=start_trace, after=end_trace),
    ]
    measure(loops, n, repeats)
    if counts[0] != (3 * repeats + 3) * n:
        raise AssertionError(
            f"the handlers ran {counts[0]} times, expected {(3 * repeats + 3) * n}"
        )
    n_sets = traces[-1].n_sets
    samples = {loop.label: loop.samples for loop in loops}

    base = statistics.median(samples["untraced"])
    rows = []
    for name, s in samples.items():
        paired = statistics.median(x / b for x, b in zip(s, samples["untraced"], strict=True))
        rows.append(
            (
                name,
                f"{statistics.median(s):.3f}",
                f"{min(s):.3f}-{max(s):.3f}",
                f"{statistics.median(s) / base:.2f}x",
                f"{paired:.2f}x",
            )
        )
    print_table(
        f"engine loop with five handlers, {n:,} batches ({n_sets // n} sets per iteration traced)",
        rows,
        ("case", "us/iter", "min-max", "vs untraced", "median of per-repeat ratios"),
    )
    ratio = statistics.median(samples["traced"]) / base
    floor = abs(statistics.median(samples["untraced'"]) / base - 1)
    print(
        f"\ntraced / untraced = {ratio:.2f}x (target <= 3x: {'PASS' if ratio <= 3 else 'FAIL'}); "
        f"noise floor (untraced' vs untraced) {floor:.1%}"
    )
    print(
        f"ending a trace of {args.maxlen:,} entries (turning records into entries): "
        f"median {statistics.median(end_ms):.1f} ms, once per trace"
    )


if __name__ == "__main__":
    main()
