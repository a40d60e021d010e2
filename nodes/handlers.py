"""Handlers as nodes: ``EarlyStopping``, ``LRScheduler`` and ``TerminateOnNan``.

Each handler is a ``pipeline.Node`` registered in ``state.handlers``: it
subscribes to the variables that trigger it, declares what it reads and
writes (so the graph shows it), and keeps what it knows in ``Variable``s (so
``state.state_dict()`` saves it and subscribers can react to it). The progress
bar lives in ``nodes/progress.py``; checkpointing and TensorBoard are not here.
"""

from __future__ import annotations

import cmath
import logging
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import torch

from nodes.engine import Engine
from nodes.ignite_names import speaks_ignite
from nodes.metric import USAGES, Metric
from pipeline import Container, Node, Ref, State, Variable
from pipeline.subscription import check_filters
from pipeline.values import did_you_mean

__all__ = ["EarlyStopping", "LRScheduler", "TerminateOnNan"]

logger = logging.getLogger(__name__)

_MODES = ("max", "min")


def _check_state(owner: str, state: object) -> None:
    if not isinstance(state, State):
        raise TypeError(
            f"{owner} needs a pipeline.State as first argument, got {type(state).__name__}"
        )


def _check_engine(owner: str, what: str, engine: object) -> None:
    if not isinstance(engine, Engine):
        raise TypeError(
            f"{owner}: {what} must be a statefire Engine (nodes.Engine, Trainer, Evaluator), "
            f"got {type(engine).__name__}"
        )


def _as_ref(owner: str, what: str, state: State, target: object, example: str) -> Ref:
    """A Ref of ``state`` from a Ref or a path; errors say which argument was wrong."""
    if isinstance(target, str):
        return state.ref(target)  # AttributeError with did-you-mean on a typo
    if not isinstance(target, Ref):
        hint = ""
        if callable(target):
            hint = " (a function is not accepted: pass the Ref of the variable it would read)"
        raise TypeError(
            f"{owner}: {what} must be a Ref or a variable path such as {example}, "
            f"got {type(target).__name__} {target!r}{hint}"
        )
    if target.state is not state:
        raise ValueError(f"{owner}: {what} {target!r} belongs to another State than this handler")
    return target


def _as_score(owner: str, path: str, value: Any) -> float:
    """The score as a float (a 0-d tensor is read once per evaluation)."""
    if value is None:
        raise ValueError(
            f"{owner}: the score {path} is None at an evaluation; it must be computed before "
            "the trigger fires (create the metric, or set the variable, before triggering)"
        )
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise ValueError(
                f"{owner}: the score {path} is a tensor of shape {tuple(value.shape)}; "
                "it must hold one number"
            )
        return float(value.item())
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{owner}: the score {path} must be a real number, got {type(value).__name__} {value!r}"
        )
    return float(value)


@speaks_ignite
class EarlyStopping(Node):
    """Terminate ``trainer`` when a score has not improved for ``patience`` evaluations.

    The improvement rule is pytorch-ignite's ``EarlyStopping`` (absolute
    threshold): with ``mode="max"`` a score improves when it is greater than
    ``best_score + min_delta``; with ``mode="min"`` when it is less than
    ``best_score - min_delta``. The first evaluation only sets ``best_score``.
    Without ``cumulative_delta`` a bad evaluation still moves ``best_score`` to
    the better of the two, so ``min_delta`` is measured from the last best
    value; with it, from the score of the last improvement. One difference:
    a NaN score is a bad evaluation here (in ignite it counts as an improvement).

    When does an evaluation happen? "Events are changes": a score equal to the
    previous one fires nothing, and a plateau is exactly what early stopping
    must count. So the handler subscribes to ``trigger_ref``, a variable that
    changes once per evaluation, and reads the score then. When the score is
    the value of a ``Metric``, ``trigger_ref`` defaults to the
    variable that metric is computed on (``val_evaluator.n_epoch_completed``
    for an epoch metric), and the handler runs after every metric published
    with the score (metrics of one evaluation publish together, whenever they
    were created).

    Args:
        state: the state to join (registered as ``state.handlers.<name>``).
        score_ref: the score variable (a Ref or a path), such as
            ``state.metrics.val_evaluator_accuracy_ref``.
        patience: how many evaluations without improvement end the training (>= 1).
        trainer: the engine to terminate.
        min_delta: the smallest change that counts as an improvement (>= 0).
        mode: ``"max"`` (higher is better, e.g. accuracy) or ``"min"`` (e.g. loss).
        cumulative_delta: measure ``min_delta`` from the score of the last improvement.
        name: the node's name.
        trigger_ref: the variable that marks an evaluation; needed when the score
            is not a Metric's value.

    Raises:
        TypeError: ``score_ref``/``trigger_ref`` are not Refs or paths, ``trainer`` is
            not an Engine, or another argument has the wrong type.
        ValueError: ``patience`` < 1, ``min_delta`` < 0, ``mode`` not max/min, or no
            ``trigger_ref`` can be inferred.

    Example:
        >>> from pipeline import State
        >>> from nodes import Engine, EarlyStopping
        >>> state = State()
        >>> state.configs.score = 0.0
        >>> def evaluate(engine, score):
        ...     state.configs.score = score
        >>> scores = Engine(state, "scores", evaluate, [0.5, 0.6, 0.6, 0.55, 0.7])
        >>> stop = EarlyStopping(state, state.configs.score_ref, patience=2, trainer=scores,
        ...                      trigger_ref=scores.n_iteration_completed_ref)
        >>> scores.run()
        >>> scores.n_iteration_completed, stop.stopped, stop.best_score
        (4, True, 0.6)
    """

    best_score = Variable(None, doc="the best score so far (None before the first evaluation)")
    n_bad_evaluations = Variable(0, doc="evaluations since the last improvement")
    stopped = Variable(False, doc="whether patience ran out and the trainer was told to stop")

    def __init__(
        self,
        state: State,
        score_ref: Ref | str,
        patience: int,
        trainer: Engine,
        min_delta: float = 0.0,
        mode: str = "max",
        cumulative_delta: bool = False,
        name: str = "early_stopping",
        *,
        trigger_ref: Ref | str | None = None,
    ) -> None:
        owner = f"EarlyStopping '{name}'"
        _check_state(owner, state)
        score = _as_ref(
            owner, "score_ref", state, score_ref, "state.metrics.val_evaluator_accuracy_ref"
        )
        if type(patience) is not int or patience < 1:
            raise ValueError(
                f"{owner}: patience must be a positive integer (evaluations without improvement "
                f"before stopping), got {patience!r}"
            )
        _check_engine(owner, "trainer", trainer)
        if isinstance(min_delta, bool) or not isinstance(min_delta, numbers.Real):
            raise TypeError(f"{owner}: min_delta must be a number, got {type(min_delta).__name__}")
        if not min_delta >= 0:
            raise ValueError(
                f"{owner}: min_delta must be >= 0, got {min_delta}; use mode='min' to minimise"
            )
        if mode not in _MODES:
            raise ValueError(
                f"{owner}: mode must be 'max' (higher is better) or 'min' (lower is better), "
                f"got {mode!r}{did_you_mean(str(mode), _MODES)}"
            )
        if not isinstance(cumulative_delta, bool):
            raise TypeError(f"{owner}: cumulative_delta must be a bool, got {cumulative_delta!r}")
        metrics = self._metrics_writing(state, score)
        if trigger_ref is not None:
            trigger = _as_ref(
                owner,
                "trigger_ref",
                state,
                trigger_ref,
                "state.val_evaluator.n_epoch_completed_ref",
            )
        elif metrics:
            metric = metrics[0]
            trigger = metric.engine.ref(USAGES[metric.usage][2])
        else:
            raise ValueError(
                f"{owner}: cannot tell when an evaluation happens: {score.path} is not the value "
                "of a Metric, and a score equal to the previous one fires no event; pass "
                "trigger_ref=..., a variable that changes once per evaluation (such as "
                "state.val_evaluator.n_epoch_completed_ref)"
            )
        super().__init__(state, name)
        self.score_ref = score
        self.trigger_ref = trigger
        self.patience = patience
        self.trainer = trainer
        self.min_delta = float(min_delta)
        self.mode = mode
        self.cumulative_delta = cumulative_delta
        # Every metric published with the score declares it writes the score, so
        # reading it orders this handler after the whole group (nodes/metric.py).
        self.declare_reads(score)
        self.declare_writes(trainer.should_terminate_ref)
        trigger.subscribe(self.evaluate)

    @staticmethod
    def _metrics_writing(state: State, score: Ref) -> list[Metric]:
        nodes = state.nodes()
        found = [nodes.get(key) for key in state.writers_of(score)]
        return [m for m in found if isinstance(m, Metric)]

    def evaluate(self) -> None:
        """Read the score, update ``best_score`` and ``n_bad_evaluations``, stop when out of patience."""
        score = _as_score(f"EarlyStopping '{self.name}'", self.score_ref.path, self.score_ref.value)
        best = self.best_score
        if best is None:
            if not math.isnan(score):
                self.best_score = score
            return
        delta = self.min_delta
        maximise = self.mode == "max"
        improved = score > best + delta if maximise else score < best - delta
        if improved:
            self.best_score = score
            self.n_bad_evaluations = 0
            return
        if not self.cumulative_delta and not math.isnan(score):
            self.best_score = max(score, best) if maximise else min(score, best)
        self.n_bad_evaluations += 1
        if self.n_bad_evaluations >= self.patience:
            logger.info(
                "%s: no improvement of %s in %d evaluations; terminating %s",
                self.key,
                self.score_ref.path,
                self.n_bad_evaluations,
                self.trainer.key,
            )
            self.stopped = True
            self.trainer.terminate()


def _torch_scheduler_types() -> tuple[type, ...]:
    return (torch.optim.lr_scheduler.LRScheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)


def _ignite_scheduler_kind(scheduler: object) -> str | None:
    """``"param"`` for an ignite ParamScheduler/ParamGroupScheduler, ``"plateau"``, or None."""
    try:
        from ignite.handlers.param_scheduler import (
            ParamGroupScheduler,
            ParamScheduler,
            ReduceLROnPlateauScheduler,
        )
    except ImportError:  # pragma: no cover - ignite is a dependency
        return None
    if isinstance(scheduler, ReduceLROnPlateauScheduler):
        return "plateau"
    if isinstance(scheduler, (ParamScheduler, ParamGroupScheduler)):
        return "param"
    return None


@speaks_ignite
class LRScheduler(Node):
    """Step a learning-rate scheduler whenever ``trigger_ref`` fires; the lr is a variable.

    Accepts a ``torch.optim.lr_scheduler`` scheduler (``StepLR``, ``OneCycleLR``,
    ...; ``ReduceLROnPlateau`` with ``metric_ref=``, whose value is passed to
    ``step``) or an ignite ``ParamScheduler`` (``PiecewiseLinear``,
    ``CosineAnnealingScheduler``, ``ParamGroupScheduler``, ...), which is
    called without an engine (its ``save_history`` needs one and is refused).
    A torch scheduler is usually stepped after the optimizer, on
    ``trainer.n_iteration_completed_ref`` or ``trainer.n_epoch_completed_ref``;
    an ignite scheduler sets the value for the coming iteration, on
    ``trainer.n_iteration_started_ref``.

    ``lr`` (param group 0) and ``lrs`` (every group) are read from the
    optimizer at construction and after each step; an ignite scheduler of
    another parameter (momentum) still leaves them the learning rate. The
    scheduler's state is saved by this node's ``state_dict``; the optimizer's
    by ``state.optimizers``.

    Args:
        state: the state to join (registered as ``state.handlers.<name>``).
        torch_scheduler: the scheduler (see above).
        trigger_ref: the variable whose changes step it (a Ref or a path).
        every, once, when: filters of that subscription.
        name: the node's name.
        metric_ref: for ``ReduceLROnPlateau`` only: the variable passed to ``step``.

    Raises:
        TypeError: the scheduler is neither kind, ``trigger_ref`` is not a Ref or path,
            or ``metric_ref`` is missing for ``ReduceLROnPlateau`` / given for another one.
        ValueError: bad filters (from the subscription).

    Example:
        >>> import torch
        >>> from pipeline import State
        >>> from nodes import Engine, LRScheduler
        >>> state = State()
        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
        >>> engine = Engine(state, "trainer", lambda engine, batch: opt.step(), range(4))
        >>> sched = LRScheduler(state, torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
        ...                     engine.n_iteration_completed_ref)
        >>> engine.run()
        >>> sched.lr
        0.25
    """

    lr = Variable(None, doc="learning rate of param group 0")
    lrs = Variable([], doc="learning rates of every param group")

    def __init__(
        self,
        state: State,
        torch_scheduler: Any,
        trigger_ref: Ref | str,
        every: int | None = None,
        once: int | None = None,
        when: Callable[[Any], Any] | None = None,
        name: str = "lr_scheduler",
        *,
        metric_ref: Ref | str | None = None,
    ) -> None:
        owner = f"LRScheduler '{name}'"
        _check_state(owner, state)
        scheduler = torch_scheduler
        kind = (
            "torch"
            if isinstance(scheduler, _torch_scheduler_types())
            else _ignite_scheduler_kind(scheduler)
        )
        if kind is None or kind == "plateau":
            if kind == "plateau":
                hint = (
                    " (ignite's ReduceLROnPlateauScheduler reads an ignite engine's metrics; use "
                    "torch.optim.lr_scheduler.ReduceLROnPlateau with metric_ref=... instead)"
                )
            elif isinstance(scheduler, type):
                hint = (
                    " (a class: create it with the optimizer, e.g. StepLR(optimizer, step_size=10))"
                )
            else:
                hint = ""
            raise TypeError(
                f"{owner}: expected a torch.optim.lr_scheduler scheduler or an ignite ParamScheduler, "
                f"got {type(scheduler).__name__}{hint}"
            )
        if kind == "param" and getattr(scheduler, "save_history", False):
            raise ValueError(
                f"{owner}: the ignite scheduler has save_history=True, which needs an ignite "
                "engine; set save_history=False (the lr history is this node's lr variable)"
            )
        trigger = _as_ref(
            owner, "trigger_ref", state, trigger_ref, "state.trainer.n_iteration_completed_ref"
        )
        check_filters(every, once, when)  # before registering: a failed call leaves nothing
        plateau = isinstance(scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau)
        metric: Ref | None = None
        if plateau:
            if metric_ref is None:
                raise TypeError(
                    f"{owner}: ReduceLROnPlateau steps on a metric; pass metric_ref=..., such as "
                    "state.metrics.val_evaluator_loss_ref"
                )
            metric = _as_ref(
                owner, "metric_ref", state, metric_ref, "state.metrics.val_evaluator_loss_ref"
            )
        elif metric_ref is not None:
            raise TypeError(
                f"{owner}: metric_ref is only for ReduceLROnPlateau; {type(scheduler).__name__} "
                "steps without a metric (remove metric_ref)"
            )
        super().__init__(state, name)
        self.scheduler = scheduler
        self.kind = kind
        self.trigger_ref = trigger
        self.metric_ref = metric
        self._opts = self._optimizers()
        self._publish()
        if metric is not None:
            self.declare_reads(metric)
        optimizers = {id(v): n for n, v in Container.variables(state.optimizers).items()}
        for opt in self._opts:
            if id(opt) in optimizers:
                # It changes the optimizer in place: show the edge in the graph.
                self.declare_writes(f"optimizers.{optimizers[id(opt)]}")
        self.handle = trigger.subscribe(self.step, every=every, once=once, when=when)

    def _optimizers(self) -> list[Any]:
        opt = getattr(self.scheduler, "optimizer", None)
        return list(opt) if isinstance(opt, (list, tuple)) else [opt]

    def _read_lrs(self) -> list[Any]:
        return [_as_number(g["lr"]) for opt in self._opts for g in opt.param_groups]

    def _publish(self) -> None:
        lrs = self._read_lrs()
        self.lrs = lrs
        self.lr = lrs[0] if lrs else None

    def step(self) -> None:
        """Step the scheduler once, then update ``lr`` and ``lrs``."""
        if self.kind == "param":
            self.scheduler(None)
        elif self.metric_ref is not None:
            value = self.metric_ref.value
            if value is None:
                raise ValueError(
                    f"{self.key}: ReduceLROnPlateau needs a value of {self.metric_ref.path}, "
                    "which is None; step after the metric is computed"
                )
            self.scheduler.step(value)
        else:
            self.scheduler.step()
        self._publish()

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's own ``state_dict`` (not the optimizer's)."""
        return {"scheduler": dict(self.scheduler.state_dict())}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``state_dict`` and re-read ``lr``/``lrs`` from the optimizer (no events)."""
        if "scheduler" not in state_dict:
            raise ValueError(
                f"{self.key}: expected a 'scheduler' entry, got keys {sorted(state_dict)}"
            )
        self.scheduler.load_state_dict(state_dict["scheduler"])
        lrs = self._read_lrs()
        self.reset_variables(lrs=lrs, lr=lrs[0] if lrs else None)


def _as_number(value: Any) -> Any:
    # A tensor lr (capturable optimizers) lives on the host in practice; read it once per step.
    return value.item() if isinstance(value, torch.Tensor) and value.numel() == 1 else value


def _non_finite(output: Any) -> bool:
    """Whether ``output`` holds a NaN or an infinity (one host-device sync per device)."""
    flags: dict[torch.device, list[torch.Tensor]] = {}
    stack = [output]
    while stack:
        item = stack.pop()
        if isinstance(item, torch.Tensor):
            if item.numel() and (item.is_floating_point() or item.is_complex()):
                flags.setdefault(item.device, []).append(torch.isfinite(item).all())
        elif isinstance(item, complex):
            if not cmath.isfinite(item):
                return True
        elif isinstance(item, numbers.Number):
            if not math.isfinite(item):  # type: ignore[arg-type]
                return True
        elif isinstance(item, Mapping):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return any(
        not bool(group[0] if len(group) == 1 else torch.stack(group).all())
        for group in flags.values()
    )


class TerminateOnNan(Node):
    """Terminate ``engine`` after an iteration whose output holds a NaN or an infinity.

    The output (after ``output_transform``) may be a tensor, a number, or
    lists, tuples and dicts of them. The run then completes as after
    ``Engine.terminate``, and ``terminated_at_iteration`` says where.

    Performance: the engine loop itself never synchronises with the device;
    this handler must read the output, so it adds one host-device
    synchronisation per iteration (one per device for outputs on several).
    Adding it is the user's choice of that cost.

    Args:
        engine: the engine whose output is checked (usually the trainer).
        output_transform: picks what to check from the output.
        name: the node's name (default ``<engine>_terminate_on_nan``).

    Raises:
        TypeError: ``engine`` is not an Engine or ``output_transform`` is not callable.

    Example:
        >>> from pipeline import State
        >>> from nodes import Engine, TerminateOnNan
        >>> engine = Engine(State(), "trainer", lambda e, x: x, [1.0, float("nan"), 3.0])
        >>> nan = TerminateOnNan(engine)
        >>> engine.run()
        >>> nan.terminated_at_iteration, engine.n_iteration_completed
        (2, 2)
    """

    terminated_at_iteration = Variable(
        None, doc="the iteration (engine.n_iteration_completed) whose output was not finite"
    )

    def __init__(
        self,
        engine: Engine,
        output_transform: Callable[[Any], Any] = lambda output: output,
        name: str | None = None,
    ) -> None:
        owner = f"TerminateOnNan '{name or 'terminate_on_nan'}'"
        _check_engine(owner, "engine", engine)
        if not callable(output_transform):
            raise TypeError(
                f"{owner}: output_transform must be callable as output_transform(output), "
                f"got {output_transform!r}"
            )
        super().__init__(engine.state, name or f"{engine.name}_terminate_on_nan")
        self.engine = engine
        self.output_transform = output_transform
        self.declare_reads(engine.output_ref)
        self.declare_writes(engine.should_terminate_ref)
        engine.n_iteration_completed_ref.subscribe(self.check)

    def check(self) -> None:
        """Check the engine's output; terminate the engine when it is not finite."""
        engine = self.engine
        if _non_finite(self.output_transform(engine.output)):
            logger.warning(
                "%s: the output of %s at iteration %d is NaN or infinite; terminating it",
                self.key,
                engine.key,
                engine.n_iteration_completed,
            )
            self.terminated_at_iteration = engine.n_iteration_completed
            engine.terminate()
