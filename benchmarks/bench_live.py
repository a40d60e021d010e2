"""Cost of the live view (``state.serve()``) to a running loop: a no-op engine loop
with no server, and with the server answering a client that polls it.

One engine (``nodes.Engine`` with a no-op process function over
``--iterations`` tensors of shape (1,), long enough that a run spans several
polls) is timed in four ways, in one run:

  off         no server;
  off'        the same again: off vs off' is the noise floor (an A/A comparison);
  live 1/s    ``state.serve()`` running and a client in another process fetching
              ``snapshot.json`` every second, as the page does;
  live 10/s   the same with a poll every 0.1 s (ten times the page's rate).

The client is a separate Python process (as a browser is), started before the
timing and stopped after it, untimed. Method (as bench_engine.py, whose
``Loop`` and ``measure`` it uses): one timing is one full run under
``time.perf_counter_ns`` with the garbage collector disabled; each repeat times
the four cases in an order that rotates from repeat to repeat; the table shows
medians and min-max, and the median of the per-repeat ratios to ``off``. The
target (the live server costs under 2% of the loop's per-iteration time) is
judged on the ``live 1/s`` row. Because that is below what this machine's
noise lets one timing tell, the server's own work is also measured directly:
the time of one ``snapshot.json`` round trip in-process (client and server
in one process: an upper bound of the server's work), times the polls per
second, is the most the server can take from the loop per second.

    OMP_NUM_THREADS=1 python benchmarks/bench_live.py [--repeats 7] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_HERE, os.path.dirname(_HERE)]
from bench_core import hook_kind, machine, print_table  # noqa: E402
from bench_engine import Loop, measure, noop_process, scalar_batches  # noqa: E402

from nodes import Engine  # noqa: E402
from pipeline import State  # noqa: E402
from pipeline.views.live import LiveServer, snapshot  # noqa: E402

CLIENT = """
import sys, time, urllib.request
url, every = sys.argv[1], float(sys.argv[2])
print("ready", flush=True)
while True:
    urllib.request.urlopen(url, timeout=10).read()
    time.sleep(every)
"""


class Live:
    """Starts the server and a polling client before a timing, stops them after it."""

    def __init__(self, state: State, every: float) -> None:
        self.state = state
        self.every = every
        self.server: LiveServer | None = None
        self.client: subprocess.Popen[str] | None = None
        self.polls = 0

    def start(self) -> None:
        self.server = self.state.serve()
        self.client = subprocess.Popen(
            [sys.executable, "-c", CLIENT, self.server.url + "snapshot.json", str(self.every)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.client.stdout is not None
        self.client.stdout.readline()  # "ready": the client runs before the timing starts

    def stop(self) -> None:
        assert self.client is not None and self.server is not None
        self.client.kill()
        self.client.wait()
        self.server.close()


def serve_cost(state: State, n: int = 200) -> float:
    """Median milliseconds to answer one snapshot.json request (server thread, in-process)."""
    with state.serve() as server:
        url = server.url + "snapshot.json"
        urllib.request.urlopen(url).read()
        times = []
        for _ in range(n):
            t0 = time.perf_counter_ns()
            urllib.request.urlopen(url).read()
            times.append((time.perf_counter_ns() - t0) / 1e6)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="timings per case (median shown)")
    parser.add_argument("--iterations", type=int, default=2_000_000, help="batches per run")
    parser.add_argument("--quick", action="store_true", help="3 repeats of 500,000 iterations")
    args = parser.parse_args()
    repeats, n = args.repeats, args.iterations
    if args.quick:
        repeats, n = 3, min(n, 500_000)
    torch.set_num_threads(1)
    print(f"bench_live: {machine()}")
    print(f"set hook: {hook_kind()}")
    print(
        f"{repeats} repeats, the four cases in a rotating order; one timing = one run over "
        f"{n:,} batches, gc disabled; us/iter are medians"
    )
    sys.stdout.flush()

    state = State()
    engine = Engine(state, "engine", noop_process, scalar_batches(n))
    slow, fast = Live(state, 1.0), Live(state, 0.1)
    loops = [
        Loop("off", engine.run),
        Loop("off'", engine.run),
        Loop("live 1/s", engine.run, reset=slow.start, after=slow.stop),
        Loop("live 10/s", engine.run, reset=fast.start, after=fast.stop),
    ]
    measure(loops, n, repeats)
    base = loops[0]
    rows: list[tuple[str, ...]] = []
    paired: dict[str, float] = {}
    for loop in loops:
        ratios = [s / b for s, b in zip(loop.samples, base.samples, strict=True)]
        paired[loop.label] = statistics.median(ratios)
        rows.append(
            (
                loop.label,
                f"{loop.median:.3f}",
                f"{min(loop.samples):.3f}-{max(loop.samples):.3f}",
                f"{loop.median / base.median - 1:+.2%}",
                f"{paired[loop.label] - 1:+.2%}",
            )
        )
    seconds = n * base.median / 1e6
    print_table(
        f"no-op engine loop, {n:,} batches (a run takes ~{seconds:.1f} s)",
        rows,
        ("case", "us/iter", "min-max", "vs off (medians)", "median of per-repeat ratios"),
    )
    floor = abs(paired["off'"] - 1)
    live = paired["live 1/s"] - 1
    print(
        f"\nlive 1/s vs off: {live:+.2%} (target < 2%: {'PASS' if live < 0.02 else 'FAIL'}); "
        f"noise floor (off' vs off): {floor:.2%}"
    )
    cost = serve_cost(state)
    size = len(json.dumps(snapshot(state)))
    print(
        f"one snapshot.json request ({len(state._slots)} variables, {size:,} bytes), timed as a "
        f"round trip in-process: {cost:.3f} ms, an upper bound of the server thread's work; "
        f"at most {cost / 1000:.3%} of each second at 1 poll/s, {cost / 100:.3%} at 10/s"
    )


if __name__ == "__main__":
    main()
