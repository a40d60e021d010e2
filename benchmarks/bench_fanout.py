"""Cost of many subscribers on one variable: subscribing, notifying, removing.

Prints one table: for N subscribers (distinct callbacks, as N handlers or N
``lambda i=i:`` closures would be) of one variable, the seconds to subscribe
all N, to notify them once (one set, the first after subscribing, which
also computes their order), to remove all N in a shuffled order, and to
remove them in subscription order ("in order"); then
the cost per subscriber and its ratio to the cost per subscriber at the
smallest N. Linear scaling keeps every ratio near 1.0; a quadratic cost
would make it grow like N / N_smallest (4x from 10,000 to 40,000). The
shuffled removal touches memory at random, so its cost per subscriber also
grows with cache misses as N grows; the in-order removal shows the work
itself (tests/pipeline/test_core_subscriptions.py::TestFanOut counts the
core's lines run per subscriber, the same for 10 and 1,000).

Method. Each repeat builds a fresh State, times the four phases with
``time.perf_counter`` (garbage collector disabled while timing), and the
table shows the median over ``--repeats`` repeats with the min-max spread
of the per-subscriber cost; the spread at the smallest N is the noise floor
the ratios should be read against.

    OMP_NUM_THREADS=1 python benchmarks/bench_fanout.py [--sizes 10000 40000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import gc
import platform
import random
import statistics
import sys
import time
from collections.abc import Callable

from pipeline import Handle, State, _hooks

PHASES = ("subscribe", "notify", "remove", "in order")


def make_callbacks(n: int) -> list[Callable[[], None]]:
    """N distinct no-op callbacks (closures, like ``lambda i=i: ...`` in a loop)."""

    def make(i: int) -> Callable[[], None]:
        def callback() -> None:
            pass

        callback.__qualname__ = f"callback_{i}"
        return callback

    return [make(i) for i in range(n)]


def one_run(n: int, seed: int) -> tuple[float, float, float, float]:
    """Seconds to subscribe N callbacks, notify them once, remove them all in a shuffled
    order, and (subscribed again) remove them in subscription order."""
    state = State()
    state.configs.x = 0
    ref = state.configs.x_ref
    callbacks = make_callbacks(n)
    gc.collect()
    gc.disable()
    try:
        start = time.perf_counter()
        handles: list[Handle] = [ref.subscribe(cb) for cb in callbacks]
        subscribed = time.perf_counter()
        state.configs.x = 1
        notified = time.perf_counter()
        random.Random(seed).shuffle(handles)
        removing = time.perf_counter()
        for h in handles:
            h.remove()
        removed = time.perf_counter()
        handles = [ref.subscribe(cb) for cb in callbacks]
        again = time.perf_counter()
        for h in handles:
            h.remove()
        removed_in_order = time.perf_counter()
    finally:
        gc.enable()
    assert not ref._slot.subs and state.subscribers_of(ref) == []
    return (
        subscribed - start,
        notified - subscribed,
        removed - removing,
        removed_in_order - again,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 20_000, 40_000])
    parser.add_argument("--repeats", type=int, default=5, help="runs per size (median shown)")
    args = parser.parse_args()
    sizes = sorted(args.sizes)
    hook = "compiled" if _hooks.COMPILED else "pure Python"
    print(
        f"bench_fanout: {platform.processor() or platform.machine()}; Python "
        f"{sys.version.split()[0]}; set hook: {hook}; {args.repeats} repeats, medians"
    )
    header = ["N"]
    for phase in PHASES:
        header += [f"{phase} s", "us/sub (min-max)", "ratio"]
    widths = [7] + [len(h) + 2 for h in header[1:]]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths, strict=True)))
    print("-" * (sum(widths) + 2 * (len(widths) - 1)))
    base: dict[str, float] = {}
    for n in sizes:  # each row as soon as it is measured
        runs = [one_run(n, seed) for seed in range(args.repeats)]
        row: list[str] = [f"{n:,}"]
        for i, phase in enumerate(PHASES):
            seconds = [r[i] for r in runs]
            per = [s / n * 1e6 for s in seconds]
            med = statistics.median(per)
            base.setdefault(phase, med)
            row += [
                f"{statistics.median(seconds):.3f}",
                f"{med:.1f} ({min(per):.1f}-{max(per):.1f})",
                f"{med / base[phase]:.2f}x",
            ]
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)), flush=True)
    print(
        f"ratio: cost per subscriber at N over the same at N={sizes[0]:,} "
        "(linear: about 1.0; quadratic: N / smallest N)"
    )


if __name__ == "__main__":
    main()
