"""The two calls that chart every metric of every engine, and the series they write.

Every value is written once, by one node, ``state.writers.tensorboard_series``:
each metric variable in the run of its engine under a tag shared by the
engines (``epoch/accuracy`` in ``train_evaluator`` and in
``val_evaluator``), so TensorBoard's Scalars page already overlays the
engines, one colour each, and names the run in the tooltip. The same node
writes what a user expects without asking: each engine's epoch time
(``time/epoch``) and the learning rates of every ``LRScheduler``
(``lr/<scheduler>``), all at the training's x axis.

The chart calls write no scalar: they discover the metrics (now and later)
and put the tags into TensorBoard's custom-scalars layout. A metric computed
every iteration (a running average) is tagged ``iteration/<metric>`` and
charted on its own, never next to the per-epoch series: TensorBoard's default
"ignore outliers in chart scaling" sets a chart's range from the 5% to 95%
quantiles of its points, and a dense series would push the sparse ones out.

The writer itself and charts of chosen variables are in ``nodes/tensorboard.py``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import torch

from nodes.engine import Engine
from nodes.handlers import LRScheduler
from nodes.metric import USAGES, Metric
from nodes.tensorboard import _check_x_axis, _writer_of, engine_run
from pipeline import Container, Event, Node, Ref, State, Variable
from pipeline.values import did_you_mean

__all__ = ["EnginesMetricsCharts", "EnginesMetricsComparisonCharts", "metric_groups"]

SERIES_NAME = "tensorboard_series"


def _check_suffixes(n: object, who: str) -> int:
    if type(n) is not int or n < 1:
        raise ValueError(
            f"{who}: n_identical_metric_name_suffixes must be a positive integer (1 groups "
            f"'val_evaluator_accuracy' with 'train_evaluator_accuracy'), got {n!r}"
        )
    return n


def metric_groups(
    names: Iterable[str], engine_names: Iterable[str], n_suffixes: int = 1
) -> dict[str, tuple[str, str]]:
    """Split metric variable names into ``(engine, group)``.

    The engine is the longest engine name the variable starts with (else the
    tokens before the group); the group is the last ``n_suffixes``
    ``_``-separated tokens.

    Example:
        >>> metric_groups(["val_evaluator_accuracy", "trainer_loss"], ["val_evaluator", "trainer"])
        {'val_evaluator_accuracy': ('val_evaluator', 'accuracy'), 'trainer_loss': ('trainer', 'loss')}
    """
    engines = sorted(engine_names, key=len, reverse=True)
    out = {}
    for name in names:
        tokens = name.split("_")
        group = "_".join(tokens[-n_suffixes:])
        engine = next((e for e in engines if name.startswith(e + "_")), None)
        if engine is None:
            engine = "_".join(tokens[:-n_suffixes]) or name
        out[name] = (engine, group)
    return out


@dataclass
class Line:
    """One metric variable at one x axis: a tag of a run, fixed at its first value."""

    var: str
    run: str
    metric: str  # the variable's name without its engine
    x_ref: Ref
    tag: str = ""  # "" until the first value
    per_epoch: bool = True
    charts: list[Callable[[Line], None]] = field(default_factory=list)


def _per_epoch(state: State, var: str) -> bool:
    """Whether the metric computing ``var`` computes it once per epoch (else every
    iteration): a ``Metric`` node's usage says, an ignite metric attached to an ignite
    engine says when attached (its ``per_iteration`` names); a variable nothing says
    anything of counts as per epoch."""
    for node in Container.nodes(state.handlers).values():
        if isinstance(node, Metric) and var in node.value_refs:
            return USAGES[node.usage][2] == "n_epoch_completed"
    for node in Container.nodes(state.engines).values():
        face = getattr(node, "_ignite_face", None)
        if var in getattr(
            getattr(getattr(face, "state", None), "metrics", None), "per_iteration", ()
        ):
            return False
    return True


def _scalar(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return value.numel() == 1
    if isinstance(value, float):
        return not math.isnan(value)
    return isinstance(value, int)


class Series(Node):
    """Writes each scalar of the chart calls once (``state.writers.tensorboard_series``).

    Created by the first chart call, whose x axis becomes the training's: the
    x of the epoch times and learning rates, and of every metric the calls
    chart on that axis.

    Args:
        state: the state.
        x_axis_ref: the training's x axis (an int Ref).
    """

    default_container = "writers"
    n_points = Variable(0, doc="values logged")

    def __init__(self, state: State, x_axis_ref: Ref) -> None:
        self.tb = _writer_of(state, "Series")
        self.x_ref = x_axis_ref
        self.x_run = engine_run(x_axis_ref)  # where the learning rates go
        super().__init__(state, SERIES_NAME)
        self._lines: dict[tuple[str, str], Line] = {}  # (variable, x axis path) -> its line
        self._lr_points: dict[str, tuple[int, list[Any]]] = {}  # scheduler -> last (x, lrs)
        for node in state.nodes().values():
            self._watch(node)
        state.structure.last_node_ref.subscribe(self._on_new_node)

    @classmethod
    def of(cls, state: State, x_axis_ref: Ref) -> Series:
        """The state's series node; created with ``x_axis_ref`` when there is none yet."""
        node = Container.nodes(state.writers).get(SERIES_NAME)
        return node if isinstance(node, Series) else cls(state, x_axis_ref)

    # Metrics ------------------------------------------------------------------------
    def line(
        self, var: str, run: str, metric: str, x_ref: Ref, chart: Callable[[Line], None]
    ) -> None:
        """Write ``state.metrics.<var>`` (once, whoever asks) and call ``chart`` with its line
        at its first value. A second x axis for one variable is a second line, tagged
        ``.../by_<x axis name>``."""
        key = (var, x_ref.path)
        line = self._lines.get(key)
        if line is None:
            if any(v == var for v, _ in self._lines):
                metric = f"{metric}/by_{x_ref.name}"
            line = self._lines[key] = Line(var, run, metric, x_ref)
            getattr(self.state.metrics, f"{var}_ref").subscribe(partial(self._log, line))
        line.charts.append(chart)
        if line.tag:
            chart(line)

    def _log(self, line: Line, event: Event) -> None:
        value = event.new
        if not _scalar(value):
            return  # not a scalar (a confusion matrix, a placeholder): nothing to chart
        first = not line.tag
        if first:
            line.per_epoch = _per_epoch(self.state, line.var)
            line.tag = f"{'epoch' if line.per_epoch else 'iteration'}/{line.metric}"
            self.tb.claim(line.run, line.tag, self.key)
        self.tb.add_scalar(line.tag, value, line.x_ref.value, line.run)
        self.n_points += 1
        if first:
            for chart in line.charts:
                chart(line)

    def metric_recomputed(self, ref: Ref) -> None:
        """A metric was computed to the value its variable holds (``nodes.metric.publish``):
        no event of the variable, still a point of each of its lines, at its x."""
        if ref.owner is not self.state.metrics:
            return
        value = ref.value
        if not _scalar(value):
            return
        lines = [line for (var, _), line in self._lines.items() if var == ref.name and line.tag]
        if not lines:  # no line, or none that has had its first value
            return
        with self.state.writing_as(self):  # called from the metric's own write
            for line in lines:
                self.tb.add_scalar(line.tag, value, line.x_ref.value, line.run)
                self.n_points += 1

    # Epoch times and learning rates -------------------------------------------------
    def _on_new_node(self, event: Event) -> None:
        self._watch(self.state.nodes().get(event.new))

    def _watch(self, node: Node | None) -> None:
        if isinstance(node, Engine):
            self.tb.claim(node.name, "time/epoch", self.key)
            node.epoch_time_ref.subscribe(partial(self._log_epoch_time, node.name))
        elif isinstance(node, LRScheduler):
            for tag in self._lr_tags(node):
                self.tb.claim(self.x_run, tag, self.key)
            node.lrs_ref.subscribe(partial(self._log_lrs, node))
            x_engine = self.x_ref.owner
            # A point per epoch draws a line even for a constant rate. Subscribed before the
            # scheduler's own step when this node exists first: at an epoch's end the rate
            # used in it, then the stepped one, at the same x (a step, not a ramp).
            if isinstance(x_engine, Engine):
                x_engine.n_run_started_ref.subscribe(partial(self._log_lrs, node))
                x_engine.n_epoch_completed_ref.subscribe(partial(self._log_lrs, node))

    def _log_epoch_time(self, run: str, event: Event) -> None:
        self.tb.add_scalar("time/epoch", event.new, self.x_ref.value, run)
        self.n_points += 1

    @staticmethod
    def _lr_tags(node: LRScheduler) -> list[str]:
        n = len(node.lrs)
        return [f"lr/{node.name}"] if n == 1 else [f"lr/{node.name}/group_{i}" for i in range(n)]

    def _log_lrs(self, node: LRScheduler) -> None:
        point = (self.x_ref.value, list(node.lrs))
        if self._lr_points.get(node.name) == point:
            return  # these rates at this x are logged already
        self._lr_points[node.name] = point
        step = point[0]
        for tag, lr in zip(self._lr_tags(node), node.lrs, strict=False):
            self.tb.add_scalar(tag, lr, step, self.x_run)
            self.n_points += 1


class _MetricCharts(Node):
    """What both chart calls share: find metrics, now and later, and chart their lines."""

    default_container = "writers"
    n_metrics = Variable(0, doc="metric variables charted")

    def __init__(self, state: State, name: str, n_suffixes: int, who: str, x_ref: Ref) -> None:
        self.n_suffixes = _check_suffixes(n_suffixes, who)
        self.tb = _writer_of(state, who)
        self.series = Series.of(state, x_ref)
        self.who = who
        self._warned = False
        super().__init__(state, name)
        for var in Container.variables(state.metrics):
            self._add(var)
        state.structure.last_variable_ref.subscribe(
            self._on_new_variable, when=lambda path: path.startswith("metrics.")
        )
        for node in Container.nodes(state.engines).values():
            self._watch(node)
        state.structure.last_node_ref.subscribe(self._on_new_node)

    def _on_new_variable(self, event: Event) -> None:
        self._add(event.new.split(".", 1)[1])

    def _on_new_node(self, event: Event) -> None:
        self._watch(self.state.nodes().get(event.new))

    def _watch(self, node: Node | None) -> None:
        if isinstance(node, Engine):
            node.n_run_completed_ref.subscribe(self._check_metrics)

    def _check_metrics(self) -> None:
        if self.n_metrics == 0 and not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.who} found no metric under state.metrics after an engine run; "
                "add Metric(engine, ignite_metric, name) nodes (before or after this call) "
                "or remove the chart call",
                UserWarning,
                stacklevel=2,
            )

    def _add(self, var: str) -> None:
        engine, group = metric_groups([var], Container.nodes(self.state.engines), self.n_suffixes)[
            var
        ]
        metric = var[len(engine) + 1 :] if var.startswith(engine + "_") else group
        self.n_metrics += 1
        self.series.line(var, engine, metric, self._x(engine), partial(self._chart, group))

    def _chart(self, group: str, line: Line) -> None:
        """Put the line's tag in the layout (at its first value: a variable that never
        holds a scalar, a dict metric's placeholder or a confusion matrix, gets no chart)."""
        raise NotImplementedError

    def _x(self, engine: str) -> Ref:
        raise NotImplementedError


class EnginesMetricsComparisonCharts(_MetricCharts):
    """One chart per metric group, with a line per engine.

    Every variable of ``state.metrics`` (now and later) is logged when it
    changes, at x = ``x_axis_ref``'s value, in the run of its engine as
    ``epoch/<name without the engine>``; the custom-scalars layout gets, in
    the category *engines comparison*, a chart ``<group>`` holding the group's
    tags, which TensorBoard draws once per engine's run, one colour each.
    ``val_evaluator_accuracy`` and ``train_evaluator_accuracy`` share the group
    ``accuracy`` with ``n_identical_metric_name_suffixes=1``. Metrics computed
    every iteration (a running average) are tagged ``iteration/<name>`` and go
    to a chart ``<group> (every iteration)`` of their own.

    Args:
        x_axis_ref: an int variable (``state.trainer.n_samples_ref``); the state comes from it.
        n_identical_metric_name_suffixes: how many trailing ``_`` tokens name a group.
        category: the layout category.
        name: the node's name in ``state.writers``.

    Raises:
        TypeError: the x axis is not a Ref holding an int.
        ValueError: a suffix count below 1, or no TensorBoard writer on the state.

    Warns:
        UserWarning: an engine run completed and there was still no metric to chart.
    """

    def __init__(
        self,
        x_axis_ref: Ref,
        n_identical_metric_name_suffixes: int = 1,
        *,
        category: str = "engines comparison",
        name: str = "engines_metrics_comparison",
    ) -> None:
        who = "EnginesMetricsComparisonCharts"
        self.x_ref = _check_x_axis(x_axis_ref, who)
        self.category = category
        self._groups: dict[tuple[str, bool], list[Line]] = {}  # (group, per epoch) -> lines
        super().__init__(x_axis_ref.state, name, n_identical_metric_name_suffixes, who, x_axis_ref)

    def _chart(self, group: str, line: Line) -> None:
        lines = self._groups.setdefault((group, line.per_epoch), [])
        lines.append(line)
        title = group if line.per_epoch else f"{group} (every iteration)"
        rank = 0 if line.per_epoch else 1  # the engines' comparisons first
        self.tb.set_chart(self.category, title, [ln.tag for ln in lines], rank=rank)

    def _x(self, engine: str) -> Ref:
        return self.x_ref


class EnginesMetricsCharts(_MetricCharts):
    """One layout category per engine with a chart per metric of that engine.

    The charts reference the tags the comparison writes (``epoch/<metric>``
    in the engine's run; nothing is written twice); TensorBoard draws a tag in
    every run that holds it, so a chart shows the engines sharing that metric
    too, each in its own colour (the run selector shows one engine alone).

    Args:
        x_axes_refs: one int Ref for every engine, or a dict engine name -> Ref
            (engines not in the dict use the first Ref given).
        n_identical_metric_name_suffixes: how many trailing ``_`` tokens name a metric.
        name: the node's name in ``state.writers``.

    Raises:
        TypeError: an x axis is not a Ref holding an int.
        ValueError: a suffix count below 1, an unknown engine in the dict, or no TensorBoard writer.
    """

    def __init__(
        self,
        x_axes_refs: Ref | dict[str, Ref],
        n_identical_metric_name_suffixes: int = 1,
        *,
        name: str = "engines_metrics",
    ) -> None:
        who = "EnginesMetricsCharts"
        if isinstance(x_axes_refs, dict):
            if not x_axes_refs:
                raise ValueError(f"{who}: x_axes_refs is an empty dict; give at least one Ref")
            self.x_refs = {k: _check_x_axis(v, who) for k, v in x_axes_refs.items()}
            first = next(iter(self.x_refs.values()))
            engines = Container.nodes(first.state.engines)
            unknown = [k for k in self.x_refs if k not in engines]
            if unknown:
                raise ValueError(
                    f"{who}: x_axes_refs names engines that do not exist: {unknown}"
                    f"{did_you_mean(unknown[0], engines)}"
                )
        else:
            first = _check_x_axis(x_axes_refs, who)
            self.x_refs = {}
        self.default_x = first
        super().__init__(first.state, name, n_identical_metric_name_suffixes, who, first)

    def _chart(self, group: str, line: Line) -> None:
        self.tb.set_chart(line.run, line.metric, [line.tag])

    def _x(self, engine: str) -> Ref:
        return self.x_refs.get(engine, self.default_x)
