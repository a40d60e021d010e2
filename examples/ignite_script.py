"""An ignite training script, unchanged but for its ``Engine``, run by statefire.

The script is written the way pytorch-ignite's own examples are: a trainer and
two evaluators built with ``Engine(process_function)``, ``Accuracy`` and
``Loss`` attached to the evaluators, a ``RunningAverage`` of the loss on the
trainer, an ``EPOCH_COMPLETED`` handler that runs the evaluators, and
``EarlyStopping`` and ``ModelCheckpoint`` on the validation evaluator.
``--engine statefire`` (the default) makes ``Engine`` statefire's
``nodes.IgniteEngine``, the three engines on one state, and adds statefire's
TensorBoard charts comparing the engines' metrics (``tb/``); ``--engine
ignite`` runs the very same lines on ignite's own ``Engine``. Both print the same
numbers, stop at the same epoch (``EarlyStopping``, patience 2) and write the
same checkpoints (the test compares them); the statefire run also prints which handlers subscribe to the trainer's and the
validation evaluator's events and renders the state graph.

    python examples/ignite_script.py [--engine statefire|ignite] [--epochs 20]
                                     [--output-dir outputs/ignite_script]
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path
from typing import Any

import torch
from ignite.engine import Events
from ignite.handlers import EarlyStopping, ModelCheckpoint, global_step_from_engine
from ignite.metrics import Accuracy, Loss, RunningAverage
from torch import nn
from torch.utils.data import DataLoader

from nodes.datasets import digits_datasets
from pipeline import State

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--engine", choices=("statefire", "ignite"), default="statefire")
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output-dir", type=Path, default=Path("outputs/ignite_script"))
args = parser.parse_args()
torch.manual_seed(args.seed)
args.output_dir.mkdir(parents=True, exist_ok=True)

# The one place the two runs differ: what Engine(process_function) builds.
state = State()
if args.engine == "statefire":
    from nodes import IgniteEngine

    def Engine(process_function: Any, name: str) -> Any:
        return IgniteEngine(process_function, state=state, name=name)

else:
    from ignite.engine import Engine as IgniteOwnEngine

    def Engine(process_function: Any, name: str) -> Any:
        return IgniteOwnEngine(process_function)


# From here on: an ignite script.
train_set, val_set = digits_datasets(size=8, seed=args.seed)
train_loader = DataLoader(
    train_set,
    batch_size=args.batch_size,
    shuffle=True,
    generator=torch.Generator().manual_seed(args.seed),
)
val_loader = DataLoader(val_set, batch_size=256)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.5)
criterion = nn.CrossEntropyLoss()


def train_step(engine: Any, batch: Any) -> float:
    model.train()
    x, y = batch
    optimizer.zero_grad()
    loss = criterion(model(x), y)
    loss.backward()
    optimizer.step()
    return loss.item()


def eval_step(engine: Any, batch: Any) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    x, y = batch
    with torch.no_grad():
        return model(x), y


trainer = Engine(train_step, "trainer")
train_evaluator = Engine(eval_step, "train_evaluator")
val_evaluator = Engine(eval_step, "val_evaluator")
RunningAverage(output_transform=lambda loss: loss).attach(trainer, "loss")
for evaluator in (train_evaluator, val_evaluator):
    Accuracy().attach(evaluator, "accuracy")
    Loss(criterion).attach(evaluator, "loss")


@trainer.on(Events.EPOCH_COMPLETED)
def log_results(engine: Any) -> None:
    train_evaluator.run(train_loader)
    val_evaluator.run(val_loader)
    t, v = train_evaluator.state.metrics, val_evaluator.state.metrics
    print(
        f"epoch {engine.state.epoch}: running loss {engine.state.metrics['loss']:.6f}  "
        f"train accuracy {t['accuracy']:.4f} loss {t['loss']:.6f}  "
        f"val accuracy {v['accuracy']:.4f} loss {v['loss']:.6f}"
    )


def score(engine: Any) -> float:
    return float(engine.state.metrics["accuracy"])


val_evaluator.add_event_handler(
    Events.COMPLETED, EarlyStopping(patience=2, score_function=score, trainer=trainer)
)
val_evaluator.add_event_handler(
    Events.COMPLETED,
    ModelCheckpoint(
        args.output_dir / "checkpoints",
        n_saved=2,
        score_function=score,
        score_name="accuracy",
        global_step_transform=global_step_from_engine(trainer),
        require_empty=False,
    ),
    {"model": model},
)

if args.engine == "statefire":
    # statefire's own TensorBoard charts find the ignite metrics (variables of the state):
    # one chart per metric, one line per engine, nothing else to declare.
    from nodes import EnginesMetricsComparisonCharts, TensorBoard

    TensorBoard(state, log_dir=args.output_dir / "tb")
    EnginesMetricsComparisonCharts(x_axis_ref=state.trainer.n_samples_ref)

trainer.run(train_loader, max_epochs=args.epochs)

weights = b"".join(p.detach().numpy().tobytes() for p in model.parameters())
print(f"stopped after epoch {trainer.state.epoch} of {args.epochs}")
print(f"weights sha256 {hashlib.sha256(weights).hexdigest()[:16]}")
print(f"checkpoints {sorted(p.name for p in (args.output_dir / 'checkpoints').iterdir())}")
if args.engine == "statefire":
    for variable in ("trainer.n_epoch_completed", "val_evaluator.n_run_completed"):
        print(f"subscribers of {variable}: {state.subscribers_of(variable)}")
    graph = state.render(args.output_dir / "graph.svg")
    print(f"state graph: {graph}")
