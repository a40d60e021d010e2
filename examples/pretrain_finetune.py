"""Pretrain, then fine-tune: an autoencoder's training completes and starts a classifier's.

`pretrainer` trains an autoencoder to reconstruct the digits (the inputs only,
no labels) and `pretrain_evaluator` measures its validation reconstruction
error after each epoch. The completion of its run starts `finetuner`, which
trains a small classifier head on the frozen encoder, evaluated by
`train_evaluator` and `val_evaluator` (accuracy and loss). Five engines on one
state, one graph showing which variable starts which engine.

    python examples/pretrain_finetune.py --output-dir outputs/pretrain_finetune
    tensorboard --logdir outputs/pretrain_finetune/tb
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from ignite.metrics import Accuracy, Loss
from torch import nn
from torch.utils.data import DataLoader

from nodes import Evaluator, Metric, Trainer
from nodes.datasets import digits_datasets
from nodes.tensorboard import EnginesMetricsCharts, EnginesMetricsComparisonCharts, TensorBoard
from pipeline import State

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--pretrain-epochs", type=int, default=10)
parser.add_argument("--finetune-epochs", type=int, default=10)
parser.add_argument("--code-size", type=int, default=16, help="width of the encoder's output")
parser.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate, both stages")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output-dir", type=Path, default=Path("outputs/pretrain_finetune"))


def inputs_as_targets(
    batch: list[torch.Tensor], device: str | None = None, non_blocking: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """An autoencoder's batch: the images are both the input and the target (labels unused)."""
    x = batch[0] if device is None else batch[0].to(device, non_blocking=non_blocking)
    return x, x


def build(args: argparse.Namespace) -> State:
    """The state: data, the two models, five engines, their metrics and the charts."""
    torch.manual_seed(args.seed)
    train_set, val_set = digits_datasets(seed=args.seed, size=8)
    state = State()
    state.configs.lr, state.configs.code_size = args.lr, args.code_size
    shuffled = torch.Generator().manual_seed(args.seed)
    state.dataloaders.train = DataLoader(
        train_set, batch_size=args.batch_size, shuffle=True, generator=shuffled
    )
    state.dataloaders.val = DataLoader(val_set, batch_size=500)

    # Stage 1: an autoencoder on the inputs.
    encoder = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 48), nn.ReLU(), nn.Linear(48, args.code_size)
    )
    decoder = nn.Sequential(nn.ReLU(), nn.Linear(args.code_size, 48), nn.ReLU(), nn.Linear(48, 64))
    state.modules.autoencoder = autoencoder = nn.Sequential(encoder, decoder, nn.Unflatten(1, (1, 8, 8)))  # fmt: skip
    state.optimizers.autoencoder = torch.optim.Adam(autoencoder.parameters(), lr=args.lr)
    pretrainer = Trainer(
        state, "pretrainer", autoencoder, state.optimizers.autoencoder,
        nn.MSELoss(), state.dataloaders.train, prepare_batch=inputs_as_targets,
        max_epochs=args.pretrain_epochs,
    )  # fmt: skip
    pretrain_evaluator = Evaluator(
        state, "pretrain_evaluator", autoencoder, state.dataloaders.val,
        run_on=pretrainer.n_epoch_completed_ref, prepare_batch=inputs_as_targets,
    )  # fmt: skip
    Metric(pretrain_evaluator, Loss(nn.MSELoss()), "mse")

    # Stage 2, started by the end of stage 1: a classifier head on the frozen encoder.
    @state.on(pretrainer.n_run_completed_ref)  # subscribed first, so it runs first
    def freeze_encoder() -> None:
        """No gradients for the encoder: only the head learns in the fine-tuning."""
        encoder.requires_grad_(False)

    head = nn.Sequential(nn.Linear(args.code_size, 64), nn.ReLU(), nn.Linear(64, 10))
    state.modules.classifier = classifier = nn.Sequential(encoder, head)
    state.optimizers.head = torch.optim.Adam(head.parameters(), lr=args.lr)
    finetuner = Trainer(
        state, "finetuner", classifier, state.optimizers.head,
        nn.CrossEntropyLoss(), state.dataloaders.train, max_epochs=args.finetune_epochs,
        run_on=pretrainer.n_run_completed_ref,
    )  # fmt: skip

    for name, loader in (("train_evaluator", state.dataloaders.train), ("val_evaluator", state.dataloaders.val)):  # fmt: skip
        evaluator = Evaluator(
            state, name, classifier, loader, run_on=finetuner.n_epoch_completed_ref
        )
        Metric(evaluator, Accuracy(), "accuracy")
        Metric(evaluator, Loss(nn.CrossEntropyLoss()), "loss")

    # The x axis of the charts: epochs of training, pretraining and fine-tuning in a row.
    state.params.epoch = 0

    def count_epoch() -> None:
        state.params.epoch += 1

    for trainer in (pretrainer, finetuner):
        trainer.n_epoch_started_ref.subscribe(count_epoch, writes=[state.params.epoch_ref])

    TensorBoard(state, log_dir=args.output_dir / "tb")
    EnginesMetricsComparisonCharts(x_axis_ref=state.params.epoch_ref, n_identical_metric_name_suffixes=1)  # fmt: skip
    EnginesMetricsCharts(x_axes_refs=state.params.epoch_ref, n_identical_metric_name_suffixes=1)

    @state.on(pretrain_evaluator.n_run_completed_ref, reads=["metrics.pretrain_evaluator_mse"])
    def report_mse() -> None:
        mse = state.metrics.pretrain_evaluator_mse
        print(f"pretrain epoch {pretrainer.n_epoch_completed}  val reconstruction mse {mse:.4f}")

    @state.on(state.val_evaluator.n_run_completed_ref, reads=["metrics.val_evaluator_accuracy"])
    def report() -> None:
        m = state.metrics
        print(
            f"fine-tune epoch {finetuner.n_epoch_completed}  train accuracy "
            f"{m.train_evaluator_accuracy:.4f}  val accuracy {m.val_evaluator_accuracy:.4f}"
        )

    return state


if __name__ == "__main__":
    args = parser.parse_args()
    state = build(args)
    args.output_dir.mkdir(parents=True, exist_ok=True)
    state.pretrainer.run()  # its completion runs the finetuner
    state.tensorboard.close()
    frozen = not any(p.requires_grad for p in state.modules.autoencoder[0].parameters())
    print(
        f"final val accuracy {state.metrics.val_evaluator_accuracy:.4f}  encoder frozen: {frozen}"
    )
    print(f"graph: {state.render(args.output_dir / 'graph.svg')}")
