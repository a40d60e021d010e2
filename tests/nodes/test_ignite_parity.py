"""Same seed, same data order, same weights as ignite's ``create_supervised_trainer``.

The engine carries its data iterator from epoch to epoch as ignite does, so a
sampler's draw when its iterator is exhausted happens at the same moment, with a
DataLoader's own generator and with torch's global RNG, for every dataset size,
with and without ``drop_last``, and across a resume from a state dict.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from nodes import Trainer
from pipeline import State

EPOCHS = 3


def setup(n: int, drop_last: bool, generator: bool) -> tuple[nn.Module, Any, DataLoader]:
    """A seeded model with dropout, SGD, and a shuffled loader of ``n`` samples in batches of 4."""
    torch.manual_seed(0)
    x, y = torch.randn(n, 5), torch.randn(n, 1)
    model = nn.Sequential(nn.Linear(5, 8), nn.Dropout(0.3), nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.5)
    gen = torch.Generator().manual_seed(7) if generator else None
    loader = DataLoader(
        TensorDataset(x, y), batch_size=4, shuffle=True, drop_last=drop_last, generator=gen
    )
    return model, optimizer, loader


def ignite_weights(n: int, drop_last: bool, generator: bool) -> list[torch.Tensor]:
    """The weights after ignite's supervised trainer ran 3 epochs."""
    from ignite.engine import create_supervised_trainer

    model, optimizer, loader = setup(n, drop_last, generator)
    create_supervised_trainer(model, optimizer, nn.functional.mse_loss).run(
        loader, max_epochs=EPOCHS
    )
    return [p.detach().clone() for p in model.parameters()]


def statefire_trainer(n: int, drop_last: bool, generator: bool) -> tuple[Trainer, nn.Module]:
    """A statefire Trainer on the same setup."""
    model, optimizer, loader = setup(n, drop_last, generator)
    trainer = Trainer(State(), "trainer", model, optimizer, nn.functional.mse_loss, loader)
    return trainer, model


def same(a: list[torch.Tensor], model: nn.Module) -> bool:
    """Every parameter torch.equal (and finite, so NaNs cannot pass or fail by accident)."""
    assert all(torch.isfinite(p).all() for p in a)
    return all(torch.equal(p, q) for p, q in zip(a, model.parameters(), strict=True))


CASES = [
    pytest.param(n, drop_last, generator, id=f"n{n}-{'drop' if drop_last else 'keep'}-{kind}")
    for generator, kind in ((True, "generator"), (False, "global_rng"))
    for n in range(17, 25)
    for drop_last in (False, True)
]


@pytest.mark.parametrize(("n", "drop_last", "generator"), CASES)
def test_same_weights_as_ignite(n: int, drop_last: bool, generator: bool) -> None:
    """torch.equal weights to ignite after 3 epochs (fails when each epoch starts a new iterator)."""
    trainer, model = statefire_trainer(n, drop_last, generator)
    trainer.run(max_epochs=EPOCHS)
    assert same(ignite_weights(n, drop_last, generator), model)


@pytest.mark.parametrize("generator", [True, False], ids=["generator", "global_rng"])
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("n_iteration_completed", 7),  # mid-epoch
        ("n_epoch_completed", 1),  # at an epoch's end, before the next iterator exists
        ("n_epoch_started", 2),  # at an epoch's start, the old iterator not yet exhausted
        ("n_iteration_started", 6),  # inside an iteration
    ],
)
def test_same_weights_as_ignite_across_a_resume(generator: bool, variable: str, value: int) -> None:
    """A state dict saved mid-training, loaded into a fresh state, ends as ignite's uninterrupted run."""
    n, drop_last = 22, False
    trainer, _ = statefire_trainer(n, drop_last, generator)
    saved: list[bytes] = []

    def save() -> None:
        buffer = io.BytesIO()
        torch.save(trainer.state.state_dict(), buffer)
        saved.append(buffer.getvalue())
        trainer.terminate()

    trainer.ref(variable).subscribe(save, once=value)
    trainer.run(max_epochs=EPOCHS)
    assert len(saved) == 1

    resumed, model = statefire_trainer(n, drop_last, generator)
    # strict=False: the saving subscription exists only in the first state.
    resumed.state.load_state_dict(torch.load(io.BytesIO(saved[0]), weights_only=True), strict=False)
    resumed.run(max_epochs=EPOCHS)
    assert resumed.n_iteration_completed == EPOCHS * 6
    assert same(ignite_weights(n, drop_last, generator), model)


STOP_EVENTS = ["STARTED", "EPOCH_STARTED", "ITERATION_STARTED", "ITERATION_COMPLETED"]


def stopped_run(make: Any, stop: str, where: str) -> list[tuple[Any, ...]]:
    """The events, epochs, iterations and processed batches of a run stopped by ``stop``
    (``terminate``/``terminate_epoch``) called once at ``where`` (the second such event)."""
    from ignite.engine import Events

    log: list[tuple[Any, ...]] = []
    engine = make(lambda e, b: log.append(("process", b)))
    for name in (*STOP_EVENTS, "EPOCH_COMPLETED", "COMPLETED"):
        engine.add_event_handler(
            getattr(Events, name),
            lambda e, n=name: log.append((n, e.state.epoch, e.state.iteration)),
        )
    engine.add_event_handler(getattr(Events, where)(once=2), lambda e: getattr(e, stop)())
    try:
        engine.run([10, 11, 12], max_epochs=3)
    except RuntimeError as exc:
        log.append(("raised", str(exc)[:40]))
    return log


@pytest.mark.parametrize("where", STOP_EVENTS[1:])
@pytest.mark.parametrize("stop", ["terminate", "terminate_epoch"])
def test_terminating_at_an_event_stops_where_ignite_does(stop: str, where: str) -> None:
    """engine.ignite: the same events and processed batches as ignite's Engine."""
    from ignite.engine import Engine as PlainEngine

    from nodes import Engine

    theirs = stopped_run(PlainEngine, stop, where)
    ours = stopped_run(lambda fn: Engine(State(), "e", fn, [0]).ignite, stop, where)
    if stop == "terminate_epoch" and where == "EPOCH_STARTED":  # both refuse, in their words
        assert theirs[-1][0] == ours[-1][0] == "raised"
        theirs, ours = theirs[:-1], ours[:-1]
    assert ours == theirs
