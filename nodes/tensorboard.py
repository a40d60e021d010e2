"""TensorBoard on the state: the writer node, scalar charts, and the two calls
that chart every metric of every engine.

Values are queued as they are (tensors stay tensors) and turned into numbers
only when they are written, all pending tensors in one transfer: logging adds
no host-device synchronisation per iteration. The queue is written when an
engine completes an epoch or a run, when it grows past ``max_pending``, and on
``flush()``/``close()``.

The comparison layout (TensorBoard's custom scalars) is rewritten whenever a
new metric appears; TensorBoard shows the newest layout of a run.
"""

from __future__ import annotations

import math
import numbers
import re
import struct
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import torch

from nodes.distributed import is_writer_process
from nodes.engine import Engine, _check_positive
from pipeline import Event, Node, Ref, State, Variable
from pipeline.values import did_you_mean, short_repr

__all__ = [
    "EnginesMetricsCharts",
    "EnginesMetricsComparisonCharts",
    "ScalarChart",
    "TensorBoard",
    "metric_groups",
]


def _writer_of(state: State, who: str) -> TensorBoard:
    for node in state.writers.nodes().values():
        if isinstance(node, TensorBoard):
            return node
    raise ValueError(
        f"{who} needs a TensorBoard writer on the state; create one first: "
        "TensorBoard(state, log_dir='runs/my_run')"
    )


def _check_x_axis(ref: object, who: str) -> Ref:
    if not isinstance(ref, Ref):
        raise TypeError(
            f"{who}: the x axis must be a Ref such as state.trainer.n_samples_ref, got {ref!r}"
        )
    value = ref.value
    if type(value) is not int:
        raise TypeError(
            f"{who}: the x axis {ref.path} must hold an int (a counter such as n_samples or "
            f"n_iteration_completed), it holds {type(value).__name__} {value!r}"
        )
    return ref


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


def _to_numbers(values: Sequence[Any]) -> list[float]:
    """Python floats of ``values``; the tensors of each device are stacked there and copied
    to the host in one transfer (one synchronisation per device, not one per value)."""
    by_device: dict[torch.device, list[int]] = {}
    for i, value in enumerate(values):
        if isinstance(value, torch.Tensor):
            by_device.setdefault(value.device, []).append(i)
    numbers = [0.0 if isinstance(v, torch.Tensor) else float(v) for v in values]
    for indices in by_device.values():
        stacked = torch.stack([values[i].detach().reshape(()).float() for i in indices])
        for i, number in zip(indices, stacked.tolist(), strict=True):
            numbers[i] = number
    return numbers


def _png_size(data: bytes) -> tuple[int, int]:
    width, height = struct.unpack(">II", data[16:24])
    return int(width), int(height)


class _NullWriter:
    """What a TensorBoard node of a rank other than 0 writes to: nothing."""

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir

    def add_summary(self, *args: Any, **kwargs: Any) -> None:
        pass

    def _get_file_writer(self) -> _NullWriter:
        return self

    def flush(self) -> None:
        pass

    def close(self) -> None:
        pass


class TensorBoard(Node):
    """The state's TensorBoard writer (``state.writers.tensorboard``).

    Args:
        state: the state.
        log_dir: where event files go; None: ``runs/<date-time>_<host>`` as ``SummaryWriter`` does.
        max_pending: queued values that trigger a write.
        log_graph: write the rendered state graph and the overview when the
            first engine run starts and when the writer closes.

    Raises:
        ValueError: the state already has a TensorBoard writer.

    Example:
        >>> tb = TensorBoard(state, "runs/digits")  # doctest: +SKIP
        >>> ScalarChart(state.trainer.n_iteration_completed_ref, [state.metrics.trainer_loss_ref], every=10)  # doctest: +SKIP
    """

    default_container = "writers"
    n_scalars_written = Variable(0, doc="scalars written to event files")
    n_flushes = Variable(0, doc="times the queue was written")
    closed = Variable(False, doc="whether the writer is closed", persistent=False)

    def __init__(
        self,
        state: State,
        log_dir: str | Path | None = None,
        *,
        name: str = "tensorboard",
        max_pending: int = 1000,
        log_graph: bool = True,
    ) -> None:
        from torch.utils.tensorboard import SummaryWriter

        for node in state.writers.nodes().values():
            if isinstance(node, TensorBoard):
                raise ValueError(
                    f"the state already has a TensorBoard writer ({node.key}, logging to "
                    f"{node.log_dir}); use it (state.{node.key}) rather than a second one"
                )
        _check_positive("max_pending", max_pending, allow_none=False)
        super().__init__(state, name)
        # In a distributed run only rank 0 writes; the others keep the same
        # graph (so every rank's state looks alike) and write nothing.
        self.is_writer = is_writer_process()
        if self.is_writer:
            self.writer: Any = SummaryWriter(log_dir=None if log_dir is None else str(log_dir))
        else:
            self.writer = _NullWriter(str(log_dir) if log_dir is not None else "")
        self.log_dir = Path(self.writer.log_dir)
        self.max_pending = max_pending
        self.log_graph = log_graph
        self._pending: list[tuple[str, Any, int, float]] = []
        self._layout: dict[str, dict[str, list[str]]] = {}
        self._layout_version = 0
        self._layout_written = 0
        self._graph_logged = False
        self._last_step = 0  # the largest step written, where close() puts the final graph
        for node in state.engines.nodes().values():
            self._watch(node)
        state.structure.last_node_ref.subscribe(self._on_new_node)

    # Engines --------------------------------------------------------------------
    def _on_new_node(self, event: Event) -> None:
        self._watch(self.state.nodes().get(event.new))

    def _watch(self, node: Node | None) -> None:
        if not isinstance(node, Engine):
            return
        node.n_epoch_completed_ref.subscribe(self.flush)
        node.n_run_completed_ref.subscribe(self.flush)
        node.exception_ref.subscribe(self.flush, when=lambda exc: exc is not None)
        node.n_run_started_ref.subscribe(self._first_run_started, once=1)

    def _first_run_started(self) -> None:
        if self.log_graph and not self._graph_logged:
            self._graph_logged = True
            self.log_state(step=0)

    # Writing --------------------------------------------------------------------
    def add_scalar(self, tag: str, value: Any, step: int) -> None:
        """Queue one scalar; tensors are converted when the queue is written.

        Raises:
            ValueError: the value is a tensor with more than one element.
            TypeError: the value is neither a real number nor a tensor (checked here,
                not when the queue is written, so the error points at the chart).
            RuntimeError: the writer is closed.
        """
        if self.closed:
            raise RuntimeError(f"{self.key} is closed; create a new TensorBoard writer to log more")
        if isinstance(value, torch.Tensor):
            if value.numel() != 1:
                raise ValueError(
                    f"cannot chart {tag!r}: a tensor of shape {tuple(value.shape)} is not a "
                    "scalar; chart a scalar variable (or reduce it first)"
                )
        elif not isinstance(value, numbers.Real):
            raise TypeError(
                f"cannot chart {tag!r}: {type(value).__name__} {short_repr(value)} is not a "
                "number; chart a variable holding a number or a one-element tensor"
            )
        if not self.is_writer:
            return
        self._pending.append((tag, value, step, time.time()))
        if len(self._pending) >= self.max_pending:
            self.flush()

    def set_chart(self, category: str, title: str, tags: Sequence[str]) -> None:
        """Declare a multi-line chart of the custom-scalars layout (written at the next flush)."""
        charts = self._layout.setdefault(category, {})
        if charts.get(title) != list(tags):
            charts[title] = list(tags)
            self._layout_version += 1

    def flush(self) -> None:
        """Write the queued scalars (one device transfer per device for all tensors) and the layout.

        Does nothing once the writer is closed.
        """
        if self.closed:
            return
        pending, self._pending = self._pending, []
        numbers = _to_numbers([value for _, value, _, _ in pending])
        for (tag, _, step, wall), number in zip(pending, numbers, strict=True):
            self.writer.add_scalar(tag, number, global_step=step, walltime=wall)
        if pending:
            self._last_step = max(self._last_step, max(step for _, _, step, _ in pending))
            self.n_scalars_written += len(pending)
        if self._layout_version != self._layout_written:
            self._write_layout()
        self.writer.flush()
        self.n_flushes += 1

    def _write_layout(self) -> None:
        from torch.utils.tensorboard.summary import custom_scalars

        layout = {
            category: {
                title: ["Multiline", [f"^{re.escape(t)}$" for t in tags]]
                for title, tags in charts.items()
            }
            for category, charts in self._layout.items()
        }
        # TensorBoard reads the newest layout of a run: rewrite it whole, one step per version.
        self.writer._get_file_writer().add_summary(custom_scalars(layout), self._layout_version)
        self._layout_written = self._layout_version

    def log_state(self, step: int = 0) -> None:
        """Write the rendered state graph (an image) and the overview (text) at ``step``."""
        from tensorboard.compat.proto.summary_pb2 import Summary

        if not self.is_writer:
            return
        self.writer.add_text("state/overview", "```\n" + self.state.overview() + "\n```", step)
        with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            # The nodes level: readable at the image's own size (11 pt text at 96 dpi).
            written = self.state.render(Path(tmp) / "graph.png", level="nodes")
            if written.suffix != ".png":  # no Graphviz: the text overview has to do
                return
            data = written.read_bytes()
        width, height = _png_size(data)
        image = Summary.Image(height=height, width=width, colorspace=4, encoded_image_string=data)
        self.writer._get_file_writer().add_summary(
            Summary(value=[Summary.Value(tag="state/graph", image=image)]), step
        )

    def close(self) -> None:
        """Write what is queued, the final state graph, and close the event file."""
        if self.closed:
            return
        self.flush()
        if self.log_graph:
            self.log_state(step=self._last_step)
        self.writer.close()
        self.closed = True

    def __enter__(self) -> TensorBoard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class ScalarChart(Node):
    """Log variables to TensorBoard when a trigger fires, at x = the value of an x-axis ref.

    Args:
        trigger_ref: the variable whose changes log (with ``every``/``once``/``when``).
        variables: Refs or paths of the variables to log (numbers or one-element tensors).
        x_axis_ref: an int variable giving the step; default: the trigger itself.
        every, once, when: filters of the trigger subscription.
        tags: one tag per variable; default: the path with ``/`` for ``.``.
        name: the node's name in ``state.writers``.

    Example:
        >>> ScalarChart(state.trainer.n_iteration_completed_ref,  # doctest: +SKIP
        ...             [state.metrics.trainer_loss_ref], every=10)
    """

    default_container = "writers"
    n_points = Variable(0, doc="times it logged")

    def __init__(
        self,
        trigger_ref: Ref,
        variables: Sequence[Ref | str],
        x_axis_ref: Ref | None = None,
        *,
        every: int | None = None,
        once: int | None = None,
        when: Any = None,
        tags: Sequence[str] | None = None,
        name: str | None = None,
    ) -> None:
        if not isinstance(trigger_ref, Ref):
            raise TypeError(f"ScalarChart: trigger_ref must be a Ref, got {trigger_ref!r}")
        state = trigger_ref.state
        self.x_ref = _check_x_axis(x_axis_ref or trigger_ref, "ScalarChart")
        self.refs = [v if isinstance(v, Ref) else state.ref(v) for v in variables]
        if not self.refs:
            raise ValueError("ScalarChart: give at least one variable to log")
        self.tags = (
            list(tags) if tags is not None else [r.path.replace(".", "/") for r in self.refs]
        )
        if len(self.tags) != len(self.refs):
            raise ValueError(
                f"ScalarChart: {len(self.tags)} tags for {len(self.refs)} variables; give one tag each"
            )
        self.tb = _writer_of(state, "ScalarChart")
        base = name or "chart_" + "_".join(r.name for r in self.refs)[:60]
        name, n = base, 2
        while name in state.writers:
            name, n = f"{base}_{n}", n + 1
        super().__init__(state, name)
        trigger_ref.subscribe(
            self.log, every=every, once=once, when=when, reads=[*self.refs, self.x_ref]
        )

    def log(self) -> None:
        """Queue the current values at the current x."""
        step = self.x_ref.value
        for tag, ref in zip(self.tags, self.refs, strict=True):
            value = ref.value
            if value is not None:
                self.tb.add_scalar(tag, value, step)
        self.n_points += 1


class _MetricCharts(Node):
    """What both chart calls share: find metrics, now and later, and log their changes."""

    default_container = "writers"
    n_metrics = Variable(0, doc="metric variables charted")
    n_points = Variable(0, doc="values logged")

    def __init__(self, state: State, name: str, n_suffixes: int, who: str) -> None:
        self.n_suffixes = _check_suffixes(n_suffixes, who)
        self.tb = _writer_of(state, who)
        self.who = who
        self._warned = False
        super().__init__(state, name)
        self._tags: dict[str, str] = {}
        self._charted: set[str] = set()  # variables that logged a value: in the layout
        for var in state.metrics.variables():
            self._add(var)
        state.structure.last_variable_ref.subscribe(
            self._on_new_variable, when=lambda path: path.startswith("metrics.")
        )
        for node in state.engines.nodes().values():
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
        if not self._tags and not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.who} found no metric under state.metrics after an engine run; "
                "add Metric(engine, ignite_metric, name) nodes (before or after this call) "
                "or remove the chart call",
                UserWarning,
                stacklevel=2,
            )

    def _add(self, var: str) -> None:
        engines = self.state.engines.nodes()
        engine, group = metric_groups([var], engines, self.n_suffixes)[var]
        ref = getattr(self.state.metrics, f"{var}_ref")
        tag = self._place(var, engine, group)
        self._tags[var] = tag
        ref.subscribe(partial(self._log, var))
        self.n_metrics += 1

    def _place(self, var: str, engine: str, group: str) -> str:
        """The variable's tag."""
        raise NotImplementedError

    def _chart(self, var: str) -> None:
        """Put the variable's tag in the layout (at its first value: a placeholder that
        never holds a scalar, a dict metric's or a confusion matrix's, gets no chart)."""
        raise NotImplementedError

    def _x(self, var: str) -> Ref:
        raise NotImplementedError

    def _log(self, var: str, event: Event) -> None:
        value = event.new
        if value is None or (isinstance(value, torch.Tensor) and value.numel() != 1):
            return  # not a scalar (a confusion matrix, say): nothing to chart
        if isinstance(value, float) and math.isnan(value):
            return
        if not isinstance(value, (int, float, torch.Tensor)):
            return
        self.tb.add_scalar(self._tags[var], value, self._x(var).value)
        if var not in self._charted:
            self._charted.add(var)
            self._chart(var)
        self.n_points += 1


class EnginesMetricsComparisonCharts(_MetricCharts):
    """One multi-line chart per metric group, with a line per engine.

    Every variable of ``state.metrics`` (now and later) is logged as
    ``<group>/<engine>`` when it changes, at x = ``x_axis_ref``'s value, and the
    custom-scalars layout gets a chart ``<group>`` listing each engine's tag.
    ``val_evaluator_accuracy`` and ``train_evaluator_accuracy`` share the group
    ``accuracy`` with ``n_identical_metric_name_suffixes=1``. Two metrics of one
    engine in a group keep a line each, named by the rest of their name
    (``accuracy/val_evaluator_top_1`` and ``accuracy/val_evaluator_top_5``).

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
        self._groups: dict[str, list[str]] = {}  # group -> its variables, in creation order
        self._group_of: dict[str, str] = {}
        super().__init__(x_axis_ref.state, name, n_identical_metric_name_suffixes, who)

    def _place(self, var: str, engine: str, group: str) -> str:
        # The line is named by what precedes the group: the engine, or more when one
        # engine has several metrics of the group (val_evaluator_top_1_accuracy and
        # val_evaluator_top_5_accuracy); a tag per variable, never two sharing one.
        tag = f"{group}/{var[: -len(group) - 1] or engine}"
        self._group_of[var] = group
        self._groups.setdefault(group, []).append(var)
        return tag

    def _chart(self, var: str) -> None:
        group = self._group_of[var]
        tags = [self._tags[v] for v in self._groups[group] if v in self._charted]
        self.tb.set_chart(self.category, group, tags)

    def _x(self, var: str) -> Ref:
        return self.x_ref


class EnginesMetricsCharts(_MetricCharts):
    """One layout category per engine with a chart per metric (tag ``<engine>/<metric>``).

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
            engines = first.state.engines.nodes()
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
        self._chart_of: dict[str, tuple[str, str]] = {}
        super().__init__(first.state, name, n_identical_metric_name_suffixes, who)

    def _place(self, var: str, engine: str, group: str) -> str:
        metric = var[len(engine) + 1 :] if var.startswith(engine + "_") else group
        self._chart_of[var] = (engine, metric)
        return f"{engine}/{metric}"

    def _chart(self, var: str) -> None:
        engine, metric = self._chart_of[var]
        self.tb.set_chart(engine, metric, [self._tags[var]])

    def _x(self, var: str) -> Ref:
        return self.x_refs.get(self._chart_of[var][0], self.default_x)
