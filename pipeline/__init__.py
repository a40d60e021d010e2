"""statefire's core: the training state, its variables and their dependency graph.

Imports the standard library and networkx only (graphviz lazily, when rendering).
"""

from pipeline.errors import GraphError, RenderWarning, StateDictError, StateDictWarning
from pipeline.node import Container, Node
from pipeline.state import State
from pipeline.subscription import Handle
from pipeline.trace import Trace, TraceEntry
from pipeline.variable import Event, Ref, Variable

__all__ = [
    "Container",
    "Event",
    "GraphError",
    "Handle",
    "Node",
    "Ref",
    "RenderWarning",
    "State",
    "StateDictError",
    "StateDictWarning",
    "Trace",
    "TraceEntry",
    "Variable",
]
