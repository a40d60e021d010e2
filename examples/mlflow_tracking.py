"""Log a three-engine statefire training to MLflow with ignite's own MLflowLogger.

`supervised_training` builds `trainer`, `train_evaluator` and `val_evaluator`
(accuracy and loss) on one state; ignite's `MLflowLogger` attaches unchanged
to each engine's ignite face (`state.trainer.ignite`, ...), exactly as it is
attached to ignite engines: the running average loss every `--log-interval`
iterations, the learning rate, and both evaluators' metrics at the trainer's
epoch. Offline: scikit-learn's digits and a local MLflow store.

    python examples/mlflow_tracking.py --epochs 3 --output-dir outputs/mlflow
    mlflow ui --backend-store-uri outputs/mlflow/mlruns     # with the full mlflow package
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from ignite.engine import Events
from ignite.handlers import global_step_from_engine
from ignite.handlers.mlflow_logger import MLflowLogger, OptimizerParamsHandler, OutputHandler
from torch import nn
from torch.utils.data import DataLoader

from nodes.compose import supervised_training
from nodes.datasets import digits_datasets
from pipeline import State

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--epochs", type=int, default=3)
parser.add_argument("--batch-size", type=int, default=64)
parser.add_argument("--lr", type=float, default=0.05)
parser.add_argument("--log-interval", type=int, default=10, help="iterations between loss logs")
parser.add_argument("--seed", type=int, default=0)
parser.add_argument("--output-dir", type=Path, default=Path("outputs/mlflow"))
args = parser.parse_args()

# MLflow 3 asks for a database store; a folder of files needs no extra package.
os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
import mlflow  # noqa: E402  (after the environment variable it reads)

torch.manual_seed(args.seed)
train_set, val_set = digits_datasets(seed=args.seed, size=8)
train_loader = DataLoader(
    train_set,
    batch_size=args.batch_size,
    shuffle=True,
    generator=torch.Generator().manual_seed(args.seed),
)
val_loader = DataLoader(val_set, batch_size=256)
model = nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))
optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)

state = State()
supervised_training(
    state, model, optimizer, nn.CrossEntropyLoss(), train_loader, val_loader, progress=False
)
trainer = state.trainer.ignite  # the engines, seen as ignite Engines

uri = (args.output_dir / "mlruns").resolve().as_uri()
mlflow.set_tracking_uri(uri)
mlflow.set_experiment("statefire-digits")
logger = MLflowLogger(tracking_uri=uri)
logger.log_params({"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr})
logger.attach(
    trainer,
    log_handler=OutputHandler(tag="training", metric_names=["running_loss"]),
    event_name=Events.ITERATION_COMPLETED(every=args.log_interval),
)
logger.attach(
    trainer,
    log_handler=OptimizerParamsHandler(optimizer),
    event_name=Events.EPOCH_STARTED,
)
for tag, evaluator in (("train", state.train_evaluator), ("validation", state.val_evaluator)):
    logger.attach(
        evaluator.ignite,
        log_handler=OutputHandler(
            tag=tag,
            metric_names=["accuracy", "loss"],
            global_step_transform=global_step_from_engine(trainer),
        ),
        event_name=Events.COMPLETED,
    )

state.trainer.run(max_epochs=args.epochs)
logger.close()

run_id = logger.active_run.info.run_id
client = mlflow.tracking.MlflowClient(tracking_uri=uri)
for key in sorted(client.get_run(run_id).data.metrics):
    history = client.get_metric_history(run_id, key)
    print(f"{key}: {len(history)} values, last {history[-1].value:.4f} at step {history[-1].step}")
print(f"mlflow run {run_id} in {uri}")
