"""k-fold cross-validation: k trainings on one state, each fold started by the end of the one before.

The 1,797 digits are split into `--folds` stratified folds. Fold i has its own
model and optimizer, `fold<i>_trainer`, and `fold<i>_evaluator` (accuracy and
loss on the held-out part, after each epoch); `fold<i+1>_trainer` runs when
`fold<i>_trainer` completes. `FoldSummary`, a node, keeps each fold's best
validation accuracy and their mean and spread. The two chart calls are the
ones of the three-engine example: they chart every fold against the others
whatever `--folds` is.

    python examples/cross_validation.py --folds 5 --output-dir outputs/cross_validation
    tensorboard --logdir outputs/cross_validation/tb
"""

from __future__ import annotations

import argparse
import statistics
from functools import partial
from pathlib import Path

import torch
from ignite.metrics import Accuracy, Loss
from sklearn.model_selection import StratifiedKFold
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset

from nodes import Evaluator, Metric, Trainer
from nodes.datasets import digits_datasets
from nodes.tensorboard import EnginesMetricsCharts, EnginesMetricsComparisonCharts, TensorBoard
from pipeline import Event, Node, Ref, State, Variable

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--folds", type=int, default=5)
parser.add_argument("--epochs", type=int, default=8, help="epochs of each fold")
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output-dir", type=Path, default=Path("outputs/cross_validation"))


class FoldSummary(Node):
    """The best score of every fold so far, and their mean and spread."""

    best = Variable(None, doc="each fold's best score so far (None: not evaluated yet)")
    mean = Variable(None, doc="mean of the folds' best scores")
    std = Variable(None, doc="their standard deviation (population; 0 for one fold)")

    def __init__(self, scores: list[Ref], name: str = "fold_summary") -> None:
        super().__init__(scores[0].state, name)
        self.best = [None] * len(scores)
        for i, score in enumerate(scores):
            score.subscribe(partial(self.update, i))

    def update(self, fold: int, event: Event) -> None:
        best = list(self.best)
        best[fold] = event.new if best[fold] is None else max(best[fold], event.new)
        done = [b for b in best if b is not None]
        self.mean, self.std = statistics.fmean(done), statistics.pstdev(done)
        self.best = best  # last: a subscriber of best sees mean and std updated


args = parser.parse_args()
torch.manual_seed(args.seed)
train_set, val_set = digits_datasets(seed=args.seed, size=8)
x = torch.cat([train_set.tensors[0], val_set.tensors[0]])
y = torch.cat([train_set.tensors[1], val_set.tensors[1]])
digits = TensorDataset(x, y)
splits = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed).split(x, y)

state = State()
state.configs.folds, state.configs.epochs, state.configs.lr = args.folds, args.epochs, args.lr
# The charts' x axis: the epoch of the fold in training, so that the folds overlap.
state.params.epoch = 0


def set_epoch(event: Event) -> None:
    state.params.epoch = event.new


TensorBoard(state, log_dir=args.output_dir / "tb")

previous: Trainer | None = None
for i, (train_idx, val_idx) in enumerate(splits, start=1):
    shuffled = torch.Generator().manual_seed(args.seed + i)
    train = DataLoader(Subset(digits, train_idx), args.batch_size, shuffle=True, generator=shuffled)
    val = DataLoader(Subset(digits, val_idx), batch_size=500)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
    setattr(state.modules, f"fold{i}", model)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    setattr(state.optimizers, f"fold{i}", optimizer)
    trainer = Trainer(
        state, f"fold{i}_trainer", model, optimizer, nn.CrossEntropyLoss(), train,
        max_epochs=args.epochs,
        run_on=None if previous is None else previous.n_run_completed_ref,
    )  # fmt: skip
    trainer.n_epoch_started_ref.subscribe(set_epoch, writes=[state.params.epoch_ref])
    evaluator = Evaluator(state, f"fold{i}_evaluator", model, val, run_on=trainer.n_epoch_completed_ref)  # fmt: skip
    Metric(evaluator, Accuracy(), "accuracy")
    Metric(evaluator, Loss(nn.CrossEntropyLoss()), "loss")
    previous = trainer

summary = FoldSummary([getattr(state.metrics, f"fold{i}_evaluator_accuracy_ref") for i in range(1, args.folds + 1)])  # fmt: skip

# The two calls of the three-engine example, unchanged for any number of folds.
EnginesMetricsComparisonCharts(x_axis_ref=state.params.epoch_ref, n_identical_metric_name_suffixes=1)  # fmt: skip
EnginesMetricsCharts(x_axes_refs=state.params.epoch_ref, n_identical_metric_name_suffixes=1)


@state.on(previous.n_run_completed_ref, reads=[summary.best_ref, summary.mean_ref, summary.std_ref])
def report() -> None:
    """The last fold completed: the summary, printed and written to TensorBoard."""
    table = "\n".join(f"fold {i}: best accuracy {b:.4f}" for i, b in enumerate(summary.best, 1))
    result = f"{args.folds} folds: best accuracy {summary.mean:.4f} +- {summary.std:.4f}"
    print(f"{table}\n{result}")
    state.tensorboard.writer.add_text("folds/summary", f"{table}\n\n{result}".replace("\n", "  \n"))


args.output_dir.mkdir(parents=True, exist_ok=True)
state.fold1_trainer.run()  # each fold's completion starts the next one
state.tensorboard.close()
print(f"graph: {state.render(args.output_dir / 'graph.svg')}")
