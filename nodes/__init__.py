"""statefire's ready-made nodes, on torch and pytorch-ignite.

``import nodes`` imports torch but not ignite; ignite is imported by the
nodes that wrap it, when they are created, and by ``nodes.IgniteEngine``
(an ignite ``Engine`` subclass) when it is first named.
"""

from typing import Any

from nodes.checkpoint import Checkpoint, CheckpointError
from nodes.compose import supervised_training
from nodes.distributed import Distributed
from nodes.engine import Engine, batch_size
from nodes.handlers import EarlyStopping, LRScheduler, TerminateOnNan
from nodes.metric import Metric
from nodes.progress import ProgressBar
from nodes.resume import ResumeWarning
from nodes.rng import RandomStates
from nodes.supervised import Evaluator, Trainer, prepare_batch, to_device, unwrap_model
from nodes.tensorboard import (
    EnginesMetricsCharts,
    EnginesMetricsComparisonCharts,
    Histograms,
    ScalarChart,
    TensorBoard,
)

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "Distributed",
    "EarlyStopping",
    "Engine",
    "EnginesMetricsCharts",
    "EnginesMetricsComparisonCharts",
    "Evaluator",
    "Histograms",
    "IgniteEngine",
    "LRScheduler",
    "Metric",
    "ProgressBar",
    "RandomStates",
    "ResumeWarning",
    "ScalarChart",
    "TensorBoard",
    "TerminateOnNan",
    "Trainer",
    "batch_size",
    "prepare_batch",
    "supervised_training",
    "to_device",
    "unwrap_model",
]


def __getattr__(name: str) -> Any:
    # IgniteEngine subclasses ignite's Engine: importing it imports ignite, so only on demand.
    if name == "IgniteEngine":
        from nodes.ignite_engine import IgniteEngine

        return IgniteEngine
    raise AttributeError(f"module 'nodes' has no attribute {name!r}")
