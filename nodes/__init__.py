"""statefire's ready-made nodes, on torch and pytorch-ignite.

``import nodes`` imports torch but not ignite; ignite is imported by the
nodes that wrap it, when they are created.
"""

from nodes.engine import Engine, batch_size
from nodes.handlers import EarlyStopping, LRScheduler, TerminateOnNan
from nodes.metric import Metric
from nodes.progress import ProgressBar
from nodes.supervised import Evaluator, Trainer, prepare_batch, to_device

__all__ = [
    "EarlyStopping",
    "Engine",
    "Evaluator",
    "LRScheduler",
    "Metric",
    "ProgressBar",
    "TerminateOnNan",
    "Trainer",
    "batch_size",
    "prepare_batch",
    "to_device",
]
