"""A state graph with the core alone (no torch): fit y = 2x + 1 by gradient descent.

A `LineFit` node is the transition; a running mean of the loss, a logger and
an early stop are subscribers. The script prints the overview, a trace of
one iteration, and renders the graph (with that trace highlighted) next to
its outputs.

    python examples/core_state_graph.py --output-dir outputs/core
"""

from __future__ import annotations

import argparse
import random
from pathlib import Path

from pipeline import Node, State, Variable

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--iterations", type=int, default=200)
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--output-dir", type=Path, default=Path("outputs/core"))
args = parser.parse_args()


class LineFit(Node):
    """One gradient step per iteration on a fresh sample of y = 2x + 1 + noise."""

    default_container = "engines"
    n_iteration_completed = Variable(0, doc="iterations done")
    loss = Variable(None, doc="squared error of the last sample", persistent=False)
    should_stop = Variable(False, doc="set to stop the loop", shared=True)

    def __init__(self, state: State, name: str) -> None:
        super().__init__(state, name)
        self.declare_reads(state.configs.lr_ref)

    def run(self, max_iterations: int) -> None:
        w, b = self.state.params.w, self.state.params.b
        while self.n_iteration_completed < max_iterations and not self.should_stop:
            x = random.uniform(-1, 1)
            err = (w * x + b) - (2 * x + 1 + random.gauss(0, 0.05))
            w -= self.state.configs.lr * 2 * err * x
            b -= self.state.configs.lr * 2 * err
            with self.state.hold():  # params change together: nobody sees w new and b old
                self.state.params.w, self.state.params.b = w, b
            self.loss = err * err
            self.n_iteration_completed += 1


class RunningMean(Node):
    """Exponential moving average of a variable."""

    default_container = "metrics"
    value = Variable(None, doc="the running mean")

    def __init__(self, state: State, name: str, source: str, alpha: float = 0.9) -> None:
        super().__init__(state, name)
        self.alpha = alpha
        state.ref(source).subscribe(self.update)

    def update(self, event) -> None:
        prev = self.value
        self.value = event.new if prev is None else self.alpha * prev + (1 - self.alpha) * event.new


random.seed(0)
state = State()
state.configs.lr = args.lr
state.params.w = 0.0
state.params.b = 0.0
fit = LineFit(state, "fit")
RunningMean(state, "loss_avg", "engines.fit.loss")


@state.on(fit.n_iteration_completed_ref, every=50, reads=[state.metrics.loss_avg.value_ref])
def log(event):
    w, b = state.params.w, state.params.b
    print(
        f"iteration {event.new:4d}  loss_avg {state.metrics.loss_avg.value:.5f}  w {w:.3f}  b {b:.3f}"
    )


@state.on(state.metrics.loss_avg.value_ref, when=lambda v: v < 3e-3, writes=[fit.should_stop_ref])
def stop_early():
    fit.should_stop = True


state.validate()
with state.trace() as first:
    fit.run(max_iterations=1)
fit.run(max_iterations=args.iterations)
print(f"stopped after {fit.n_iteration_completed} iterations (early stop: {fit.should_stop})")
print()
print(state.overview())
print()
print(first)
args.output_dir.mkdir(parents=True, exist_ok=True)
written = state.render(args.output_dir / "graph.svg", trace=first)
print(f"\ngraph: {written}")
