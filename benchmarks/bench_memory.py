"""Memory of a long run: does the framework keep anything per iteration?

A statefire ``Engine`` runs 200,000 iterations (200 epochs of 1,000) of a
cheap process function over 64 small precomputed tensors, with five
subscribers of the kind a training has:

  1. ``n_iteration_completed`` -> a callback that increments a state variable
     (a write observed by the graph, every iteration);
  2. ``output`` with ``every=10`` (a change-counting filter) -> keeps the last
     output in a state variable;
  3. ``batch`` with ``when=`` and an ``Event`` argument (one Event per set);
  4. ``n_iteration_completed`` with ``every=100`` -> a running sum of outputs
     as a 0-d tensor in a state variable (no ``.item()``);
  5. ``n_epoch_completed`` -> an epoch counter.

A sixth subscriber, the probe, reads the resident set size from
``/proc/self/statm`` (and counts the objects the garbage collector tracks)
once after the warm-up (iteration 10,000) and every 20,000 iterations after
that: 10 points along the run. The table shows the RSS and its growth since
the warm-up point. The run is repeated (``--repeats``, default 2), each time
on a fresh State in the same process, and once more with a
``state.trace(maxlen=1000)`` active for the whole run, to show that the
trace's buffer is bounded too.

    OMP_NUM_THREADS=1 python benchmarks/bench_memory.py [--repeats 2] [--iterations 200000]
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from nodes import Engine
from pipeline import Event, State

PAGE = os.sysconf("SC_PAGE_SIZE")
WARMUP = 10_000
EPOCH_LENGTH = 1_000


def rss_bytes() -> int:
    """Resident set size of this process (the second field of /proc/self/statm, in pages)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def run_once(iterations: int, trace: bool) -> tuple[list[tuple[int, int, int]], float, int]:
    """One run; returns (iteration, rss, gc objects) samples, seconds, trace length."""
    torch.manual_seed(0)
    data = [(torch.randn(8), torch.randn(())) for _ in range(64)]
    state = State()
    state.metrics.n_seen = 0
    state.metrics.last_output = None
    state.metrics.loss_sum = torch.zeros(())
    state.metrics.n_epochs_seen = 0
    engine = Engine(state, "trainer", lambda engine, batch: batch[1], data)

    @state.on(engine.n_iteration_completed_ref)
    def count() -> None:
        state.metrics.n_seen += 1

    @state.on(engine.output_ref, every=10)
    def keep_output(event: Event) -> None:
        state.metrics.last_output = event.new

    @state.on(engine.batch_ref, when=lambda batch: batch is not None)
    def look_at_batch(event: Event) -> None:
        pass

    @state.on(engine.n_iteration_completed_ref, every=100, reads=[engine.output_ref])
    def accumulate() -> None:
        state.metrics.loss_sum = state.metrics.loss_sum + engine.output

    @state.on(engine.n_epoch_completed_ref)
    def count_epochs() -> None:
        state.metrics.n_epochs_seen += 1

    # Preallocated lists of ints (which the gc does not track): the probe adds no object.
    at, rss, objects = [0] * 11, [0] * 11, [0] * 11
    filled = [0]
    step = (iterations - WARMUP) // 10 if iterations > WARMUP else iterations

    def probe() -> None:
        i = filled[0]
        at[i], rss[i], objects[i] = engine.n_iteration_completed, rss_bytes(), len(gc.get_objects())
        filled[0] = i + 1

    engine.n_iteration_completed_ref.subscribe(
        probe, when=lambda n: n == WARMUP or (n > WARMUP and (n - WARMUP) % step == 0)
    )
    epochs = iterations // EPOCH_LENGTH
    started = time.perf_counter()
    if trace:
        with state.trace(maxlen=1000) as t:
            engine.run(max_epochs=epochs, epoch_length=EPOCH_LENGTH)
        n_trace = len(t.entries)
    else:
        engine.run(max_epochs=epochs, epoch_length=EPOCH_LENGTH)
        n_trace = 0
    elapsed = time.perf_counter() - started
    assert state.metrics.n_seen == iterations and state.metrics.n_epochs_seen == epochs
    samples = list(zip(at, rss, objects, strict=True))[: filled[0]]
    return samples, elapsed, n_trace


def table(title: str, samples: list[tuple[int, int, int]], elapsed: float, n_trace: int) -> str:
    base_rss, base_obj = samples[0][1], samples[0][2]
    lines = [
        f"{title}  ({elapsed:.1f} s{f', trace holds {n_trace} entries' if n_trace else ''})",
        f"{'iteration':>10}  {'RSS MiB':>8}  {'growth KiB':>10}  {'gc objects':>10}  {'growth':>6}",
    ]
    for n, rss, objs in samples:
        lines.append(
            f"{n:>10,}  {rss / 2**20:>8.2f}  {(rss - base_rss) / 1024:>10.0f}  "
            f"{objs:>10,}  {objs - base_obj:>+6}"
        )
    final = samples[-1][1] - base_rss
    later = samples[-1][1] - samples[1][1]
    lines.append(
        f"growth after the warm-up: {final / 2**20:.3f} MiB; "
        f"from iteration {samples[1][0]:,} to the end: {later / 2**20:.3f} MiB"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=200_000)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"{args.iterations:,} iterations, 5 subscribers + the probe; "
        f"RSS from /proc/self/statm; warm-up point: iteration {WARMUP:,}\n"
    )
    runs = [(f"run {i + 1}", False) for i in range(args.repeats)]
    runs.append(("with trace(maxlen=1000)", True))
    for title, trace in runs:
        samples, elapsed, n_trace = run_once(args.iterations, trace)
        print(table(title, samples, elapsed, n_trace) + "\n")


if __name__ == "__main__":
    main()
