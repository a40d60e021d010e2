"""statefire's ready-made nodes, on torch and pytorch-ignite.

``import nodes`` imports torch but not ignite; ignite is imported by the
nodes that wrap it, when they are created.
"""

from nodes.engine import Engine, batch_size
from nodes.metric import Metric
from nodes.supervised import Evaluator, Trainer, prepare_batch, to_device

__all__ = [
    "Engine",
    "Evaluator",
    "Metric",
    "Trainer",
    "batch_size",
    "prepare_batch",
    "to_device",
]
