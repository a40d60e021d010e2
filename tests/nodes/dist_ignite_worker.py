"""The per-process side of ``test_distributed.py::TestIgniteEngine``: an ignite training,
distributed, on ignite's ``Engine`` and on ``nodes.IgniteEngine``.

Run as a script, it launches ``--nproc`` processes with ``idist.Parallel`` on gloo over
loopback. Each process trains the same model twice from the same seed, two epochs with
``supervised_training_step`` on an ``idist.auto_model`` (DDP) and an
``idist.auto_dataloader`` (a DistributedSampler), evaluating an all-reduced ``Accuracy``
after each epoch: once with ignite's own ``Engine``, once with ``IgniteEngine`` on one
statefire state. It writes, per rank and engine, the accuracies, the iteration count and
the final weights under ``OUT``:

    python tests/nodes/dist_ignite_worker.py OUT --nproc 2
    (the processes are launched by dist_worker.launch, as that worker's)
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
from ignite.engine import Engine, Events, supervised_evaluation_step, supervised_training_step
from ignite.metrics import Accuracy
from torch import nn

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: the repository's packages
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from dist_worker import BATCH_SIZE, N_TRAIN, N_VAL, SEED, IndexedDigits, launch  # noqa: E402

from nodes import IgniteEngine  # noqa: E402
from pipeline import State  # noqa: E402


def prepare(batch: Any, device: Any = None, non_blocking: bool = False) -> tuple[Any, Any]:
    """``(x, y, index)`` -> ``(x, y)``."""
    return batch[0], batch[1]


def train_with(kind: str) -> dict[str, Any]:
    """Two epochs on this process with engines of ``kind``; what the test compares."""
    torch.manual_seed(SEED)
    train = idist.auto_dataloader(IndexedDigits(0, N_TRAIN), batch_size=BATCH_SIZE, shuffle=True)
    val = idist.auto_dataloader(IndexedDigits(N_TRAIN, N_TRAIN + N_VAL), batch_size=200)
    torch.manual_seed(SEED)
    model = idist.auto_model(nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10)))
    optimizer = idist.auto_optim(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5))
    step = supervised_training_step(model, optimizer, nn.CrossEntropyLoss(), prepare_batch=prepare)
    evaluation = supervised_evaluation_step(model, prepare_batch=prepare)
    state = State()
    if kind == "statefire":
        trainer: Engine = IgniteEngine(step, state=state, name="trainer")
        evaluator: Engine = IgniteEngine(evaluation, state=state, name="val")
    else:
        trainer, evaluator = Engine(step), Engine(evaluation)
    Accuracy().attach(evaluator, "accuracy")
    accuracies: list[float] = []

    @trainer.on(Events.EPOCH_COMPLETED)
    def evaluate(engine: Engine) -> None:
        evaluator.run(val)
        accuracies.append(float(evaluator.state.metrics["accuracy"]))

    trainer.run(train, max_epochs=2)
    out: dict[str, Any] = {
        "accuracies": accuracies,
        "iterations": trainer.state.iteration,
        "weights": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    if kind == "statefire":
        out["variable"] = state.metrics.val_accuracy
        out["subscribers"] = state.subscribers_of("trainer.n_epoch_completed")
    return out


def worker(local_rank: int, out: Path) -> None:
    rank = idist.get_rank()
    for kind in ("ignite", "statefire"):
        result = train_with(kind)
        torch.save(result.pop("weights"), out / f"{kind}_rank{rank}.pt")
        (out / f"{kind}_rank{rank}.json").write_text(json.dumps(result))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--nproc", type=int, default=2)
    args = parser.parse_args()
    launch(worker, args.out, args.nproc)
