"""Write a node: a gradient-norm monitor and a spike detector that reacts to it.

`GradientNorm` measures the global L2 norm of the model's gradients every
`--every` trainer iterations and keeps it as a tensor (no `.item()`, so no
host-device synchronisation); `Spike` follows its `value` and counts norms far
above their running mean in `n_spikes`, a new variable and so a new event that
a plain callback subscribes to. The tutorial (docs/tutorial.md) explains it.

    python examples/custom_node.py --epochs 2 --output-dir outputs/custom_node
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch
from torch import nn

from nodes import Engine, Trainer
from nodes.datasets import digits_datasets
from pipeline import Event, Node, State, Variable

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--every", type=int, default=5, help="measure every n iterations")
parser.add_argument("--factor", type=float, default=1.5, help="a spike: norm > factor * mean")
parser.add_argument("--lr", type=float, default=0.5)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--output-dir", type=Path, default=Path("outputs/custom_node"))


class GradientNorm(Node):
    """The global L2 norm of a trainer's gradients, every ``every`` iterations."""

    default_container = "metrics"
    value = Variable(None, doc="global gradient norm (0-d tensor)", persistent=False)
    max_value = Variable(None, doc="largest norm so far (0-d tensor)")

    def __init__(self, trainer: Engine, every: int = 1, name: str = "grad_norm") -> None:
        super().__init__(trainer.state, name)
        self.model = trainer.model
        trainer.n_iteration_completed_ref.subscribe(self.measure, every=every)
        self.declare_reads(trainer.model_ref)

    def measure(self) -> None:
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))
        best = self.max_value
        self.max_value = norm if best is None else torch.maximum(best, norm)
        self.value = norm  # last: a subscriber of value sees max_value already updated


class Spike(Node):
    """Counts values of ``source`` above ``factor`` times their running mean."""

    n_spikes = Variable(0, doc="values above factor * running mean")
    last_spike = Variable(None, doc="the last spiking value, as a float")

    def __init__(self, source: Any, factor: float = 2.0, alpha: float = 0.9, name: str = "spike"):
        super().__init__(source.state, name)
        self.factor, self.alpha = factor, alpha
        self.mean: float | None = None  # node state that is not a variable: see state_dict
        source.subscribe(self.check)

    def check(self, event: Event) -> None:
        x = float(event.new)  # the one synchronisation, every `every` iterations
        if self.mean is not None and x > self.factor * self.mean:
            self.last_spike = x
            self.n_spikes += 1
        self.mean = x if self.mean is None else self.alpha * self.mean + (1 - self.alpha) * x

    def state_dict(self) -> dict[str, Any]:
        return {"mean": self.mean}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.mean = state_dict["mean"]


def build(args: argparse.Namespace) -> State:
    """The state: digits, a small MLP, a trainer, the two new nodes and a callback."""
    torch.manual_seed(0)
    train_set, _ = digits_datasets(size=8)
    state = State()
    state.configs.lr = args.lr
    shuffled = torch.Generator().manual_seed(0)
    state.dataloaders.train = torch.utils.data.DataLoader(
        train_set, batch_size=args.batch_size, shuffle=True, generator=shuffled
    )
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    trainer = Trainer(
        state, "trainer", model, optimizer, nn.CrossEntropyLoss(), state.dataloaders.train
    )
    grad_norm = GradientNorm(trainer, every=args.every)
    spike = Spike(grad_norm.value_ref, factor=args.factor)

    @state.on(spike.n_spikes_ref, reads=[spike.last_spike_ref], writes=[state.configs.lr_ref])
    def cool_down(event: Event) -> None:
        """A spike halves the learning rate: `n_spikes` is the event."""
        state.configs.lr = state.configs.lr / 2
        for group in trainer.optimizer.param_groups:
            group["lr"] = state.configs.lr
        print(
            f"spike {event.new} at iteration {trainer.n_iteration_completed}: "
            f"norm {spike.last_spike:.3f}, lr -> {state.configs.lr:g}"
        )

    return state


if __name__ == "__main__":
    args = parser.parse_args()
    state = build(args)
    state.trainer.run(max_epochs=args.epochs)
    grad_norm, spike = state.metrics.grad_norm, state.handlers.spike
    print(
        f"epochs {state.trainer.n_epoch_completed}  iterations {state.trainer.n_iteration_completed}"
        f"  grad norm {float(grad_norm.value):.3f}  max {float(grad_norm.max_value):.3f}"
        f"  spikes {spike.n_spikes}  lr {state.configs.lr:g}"
    )
    saved = state.state_dict()
    print(
        "saved:",
        saved["nodes"]["handlers.spike"],
        "n_spikes",
        saved["variables"]["handlers.spike.n_spikes"],
    )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    print(f"graph: {state.render(args.output_dir / 'graph.svg')}")
