"""Knowledge distillation: a teacher trains, then a small student learns from the teacher's outputs.

`teacher_trainer` trains a wide network on the digits' labels; the completion
of its run starts `student_trainer`, which trains a network with 90 times
fewer parameters on the teacher's softened outputs only (no labels: the loss is the
KL divergence at temperature `--temperature`). `teacher_evaluator` and
`student_evaluator` measure both on the same validation digits, and the
comparison chart call puts the two on one chart per metric, epoch by epoch.

    python examples/distillation.py --output-dir outputs/distillation
    tensorboard --logdir outputs/distillation/tb
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F
from ignite.metrics import Accuracy, Loss
from torch import nn
from torch.utils.data import DataLoader

from nodes import Evaluator, Metric, Trainer
from nodes.datasets import digits_datasets
from nodes.tensorboard import EnginesMetricsCharts, EnginesMetricsComparisonCharts, TensorBoard
from pipeline import Event, State

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--teacher-epochs", type=int, default=10)
parser.add_argument("--student-epochs", type=int, default=10)
parser.add_argument("--temperature", type=float, default=4.0)
parser.add_argument("--lr", type=float, default=3e-3, help="Adam's learning rate, both networks")
parser.add_argument("--batch-size", type=int, default=32)
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output-dir", type=Path, default=Path("outputs/distillation"))
args = parser.parse_args()

torch.manual_seed(args.seed)
train_set, val_set = digits_datasets(seed=args.seed, size=8)
state = State()
state.configs.temperature, state.configs.lr = args.temperature, args.lr
shuffled = torch.Generator().manual_seed(args.seed)
state.dataloaders.train = DataLoader(train_set, args.batch_size, shuffle=True, generator=shuffled)
state.dataloaders.val = DataLoader(val_set, batch_size=500)
state.modules.teacher = teacher = nn.Sequential(
    nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10)
)
state.modules.student = student = nn.Sequential(nn.Flatten(), nn.Linear(64, 12), nn.ReLU(), nn.Linear(12, 10))  # fmt: skip
state.optimizers.teacher = torch.optim.Adam(teacher.parameters(), lr=args.lr)
state.optimizers.student = torch.optim.Adam(student.parameters(), lr=args.lr)

teacher_trainer = Trainer(
    state, "teacher_trainer", teacher, state.optimizers.teacher, nn.CrossEntropyLoss(),
    state.dataloaders.train, max_epochs=args.teacher_epochs,
)  # fmt: skip


def teacher_targets(
    batch: list[torch.Tensor], device: str | None = None, non_blocking: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """The student's batch: the images, and the teacher's logits on them as the target."""
    x = batch[0]
    teacher.eval()
    with torch.no_grad():
        return x, teacher(x)


def distillation_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor) -> torch.Tensor:
    """KL(teacher || student) on outputs softened by the temperature, scaled by its square
    so that the gradients keep their size whatever the temperature (Hinton et al., 2015)."""
    t = args.temperature
    return F.kl_div(
        F.log_softmax(student_logits / t, dim=-1),
        F.softmax(teacher_logits / t, dim=-1),
        reduction="batchmean",
    ) * (t * t)


student_trainer = Trainer(
    state, "student_trainer", student, state.optimizers.student, distillation_loss,
    state.dataloaders.train, prepare_batch=teacher_targets, max_epochs=args.student_epochs,
    run_on=teacher_trainer.n_run_completed_ref,  # the teacher's training is done: distil it
)  # fmt: skip
for name, model, trainer in (("teacher", teacher, teacher_trainer), ("student", student, student_trainer)):  # fmt: skip
    evaluator = Evaluator(
        state, f"{name}_evaluator", model, state.dataloaders.val,
        run_on=trainer.n_epoch_completed_ref,
    )  # fmt: skip
    Metric(evaluator, Accuracy(), "accuracy")
    Metric(evaluator, Loss(nn.CrossEntropyLoss()), "loss")

# The charts' x axis: the epoch of the network in training, so that the two lines overlap.
state.params.epoch = 0


@state.on(teacher_trainer.n_epoch_started_ref, writes=[state.params.epoch_ref])
@state.on(student_trainer.n_epoch_started_ref, writes=[state.params.epoch_ref])
def set_epoch(event: Event) -> None:
    state.params.epoch = event.new


TensorBoard(state, log_dir=args.output_dir / "tb")
EnginesMetricsComparisonCharts(x_axis_ref=state.params.epoch_ref, n_identical_metric_name_suffixes=1)  # fmt: skip
EnginesMetricsCharts(x_axes_refs=state.params.epoch_ref, n_identical_metric_name_suffixes=1)


@state.on(state.teacher_evaluator.n_run_completed_ref, reads=["metrics.teacher_evaluator_accuracy"])  # fmt: skip
@state.on(state.student_evaluator.n_run_completed_ref, reads=["metrics.student_evaluator_accuracy"])  # fmt: skip
def report(event: Event) -> None:
    name = event.ref.path.split(".")[1].removesuffix("_evaluator")
    accuracy = getattr(state.metrics, f"{name}_evaluator_accuracy")
    print(f"{name} epoch {state.params.epoch}  val accuracy {accuracy:.4f}")


args.output_dir.mkdir(parents=True, exist_ok=True)
teacher_trainer.run()  # its completion runs the student's training
state.tensorboard.close()
sizes = {name: sum(p.numel() for p in m.parameters()) for name, m in (("teacher", teacher), ("student", student))}  # fmt: skip
print(
    f"teacher: {sizes['teacher']} parameters, val accuracy {state.metrics.teacher_evaluator_accuracy:.4f}"
    f"\nstudent: {sizes['student']} parameters, val accuracy {state.metrics.student_evaluator_accuracy:.4f}"
)
print(f"graph: {state.render(args.output_dir / 'graph.svg')}")
