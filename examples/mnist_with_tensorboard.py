"""pytorch-ignite's mnist_with_tensorboard example, on statefire: three engines on one state.

`trainer`, `train_evaluator` and `val_evaluator` (accuracy and loss), the
running loss, TensorBoard charts that compare the engines, the best and the
last checkpoint, and the rendered state graph next to the outputs. Default
data: scikit-learn's digits, upscaled to 28x28 (offline); `--dataset mnist
--data-dir DIR` reads MNIST idx files you already have.

    python examples/mnist_with_tensorboard.py --epochs 3 --output-dir outputs/digits
    python examples/mnist_with_tensorboard.py --nproc-per-node 2 --backend gloo
    torchrun --nproc_per_node 2 examples/mnist_with_tensorboard.py --backend gloo
    tensorboard --logdir outputs/digits/tb
"""

from __future__ import annotations

import argparse
import os
import socket
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
import torch.nn.functional as F
from ignite.metrics import Accuracy, Loss
from torch import nn

from nodes.checkpoint import Checkpoint
from nodes.compose import supervised_training
from nodes.datasets import digits_datasets, mnist_datasets
from nodes.handlers import LRScheduler
from nodes.tensorboard import (
    EnginesMetricsCharts,
    EnginesMetricsComparisonCharts,
    Histograms,
    ScalarChart,
    TensorBoard,
)
from pipeline import State


class Net(nn.Module):
    """The network of the ignite example: two convolutions, two linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        self.fc1 = nn.Linear(320, 50)
        self.fc2 = nn.Linear(50, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = x.view(-1, 320)
        x = F.relu(self.fc1(x))
        x = F.dropout(x, training=self.training)
        return F.log_softmax(self.fc2(x), dim=-1)


def build_state(args: argparse.Namespace) -> State:
    """The whole training on a new state: data, model, engines, metrics, charts, checkpoints."""
    rank, device = idist.get_rank(), idist.device() if args.device is None else args.device
    torch.manual_seed(args.seed)  # the same initial weights on every rank
    if args.dataset == "mnist":
        train_set, val_set = mnist_datasets(args.data_dir)
    else:
        train_set, val_set = digits_datasets(seed=args.seed)

    state = State()
    for key, value in vars(args).items():
        setattr(state.configs, key, str(value) if isinstance(value, Path) else value)
    # auto_dataloader shards the data over the processes (a DistributedSampler) and
    # divides the batch size by their number; with one process it is a DataLoader.
    shuffle: dict[str, Any] = {"shuffle": True}
    if idist.get_world_size() == 1:
        shuffle["generator"] = torch.Generator().manual_seed(args.seed)
    state.dataloaders.train = idist.auto_dataloader(
        train_set, batch_size=args.batch_size, **shuffle
    )
    state.dataloaders.val = idist.auto_dataloader(val_set, batch_size=args.val_batch_size)
    model = idist.auto_model(Net().to(device))  # DDP when distributed; the state keeps it unwrapped
    optimizer = idist.auto_optim(
        torch.optim.SGD(model.parameters(), lr=args.lr, momentum=args.momentum)
    )

    supervised_training(
        state,
        model,
        optimizer,
        nn.NLLLoss(),
        state.dataloaders.train,
        state.dataloaders.val,
        metrics={"accuracy": Accuracy(device=device), "loss": Loss(nn.NLLLoss(), device=device)},
        device=device,
        patience=args.patience,
        progress=not args.no_progress and rank == 0,
    )
    trainer = state.trainer

    # A run per engine in tb/ (tb/trainer, tb/val_evaluator, ...), one x axis for every chart.
    TensorBoard(state, log_dir=args.output_dir / "tb")  # writes on rank 0 only
    EnginesMetricsComparisonCharts(
        x_axis_ref=trainer.n_samples_ref, n_identical_metric_name_suffixes=1
    )
    EnginesMetricsCharts(x_axes_refs=trainer.n_samples_ref, n_identical_metric_name_suffixes=1)
    # The learning rate is a variable of the scheduler node, charted as lr/lr_scheduler;
    # a step of 1.0 keeps it constant.
    LRScheduler(
        state,
        torch.optim.lr_scheduler.StepLR(optimizer, step_size=args.lr_step, gamma=args.lr_gamma),
        trainer.n_epoch_completed_ref,
    )
    ScalarChart(
        trainer.n_iteration_completed_ref,
        [trainer.output_ref],
        x_axis_ref=trainer.n_samples_ref,
        every=args.log_interval,
        tags=["iteration/batch_loss"],
    )
    if args.histograms:
        Histograms(trainer.n_epoch_completed_ref, model, x_axis_ref=trainer.n_samples_ref)

    @state.on(
        state.val_evaluator.n_run_completed_ref,
        reads=["metrics.train_evaluator_accuracy", "metrics.val_evaluator_accuracy"],
    )
    def print_metrics() -> None:
        m = state.metrics  # all-reduced: every rank holds the same values
        if rank == 0:
            print(
                f"Epoch {trainer.n_epoch_completed}  "
                f"train: accuracy {m.train_evaluator_accuracy:.4f} loss {m.train_evaluator_loss:.4f}  "
                f"val: accuracy {m.val_evaluator_accuracy:.4f} loss {m.val_evaluator_loss:.4f}"
            )

    checkpoints = args.output_dir / "checkpoints"  # written on rank 0 only
    Checkpoint(
        state,
        checkpoints,
        trigger=state.val_evaluator.n_run_completed_ref,
        n_saved=1,
        score=state.metrics.val_evaluator_accuracy_ref,
        prefix="best",
        name="best_checkpoint",
        save_on_exception=False,
    )
    Checkpoint(
        state,
        checkpoints,
        trigger=trainer.n_epoch_completed_ref,
        n_saved=1,
        prefix="last",
        name="last_checkpoint",
    )
    return state


def training(local_rank: int, args: argparse.Namespace) -> None:
    """One process's training (the only one, or one of --nproc-per-node)."""
    state = build_state(args)
    rank, trainer, tb = state.distributed.rank, state.trainer, state.tensorboard
    if args.resume:
        meta = Checkpoint.load(state, args.resume)
        if rank == 0:
            print(f"resumed from {args.resume} ({meta['counter']}, saved {meta['time']})")

    args.output_dir.mkdir(parents=True, exist_ok=True)
    trainer.run(max_epochs=args.epochs)
    tb.close()
    suffix = "" if rank == 0 else f"_rank{rank}"  # every rank draws its own state
    graph = state.render(args.output_dir / f"graph{suffix}.svg")
    (args.output_dir / f"overview{suffix}.txt").write_text(state.overview() + "\n")
    if rank == 0:
        print(f"\nstate graph: {graph}\ncheckpoints: {args.output_dir / 'checkpoints'}")
        print(f"TensorBoard logs: {tb.log_dir}  (tensorboard --logdir {tb.log_dir})")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    parser.add_argument("--data-dir", type=Path, help="folder with the MNIST idx files")
    parser.add_argument("--batch-size", type=int, default=64, help="over all processes")
    parser.add_argument("--val-batch-size", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--momentum", type=float, default=0.5)
    parser.add_argument("--lr-step", type=int, default=5, help="epochs between lr decays")
    parser.add_argument(
        "--lr-gamma", type=float, default=1.0, help="lr factor per decay (1: constant)"
    )
    parser.add_argument(
        "--log-interval", type=int, default=10, help="iterations between logged losses"
    )
    parser.add_argument(
        "--histograms", action="store_true", help="parameter and gradient histograms each epoch"
    )
    parser.add_argument("--patience", type=int, default=None, help="early stopping on val accuracy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    parser.add_argument("--output-dir", type=Path, default=Path("outputs/digits"))
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--resume", type=Path, help="a checkpoint file to continue from")
    parser.add_argument("--nproc-per-node", type=int, default=None, help="processes to spawn")
    parser.add_argument("--backend", choices=["gloo", "nccl"], default=None)
    args = parser.parse_args(argv)
    if args.dataset == "mnist" and args.data_dir is None:
        parser.error("--dataset mnist needs --data-dir with the MNIST idx files")
    if args.nproc_per_node and args.backend is None:
        parser.error("--nproc-per-node needs --backend gloo (CPU) or nccl (GPUs)")
    return args


if __name__ == "__main__":
    args = parse_args()
    if args.backend == "gloo" and args.device in (None, "cpu"):
        # gloo here means processes on the CPU: hide GPUs, or ignite would give
        # each process a CUDA device (and there may be fewer GPUs than processes).
        os.environ["CUDA_VISIBLE_DEVICES"] = ""
    spawn: dict[str, Any] = {}
    if args.nproc_per_node:  # a free port for the processes to meet on
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            spawn = {"nproc_per_node": args.nproc_per_node, "master_port": probe.getsockname()[1]}
    with idist.Parallel(backend=args.backend, **spawn) as parallel:
        parallel.run(training, args)
