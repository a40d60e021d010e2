"""A statefire training and the same training written with ignite, side by side.

Both have a trainer on 48 samples in batches of 16 (3 iterations per epoch)
and an evaluator run at each trainer epoch's end with an ``Accuracy``; the
tests attach the same ignite handler to each (to ``engine.ignite`` on the
statefire side) and compare what it does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from ignite.engine import Engine as IgniteEngine
from ignite.engine import Events, create_supervised_evaluator, create_supervised_trainer
from ignite.metrics import Accuracy
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nodes import Evaluator, Metric, Trainer
from pipeline import State

N, BATCH = 48, 16


@dataclass
class Pair:
    """One side: the trainer and evaluator as ignite Engines, the model, optimizer, data."""

    trainer: IgniteEngine
    evaluator: IgniteEngine
    model: nn.Module
    optimizer: torch.optim.Optimizer
    train_data: DataLoader
    state: State | None = None

    def run(self, max_epochs: int) -> None:
        """Train for ``max_epochs`` (the statefire side through its face)."""
        self.trainer.run(self.train_data, max_epochs=max_epochs)


def _setup(loss_fn: Callable[..., Any]) -> tuple[nn.Module, torch.optim.Optimizer, DataLoader]:
    torch.manual_seed(0)
    x = torch.randn(N, 6)
    y = (x[:, 0] + x[:, 1] > 0).long()
    model = nn.Sequential(nn.Linear(6, 16), nn.ReLU(), nn.Linear(16, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = DataLoader(
        TensorDataset(x, y),
        batch_size=BATCH,
        shuffle=True,
        generator=torch.Generator().manual_seed(1),
    )
    return model, optimizer, loader


def statefire_pair(loss_fn: Callable[..., Any] = nn.functional.cross_entropy) -> Pair:
    """The statefire side: Trainer, Evaluator (run on each trainer epoch), Accuracy."""
    model, optimizer, loader = _setup(loss_fn)
    state = State()
    trainer = Trainer(state, "trainer", model, optimizer, loss_fn, loader)
    evaluator = Evaluator(state, "val", model, loader, run_on=trainer.n_epoch_completed_ref)
    Metric(evaluator, Accuracy(), "acc")
    return Pair(trainer.ignite, evaluator.ignite, model, optimizer, loader, state)


def ignite_pair(loss_fn: Callable[..., Any] = nn.functional.cross_entropy) -> Pair:
    """The ignite side, with the trainer's output the detached loss tensor as statefire's."""
    model, optimizer, loader = _setup(loss_fn)
    trainer = create_supervised_trainer(
        model, optimizer, loss_fn, output_transform=lambda x, y, y_pred, loss: loss.detach()
    )
    evaluator = create_supervised_evaluator(model, metrics={"acc": Accuracy()})
    trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run(loader))
    return Pair(trainer, evaluator, model, optimizer, loader)


def both(
    attach: Callable[[Pair], Any],
    max_epochs: int = 3,
    loss_fn: Callable[..., Any] = nn.functional.cross_entropy,
) -> tuple[tuple[Pair, Any], tuple[Pair, Any]]:
    """Attach the same way to both sides, run both; ((ours, attached), (ignite's, attached))."""
    out = []
    for make in (statefire_pair, ignite_pair):
        pair = make(loss_fn)
        attached = attach(pair)
        pair.run(max_epochs)
        out.append((pair, attached))
    return out[0], out[1]


def same_weights(a: nn.Module, b: nn.Module) -> bool:
    """Every parameter torch.equal."""
    return all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
