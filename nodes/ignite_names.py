"""ignite's argument names on statefire's classes that share a name with ignite's.

``EarlyStopping``, ``Checkpoint``, ``LRScheduler`` and ``ProgressBar`` exist in
both libraries with other arguments. An ignite habit (``score_function=``,
``to_save=``, ``lr_scheduler=``, ``ProgressBar(persist=True)`` without an
engine) gets a ``TypeError`` that names the statefire spelling and says how to
keep ignite's own class, attached to ``engine.ignite``. This module holds the
tables and the decorator only; the classes keep their own checks. It also holds
the hint for a callback written the ignite way (``def h(engine): engine.state.epoch``),
which it registers in the core's ``ERROR_HINTS`` on import.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pipeline import State
from pipeline.propagation import ERROR_HINTS

__all__ = ["IGNITE_NAMES", "speaks_ignite"]

T = TypeVar("T", bound=type)

#: class -> (ignite argument -> the statefire spelling, or why there is none).
IGNITE_NAMES: dict[str, dict[str, str]] = {
    "EarlyStopping": {
        "score_function": "score_ref=<the score's Ref>, e.g. score_ref=state.metrics.val_acc_ref "
        "(mode='min' for a loss, instead of negating it)",
    },
    "Checkpoint": {
        "to_save": "nothing: the whole state is saved (every model, optimizer, node and RNG)",
        "save_handler": "dirname=<a folder>",
        "filename_prefix": "prefix=",
        "score_function": "score=<the score's Ref>, e.g. score=state.metrics.val_acc_ref",
        "score_name": "nothing: the score's variable names it",
        "global_step_transform": "engine=<the engine whose counter names the file>",
        "filename_pattern": "nothing: files are <prefix>_<counter>[_<score>].pt",
        "include_self": "nothing: the checkpoint node's own state is in the state",
        "greater_or_equal": "nothing: a score saves when strictly better (mode='max' or 'min')",
        "save_on_rank": "nothing: rank 0 writes (nodes.distributed)",
    },
    "LRScheduler": {
        "lr_scheduler": "torch_scheduler=<the torch scheduler> and trigger_ref=<when it steps>",
        "save_history": "nothing: the learning rate is the variable handlers.<name>.lr; "
        "record it with state.trace() or a TensorBoard chart",
        "use_legacy": "nothing: the scheduler steps after the optimizer, as torch expects",
    },
    "ProgressBar": {
        "bar_format": "nothing: the bar's format is fixed",
        "metric_names": "variables=[<Refs to show>]",
        "output_transform": "variables=[<Refs to show>] (the output is engine.output_ref)",
        "event_name": "every=<refresh every n iterations>",
        "closing_event_name": "nothing: the bar closes at the end of each epoch",
        "ncols": "nothing: the bar's format is fixed",
        "desc": "name=",
    },
}

_FIRST: dict[str, str] = {
    "EarlyStopping": "EarlyStopping(state, score_ref, patience, trainer)",
    "Checkpoint": "Checkpoint(state, dirname, trigger)",
    "LRScheduler": "LRScheduler(state, torch_scheduler, trigger_ref)",
    "ProgressBar": "ProgressBar(engine)",
}

_IGNITE_WAY: dict[str, str] = {
    "EarlyStopping": "evaluator.ignite.add_event_handler(Events.COMPLETED, "
    "ignite.handlers.EarlyStopping(patience, score_function, trainer.ignite))",
    "Checkpoint": "evaluator.ignite.add_event_handler(Events.COMPLETED, "
    "ignite.handlers.Checkpoint(to_save, save_handler, ...))",
    "LRScheduler": "trainer.ignite.add_event_handler(Events.ITERATION_COMPLETED, "
    "ignite.handlers.LRScheduler(lr_scheduler))",
    "ProgressBar": "ignite.handlers.ProgressBar(persist=True).attach(trainer.ignite)",
}


def _first_type(name: str) -> tuple[type, str]:
    from nodes.engine import Engine
    from pipeline import State

    if name == "ProgressBar":
        return Engine, "engine must be a statefire Engine"
    return State, f"{name} needs a pipeline.State as first argument"


def speaks_ignite(cls: T) -> T:
    """Class decorator: ignite's arguments to ``cls`` fail with the statefire spelling.

    Raises (from the decorated ``__init__``):
        TypeError: an argument of ignite's class of the same name, or a first
            argument that is not what statefire's class takes.
    """
    name = cls.__name__
    table: Mapping[str, str] = IGNITE_NAMES[name]
    init: Callable[..., None] = cls.__init__  # type: ignore[misc]

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        ignite_only = [k for k in kwargs if k in table]
        expected, what = _first_type(name)
        first = args[0] if args else kwargs.get("engine" if name == "ProgressBar" else "state")
        if ignite_only or not isinstance(first, expected):
            if ignite_only:
                told = "; ".join(f"{k}= -> {table[k]}" for k in ignite_only)
                problem = f"{', '.join(k + '=' for k in ignite_only)} is ignite's spelling ({told})"
            else:
                problem = f"{what}, got {type(first).__name__}"
            raise TypeError(
                f"statefire's {name}: {problem}. It is called {_FIRST[name]}; to use ignite's own "
                f"{name} unchanged, attach it to the engine's ignite face: {_IGNITE_WAY[name]}"
            )
        init(self, *args, **kwargs)

    cls.__init__ = __init__  # type: ignore[misc]
    return cls


#: ignite's ``engine.state.<name>`` -> the engine variable that holds it.
_ENGINE_STATE = {
    "epoch": "n_epoch_started",
    "iteration": "n_iteration_started",
    "output": "output",
    "batch": "batch",
    "max_epochs": "max_epochs",
    "epoch_length": "epoch_length",
    "metrics": "",
    "dataloader": "dataloader",
    "times": "epoch_time",
}


def _engine_state_habit(exc: BaseException, path: str) -> str:
    """A hint for a callback written for an ignite engine (``def h(engine): engine.state.epoch``),
    which receives an Event whose ``state`` is the whole State; registered in the core's
    ``ERROR_HINTS``, so a subscriber's AttributeError gets it as a note.

    Args:
        exc: what the subscriber of ``path`` raised.
        path: the variable whose change called the subscriber.

    Returns:
        The note, or "" when ``exc`` is not such a read.
    """
    name = getattr(exc, "name", None)
    if not isinstance(exc, AttributeError) or not isinstance(getattr(exc, "obj", None), State):
        return ""
    if name not in _ENGINE_STATE:
        return ""
    owner = path.rsplit(".", 1)[0]
    engine = owner.split(".", 1)[1] if owner.startswith("engines.") else "<engine>"
    where = (
        f"state.metrics.{engine}_<name>"
        if name == "metrics"
        else f"engines.{engine}.{_ENGINE_STATE[name]}"
    )
    return (
        f"a callback gets an Event (ref, old, new, state), not an ignite engine: event.state is "
        f"the whole State. ignite's engine.state.{name} is the variable {where}; or attach an "
        f"ignite-style handler to the engine's ignite face: "
        f"state.{engine}.ignite.add_event_handler(Events..., handler)"
    )


if _engine_state_habit not in ERROR_HINTS:
    ERROR_HINTS.append(_engine_state_habit)
