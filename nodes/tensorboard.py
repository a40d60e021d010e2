"""TensorBoard on the state: the writer node and the charts of chosen variables.

The writer gives every engine a run of its own (a subdirectory of the log
dir named after the engine), so TensorBoard draws each engine in its own
colour and names it in the tooltip; what belongs to the whole state (the
custom-scalars layout, the state graph and its overview) goes to the log dir
itself. Each (run, tag) is written by one node only.

Values are queued as they are (tensors stay tensors) and turned into numbers
only when they are written, all pending tensors in one transfer: logging adds
no host-device synchronisation per iteration. The queue is written when an
engine completes an epoch or a run, when it grows past ``max_pending``, and on
``flush()``/``close()``.

The comparison layout (TensorBoard's custom scalars) is rewritten whenever a
new metric appears; TensorBoard shows the newest layout of a run.

The two calls that chart every metric of every engine live in
``nodes/tensorboard_charts.py`` and are importable from here too.
"""

from __future__ import annotations

import numbers
import re
import struct
import tempfile
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from nodes.distributed import is_writer_process
from nodes.engine import Engine, _check_positive
from pipeline import Container, Event, Node, Ref, State, Variable
from pipeline.values import short_repr

__all__ = [
    "EnginesMetricsCharts",
    "EnginesMetricsComparisonCharts",
    "Histograms",
    "ScalarChart",
    "TensorBoard",
    "metric_groups",
]

if TYPE_CHECKING:
    from nodes.tensorboard_charts import (
        EnginesMetricsCharts,
        EnginesMetricsComparisonCharts,
        metric_groups,
    )

_CHART_CALLS = ("EnginesMetricsCharts", "EnginesMetricsComparisonCharts", "metric_groups")


def __getattr__(name: str) -> Any:
    # The chart calls import this module (the writer); importing them here at the top
    # would be circular, so ``from nodes.tensorboard import EnginesMetricsCharts`` is
    # resolved on first use.
    if name in _CHART_CALLS:
        from nodes import tensorboard_charts

        return getattr(tensorboard_charts, name)
    raise AttributeError(f"module 'nodes.tensorboard' has no attribute {name!r}")


def _writer_of(state: State, who: str) -> TensorBoard:
    for node in Container.nodes(state.writers).values():
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


def engine_run(ref: Ref) -> str:
    """The run of a variable's values: its engine's name, or ``""`` (the log dir itself)
    for a variable that no engine owns."""
    owner = ref.owner
    return owner.name if isinstance(owner, Engine) else ""


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

    Each engine's values go to a run of their own, ``log_dir/<engine>``; the
    custom-scalars layout, the state graph and the overview to ``log_dir``.

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
        >>> EnginesMetricsComparisonCharts(state.trainer.n_samples_ref)  # doctest: +SKIP
        >>> tb.log_dir / "val_evaluator"  # the validation evaluator's run  # doctest: +SKIP
        PosixPath('runs/digits/val_evaluator')
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

        for node in Container.nodes(state.writers).values():
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
        self._writers: dict[str, Any] = {"": self.writer}  # run -> its writer
        self._owners: dict[tuple[str, str], str] = {}  # (run, tag) -> the node writing it
        self._pending: list[tuple[str, str, Any, int, float]] = []
        self._layout: dict[str, dict[str, list[str]]] = {}
        self._chart_rank: dict[tuple[str, str], int] = {}
        self._layout_version = 0
        self._layout_written = 0
        self._graph_logged = False
        self._last_step = 0  # the largest step written, where close() puts the final graph
        for node in Container.nodes(state.engines).values():
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

    # Runs and tags --------------------------------------------------------------
    def run_writer(self, run: str) -> Any:
        """The ``SummaryWriter`` of ``run`` (``log_dir/run``; ``""``: the log dir itself),
        created at its first use."""
        writer = self._writers.get(run)
        if writer is None:
            from torch.utils.tensorboard import SummaryWriter

            path = str(self.log_dir / run)
            writer = SummaryWriter(log_dir=path) if self.is_writer else _NullWriter(path)
            self._writers[run] = writer
        return writer

    def claim(self, run: str, tag: str, owner: str) -> None:
        """Record that ``owner`` writes ``tag`` in ``run``.

        Raises:
            ValueError: another node already writes that tag in that run.
        """
        other = self._owners.setdefault((run, tag), owner)
        if other != owner:
            raise ValueError(
                f"{owner}: the tag {tag!r} of run {run or '.'!r} is already written by {other}; "
                "a scalar is written once: chart the existing tag (set_chart) instead of "
                "writing it again, or give this one another tag"
            )

    # Writing --------------------------------------------------------------------
    def add_scalar(self, tag: str, value: Any, step: int, run: str = "") -> None:
        """Queue one scalar of ``run``; tensors are converted when the queue is written.

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
        self._pending.append((run, tag, value, step, time.time()))
        if len(self._pending) >= self.max_pending:
            self.flush()

    def set_chart(self, category: str, title: str, tags: Sequence[str], *, rank: int = 0) -> None:
        """Declare a multi-line chart of the custom-scalars layout (written at the next flush).

        TensorBoard draws a tag of the chart in every run that holds it, each run in
        its own colour: one tag shared by the engines' runs makes a line per engine.
        A category shows its charts by ``rank``, then in the order they were declared.
        """
        charts = self._layout.setdefault(category, {})
        unique = list(dict.fromkeys(tags))
        if charts.get(title) != unique:
            charts[title] = unique
            self._chart_rank[category, title] = rank
            self._layout_version += 1

    def flush(self) -> None:
        """Write the queued scalars (one device transfer per device for all tensors) and the layout.

        Does nothing once the writer is closed.
        """
        if self.closed:
            return
        pending, self._pending = self._pending, []
        numbers = _to_numbers([value for _, _, value, _, _ in pending])
        for (run, tag, _, step, wall), number in zip(pending, numbers, strict=True):
            self.run_writer(run).add_scalar(tag, number, global_step=step, walltime=wall)
        if pending:
            self._last_step = max(self._last_step, max(p[3] for p in pending))
            self.n_scalars_written += len(pending)
        if self._layout_version != self._layout_written:
            self._write_layout()
        for writer in self._writers.values():
            writer.flush()
        self.n_flushes += 1

    def _write_layout(self) -> None:
        from torch.utils.tensorboard.summary import custom_scalars

        layout = {
            category: {
                title: ["Multiline", [f"^{re.escape(t)}$" for t in charts[title]]]
                for title in sorted(charts, key=lambda t, c=category: self._chart_rank[c, t])
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
        for writer in self._writers.values():
            writer.close()
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
        run: the run the values go to (a subdirectory of the log dir); default: the
            engine that owns the trigger, else the log dir itself.
        name: the node's name in ``state.writers``.

    Raises:
        TypeError: the trigger or the x axis is not a Ref (the x axis holding an int).
        ValueError: no variable, a tag count other than one per variable, no
            TensorBoard writer, or a tag another node already writes in that run.

    Example:
        >>> ScalarChart(state.trainer.n_iteration_completed_ref,  # doctest: +SKIP
        ...             [state.trainer.output_ref], state.trainer.n_samples_ref,
        ...             every=10, tags=["iteration/batch_loss"])
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
        run: str | None = None,
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
        self.run = engine_run(trigger_ref) if run is None else run
        base = name or "chart_" + "_".join(r.name for r in self.refs)[:60]
        name, n = base, 2
        while name in state.writers:
            name, n = f"{base}_{n}", n + 1
        for tag in self.tags:
            self.tb.claim(self.run, tag, f"state.writers.{name}")
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
                self.tb.add_scalar(tag, value, step, self.run)
        self.n_points += 1


class Histograms(Node):
    """Opt-in histograms of a model's parameters and gradients when a trigger fires.

    Tags ``parameters/<name>`` and ``gradients/<name>`` (TensorBoard's
    Histograms and Distributions pages), in the run of the engine that owns the
    trigger. Unlike scalars, a histogram is computed on the host when it is
    logged: one copy of every parameter (and gradient) per trigger, so log on
    a sparse trigger (``trainer.n_epoch_completed_ref``, or ``every=``).

    Args:
        trigger_ref: the variable whose changes log (with ``every``/``once``/``when``).
        model: the module whose named parameters are logged (a DDP wrapper is unwrapped).
        x_axis_ref: an int variable giving the step; default: the trigger itself.
        every, once, when: filters of the trigger subscription.
        gradients: also log each parameter's gradient (when it has one).
        run: the run; default: the engine that owns the trigger, else the log dir itself.
        name: the node's name in ``state.writers``.

    Raises:
        TypeError: the trigger or the x axis is not a Ref, or ``model`` is not a module.
        ValueError: no TensorBoard writer, or another node writes these tags in that run.

    Example:
        >>> Histograms(state.trainer.n_epoch_completed_ref, model,  # doctest: +SKIP
        ...            x_axis_ref=state.trainer.n_samples_ref)
    """

    default_container = "writers"
    n_points = Variable(0, doc="times it logged")

    def __init__(
        self,
        trigger_ref: Ref,
        model: torch.nn.Module,
        x_axis_ref: Ref | None = None,
        *,
        every: int | None = None,
        once: int | None = None,
        when: Any = None,
        gradients: bool = True,
        run: str | None = None,
        name: str = "histograms",
    ) -> None:
        from nodes.supervised import unwrap_model

        if not isinstance(trigger_ref, Ref):
            raise TypeError(f"Histograms: trigger_ref must be a Ref, got {trigger_ref!r}")
        if not isinstance(model, torch.nn.Module):
            raise TypeError(
                f"Histograms: model must be a torch.nn.Module, got {type(model).__name__}"
            )
        state = trigger_ref.state
        self.x_ref = _check_x_axis(x_axis_ref or trigger_ref, "Histograms")
        self.tb = _writer_of(state, "Histograms")
        self.model = unwrap_model(model)
        self.gradients = gradients
        self.run = engine_run(trigger_ref) if run is None else run
        for param_name, _ in self.model.named_parameters():
            for kind in ("parameters", "gradients") if gradients else ("parameters",):
                self.tb.claim(self.run, f"{kind}/{param_name}", f"state.writers.{name}")
        super().__init__(state, name)
        trigger_ref.subscribe(self.log, every=every, once=once, when=when, reads=[self.x_ref])

    def log(self) -> None:
        """Write the histograms at the current x (a copy to the host of each tensor)."""
        if not self.tb.is_writer or self.tb.closed:
            return
        step, writer = self.x_ref.value, self.tb.run_writer(self.run)
        for param_name, param in self.model.named_parameters():
            writer.add_histogram(f"parameters/{param_name}", param.detach(), step)
            if self.gradients and param.grad is not None:
                writer.add_histogram(f"gradients/{param_name}", param.grad.detach(), step)
        self.n_points += 1
