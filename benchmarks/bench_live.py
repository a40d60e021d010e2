"""Cost of the live view (``state.serve()``) to a running loop: a no-op engine loop
with no server, and with the server answering a client that polls it.

The loop is ``nodes.Engine`` with a no-op process function over tensors of
shape (1,), run in chunks of about ``--chunk-s`` seconds. The cases, each a
chunk:

  off         no server, the client paused;
  live 1/s    ``state.serve()`` running, the client fetching ``snapshot.json``
              every second, as the page does;
  live 10/s   the same with a poll every 0.1 s (ten times the page's rate).

The client is a separate Python process, as a browser is; it is paused
(SIGSTOP) while no server runs and resumed (SIGCONT) with it, and the server
is started before and closed after its chunk, untimed, on the same port.

Method. The machine these numbers come from is shared and its load moves by
tens of percent within a minute, more than the 2% to be shown, so cases are
compared in adjacent pairs: each pair times two chunks back to back (a case
and ``off``, in an order that alternates from pair to pair), and the table
shows the median over ``--pairs`` pairs of the ratio case / off. Pairs of
``off`` against ``off`` give the noise floor of that method. A chunk is one
``engine.run()`` over the data under ``time.perf_counter_ns`` with the
garbage collector disabled. The server's own work is also measured directly:
the time of one ``snapshot.json`` round trip in-process (client and server
in one process: an upper bound of the server's work), times the polls per
second, is the most the server can take from the loop per second.

    OMP_NUM_THREADS=1 python benchmarks/bench_live.py [--pairs 15] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [_HERE, os.path.dirname(_HERE)]
from bench_core import hook_kind, machine, print_table  # noqa: E402
from bench_engine import noop_process, scalar_batches  # noqa: E402

from nodes import Engine  # noqa: E402
from pipeline import State  # noqa: E402
from pipeline.views.live import LiveServer, snapshot  # noqa: E402

CLIENT = """
import sys, time, urllib.request
url, every = sys.argv[1], float(sys.argv[2])
print("ready", flush=True)
while True:
    try:
        urllib.request.urlopen(url, timeout=10).read()
    except OSError:
        pass
    time.sleep(every)
"""


class Client:
    """A polling client in its own process, paused unless a server runs."""

    def __init__(self, url: str, every: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLIENT, url, str(every)], stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()
        self.pause()

    def pause(self) -> None:
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.proc.send_signal(signal.SIGCONT)

    def close(self) -> None:
        self.proc.kill()
        self.proc.wait()


def timed(engine: Engine, n: int) -> float:
    """One run over the data; us per iteration."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter_ns()
        engine.run()
        return (time.perf_counter_ns() - t0) / n / 1000
    finally:
        gc.enable()


def serve_cost(state: State, n: int = 200) -> float:
    """Median milliseconds of one snapshot.json round trip, client and server in this process."""
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
    parser.add_argument("--pairs", type=int, default=15, help="pairs per case (median shown)")
    parser.add_argument("--chunk-s", type=float, default=1.0, help="seconds per timed chunk")
    parser.add_argument("--quick", action="store_true", help="5 pairs of 0.5 s chunks")
    args = parser.parse_args()
    pairs, chunk_s = args.pairs, args.chunk_s
    if args.quick:
        pairs, chunk_s = 5, 0.5
    torch.set_num_threads(1)
    print(f"bench_live: {machine()}")
    print(f"set hook: {hook_kind()}")

    state = State()
    probe = Engine(state, "probe", noop_process, scalar_batches(100_000))
    probe.run()
    per_iter = timed(probe, 100_000)
    n = max(10_000, int(chunk_s / (per_iter * 1e-6)))
    engine = Engine(state, "engine", noop_process, scalar_batches(n))
    engine.run()
    print(
        f"{pairs} pairs per case; one chunk = one run over {n:,} batches (~{chunk_s:g} s), "
        "gc disabled; ratios are medians over pairs of adjacent chunks"
    )
    sys.stdout.flush()

    with state.serve() as first:
        port = first.port
    url = f"http://127.0.0.1:{port}/snapshot.json"
    clients = {"live 1/s": Client(url, 1.0), "live 10/s": Client(url, 0.1)}
    servers: list[LiveServer] = []

    def start(name: str) -> Callable[[], None]:
        def go() -> None:
            servers.append(state.serve(port=port))
            clients[name].resume()

        return go

    def stop(name: str) -> Callable[[], None]:
        def end() -> None:
            clients[name].pause()
            servers.pop().close()

        return end

    def nothing() -> None:
        pass

    cases: dict[str, tuple[Callable[[], None], Callable[[], None]]] = {
        "off (A/A)": (nothing, nothing),
        "live 1/s": (start("live 1/s"), stop("live 1/s")),
        "live 10/s": (start("live 10/s"), stop("live 10/s")),
    }
    ratios: dict[str, list[float]] = {name: [] for name in cases}
    times: dict[str, list[float]] = {name: [] for name in cases}
    base_times: list[float] = []
    try:
        for i in range(pairs):
            for name, (before, after) in cases.items():
                base_first = (i % 2) == 0
                if base_first:
                    base = timed(engine, n)
                before()
                subject = timed(engine, n)
                after()
                if not base_first:
                    base = timed(engine, n)
                ratios[name].append(subject / base)
                times[name].append(subject)
                base_times.append(base)
    finally:
        for client in clients.values():
            client.close()
        for server in servers:
            server.close()

    rows = [("off", f"{statistics.median(base_times):.3f}", "", "", "")]
    for name in cases:
        r = ratios[name]
        rows.append(
            (
                name,
                f"{statistics.median(times[name]):.3f}",
                f"{statistics.median(r) - 1:+.2%}",
                f"{statistics.quantiles(r, n=4)[0] - 1:+.2%} to {statistics.quantiles(r, n=4)[2] - 1:+.2%}",
                str(len(r)),
            )
        )
    print_table(
        f"no-op engine loop, chunks of {n:,} batches",
        rows,
        ("case", "us/iter", "vs off (median of pairs)", "quartiles of the pairs", "pairs"),
    )
    floor = abs(statistics.median(ratios["off (A/A)"]) - 1)
    live = statistics.median(ratios["live 1/s"]) - 1
    print(
        f"\nlive 1/s vs off: {live:+.2%} (target < 2%: {'PASS' if live < 0.02 else 'FAIL'}); "
        f"noise floor (off vs off, same pairing): {floor:.2%}"
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
