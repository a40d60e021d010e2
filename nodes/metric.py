"""``Metric``: any ``ignite.metrics.Metric`` computed on an engine's variables.

The ignite metric keeps its own logic (output transform, mapping outputs,
unrolling, distributed reduction in ``compute``); this node only decides
*when* it is reset, updated and computed, by subscribing to the engine's
counters, and puts the result into ``state.metrics.<engine>_<name>`` so a
metric change is an event like any other.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import torch

from nodes.engine import Engine
from pipeline import Container, Node, Ref, State
from pipeline.values import did_you_mean, is_changed

__all__ = ["USAGES", "Metric", "default_usage", "publish"]


#: usage -> (reset on, update on, compute on): the engine variables of each usage.
def publish(ref: Ref, value: Any) -> None:
    """Write a newly computed metric value to its variable ``ref``.

    A value equal to the one the variable holds is no event of it (statefire's rule), yet
    it is a computation: every node of ``state.writers`` that has a
    ``metric_recomputed(ref)`` method (the chart series) is told, so that a chart gets a
    point per evaluation, also when an accuracy repeats.
    """
    if is_changed(ref.value, value):
        ref.value = value
        return
    for node in Container.nodes(ref.state.writers).values():
        recomputed = getattr(node, "metric_recomputed", None)
        if recomputed is not None:
            recomputed(ref)


USAGES: dict[str, tuple[str, str, str]] = {
    "epoch": ("n_epoch_started", "n_iteration_completed", "n_epoch_completed"),
    "batch": ("n_iteration_started", "n_iteration_completed", "n_iteration_completed"),
    "running": ("n_run_started", "n_iteration_completed", "n_iteration_completed"),
    "single_epoch_running": ("n_epoch_started", "n_iteration_completed", "n_iteration_completed"),
    # As ignite's RunningEpochWise: updated once per epoch, with the epoch's last output
    # (a RunningAverage's source metric is still updated every iteration).
    "running_epoch": ("n_run_started", "n_epoch_completed", "n_epoch_completed"),
}


def default_usage(ignite_metric: Any) -> str:
    """The usage ignite's own ``attach`` gives ``ignite_metric`` by default.

    ``RunningAverage.attach`` defaults to ``RunningBatchWise`` (reset when the run
    starts, updated and computed every iteration), ``Frequency.attach`` resets
    each epoch and computes every iteration, every other metric is ``EpochWise``.
    """
    from ignite.metrics import Frequency, RunningAverage

    if isinstance(ignite_metric, RunningAverage):
        return "running"
    if isinstance(ignite_metric, Frequency):
        return "single_epoch_running"
    return "epoch"


class _EngineView:
    """The two attributes of an ignite Engine that ignite metrics use: state.output, state.metrics."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = SimpleNamespace(output=None, metrics={})


def _resolve_engine(engine: Engine | str, state: State | None) -> Engine:
    if isinstance(engine, Engine):
        return engine
    if isinstance(engine, str):
        if state is None:
            raise TypeError(f"Metric on engine name {engine!r} needs state=...")
        engines = Container.nodes(state.engines)
        if engine not in engines:
            raise ValueError(
                f"no engine named {engine!r} in state.engines{did_you_mean(engine, engines)}"
                f" (engines: {', '.join(engines) or 'none yet'}); create the engine first"
            )
        found = engines[engine]
        if not isinstance(found, Engine):
            raise TypeError(f"state.engines.{engine} is a {type(found).__name__}, not an Engine")
        return found
    raise TypeError(f"engine must be an Engine or an engine name, got {type(engine).__name__}")


class _Publication:
    """Publishes the values of the metrics computed on one engine event together.

    Every metric of an engine computed on the same variable (say the
    evaluator's ``n_epoch_completed``) computes first; the last one to do so
    writes all the values inside one ``hold()`` block, so a subscriber of one
    metric never sees another metric of the same evaluation still stale.
    """

    def __init__(self, state: State) -> None:
        self.state = state
        self.members: list[Metric] = []
        self.pending: dict[Metric, dict[str, Any]] = {}

    def submit(self, metric: Metric, values: dict[str, Any]) -> None:
        self.pending[metric] = values
        if len(self.pending) < len(self.members):
            return
        pending, self.pending = self.pending, {}
        metrics = self.state.metrics
        if len(pending) == 1 and len(values) == 1:  # alone: nothing to keep consistent
            for var, value in values.items():
                publish(getattr(metrics, f"{var}_ref"), value)
            return
        with self.state.hold():
            for member, member_values in pending.items():
                with self.state.writing_as(member):
                    for var, value in member_values.items():
                        publish(getattr(metrics, f"{var}_ref"), value)


class Metric(Node):
    """Compute ``ignite_metric`` on ``engine``; its value is ``state.metrics.<engine>_<name>``.

    Args:
        engine: the engine (or its name in ``state.engines``, with ``state=``).
        ignite_metric: an ``ignite.metrics.Metric`` instance.
        name: the metric's name; a metric returning a dict gives one variable per key instead.
        usage: ``"epoch"`` (reset each epoch, computed at its end), ``"batch"``
            (each iteration), ``"running"`` (never reset in a run, computed each
            iteration), ``"single_epoch_running"`` or ``"running_epoch"``. None
            (the default) takes the usage of the metric's own ``attach`` in ignite:
            ``"running"`` for a ``RunningAverage``, ``"single_epoch_running"`` for a
            ``Frequency``, ``"epoch"`` for the others.
        state: needed only when ``engine`` is a name.

    Values computed every epoch that are 0-d tensors become Python numbers (one
    synchronisation per epoch, as in ignite); per-iteration values stay tensors,
    so nothing synchronises per iteration unless a subscriber converts them.

    Example:
        >>> from ignite.metrics import Accuracy  # doctest: +SKIP
        >>> Metric(state.val_evaluator, Accuracy(), "accuracy")  # doctest: +SKIP
        >>> state.metrics.val_evaluator_accuracy  # doctest: +SKIP
        0.93
    """

    def __init__(
        self,
        engine: Engine | str,
        ignite_metric: Any,
        name: str,
        usage: str | None = None,
        *,
        state: State | None = None,
    ) -> None:
        from ignite.metrics import Metric as IgniteMetric

        engine = _resolve_engine(engine, state)
        if not isinstance(ignite_metric, IgniteMetric):
            raise TypeError(
                f"Metric '{name}': ignite_metric must be an ignite.metrics.Metric instance, "
                f"got {type(ignite_metric).__name__}"
                + (" (a class: instantiate it)" if isinstance(ignite_metric, type) else "")
            )
        if usage is None:
            usage = default_usage(ignite_metric)
        if usage not in USAGES:
            raise ValueError(
                f"Metric '{name}': usage must be one of {', '.join(USAGES)}, got {usage!r}"
                f"{did_you_mean(str(usage), USAGES)}"
            )
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"a metric name must be a Python identifier, got {name!r}")
        self.engine = engine
        self.metric = ignite_metric
        self.metric_name = f"{engine.name}_{name}"
        self.usage = usage
        self._view = _EngineView()
        self._per_epoch = USAGES[usage][2] == "n_epoch_completed"
        self.value_refs: dict[str, Ref] = {}
        super().__init__(engine.state, f"{self.metric_name}_metric", container="handlers")
        metrics = engine.state.metrics
        if self.metric_name in metrics:
            raise ValueError(
                f"state.metrics.{self.metric_name} already exists; give this metric another name"
            )
        self.value_refs[self.metric_name] = metrics.add_variable(
            self.metric_name,
            None,
            doc=f"{type(ignite_metric).__name__} of {engine.name} ({usage})",
            writer=self,
        )
        reset_on, update_on, compute_on = USAGES[usage]
        engine.ref(reset_on).subscribe(self.reset)
        src = getattr(ignite_metric, "src", None)  # RunningAverage of another metric
        if src is not None and hasattr(src, "iteration_completed"):
            # As ignite's RunningAverage.attach: the source sees every iteration.
            engine.n_iteration_completed_ref.subscribe(self._update_src)
        engine.ref(update_on).subscribe(self.update)
        engine.ref(compute_on).subscribe(self.compute)
        self.declare_reads(engine.output_ref)
        groups = engine.metric_publications
        self._publication: _Publication = groups.setdefault(compute_on, _Publication(engine.state))
        # The last member to compute publishes every member's value (each as its
        # own writer), so each member declares the others' values for ordering
        # only: a subscriber that reads one of them runs after the whole group,
        # whatever the order the metrics were made in.
        mine = list(self.value_refs.values())
        for other in self._publication.members:
            other.declare_writes(*mine, ordering_only=True)
            self.declare_writes(*other.value_refs.values(), ordering_only=True)
        self._publication.members.append(self)

    def reset(self) -> None:
        """Reset the ignite metric."""
        self.metric.reset()

    def update(self) -> None:
        """Update the ignite metric with the engine's output."""
        self._view.state.output = self.engine.output
        self.metric.iteration_completed(self._view)

    def _update_src(self) -> None:
        """Update the source metric of a RunningAverage with the engine's output."""
        self._view.state.output = self.engine.output
        self.metric.src.iteration_completed(self._view)

    def compute(self) -> None:
        """Compute the metric; its value (or values, for a dict) is published with the
        other metrics computed on the same engine event."""
        result = self.metric.compute()
        if not isinstance(result, Mapping):
            self._publication.submit(self, {self.metric_name: self._convert(result)})
            return
        metrics = self.state.metrics
        values = {}
        for key, value in result.items():
            var = f"{self.engine.name}_{key}"
            if var not in self.value_refs:
                if var in metrics:
                    raise ValueError(
                        f"state.metrics.{var} already exists; rename the metric's output"
                    )
                self.value_refs[var] = metrics.add_variable(var, None, writer=self)
            values[var] = self._convert(value)
        self._publication.submit(self, values)

    def _convert(self, value: Any) -> Any:
        if isinstance(value, torch.Tensor):
            if self._per_epoch and value.dim() == 0:
                return value.item()
            return value.detach()
        return value

    def state_dict(self) -> dict[str, Any]:
        """The ignite metric's own state, when it can serialise it."""
        try:
            return {"metric": self.metric.state_dict()}
        except (NotImplementedError, AttributeError, TypeError):
            return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``state_dict``.

        An ignite metric saves one entry per rank and loads only from as many
        as there are processes now. Saved by another number of processes (a
        two-process checkpoint resumed in one process), rank ``r`` gets the
        entry of rank ``r % saved``: exact for a metric reset before its next
        compute (every epoch-wise metric at an epoch's end), and an accumulation
        in progress continues from that one rank's part.
        """
        if "metric" not in state_dict:
            return
        saved = state_dict["metric"]
        if isinstance(saved, Mapping) and len(saved) == 1:
            ((key, per_rank),) = saved.items()
            if isinstance(per_rank, list) and per_rank:
                import ignite.distributed as idist

                world = idist.get_world_size()
                if len(per_rank) != world:
                    saved = {key: [per_rank[r % len(per_rank)] for r in range(world)]}
                self._fit_lists(saved[key][idist.get_rank()])
        self.metric.load_state_dict(saved)

    def _fit_lists(self, saved: Any) -> None:
        """Give the metric's list attributes the length of the saved ones.

        ignite loads a list element by element into the list the metric holds
        now and refuses another length ("Size of y: 3 does not match the size
        of x: '0'"): an ``EpochMetric`` (ROC_AUC, AveragePrecision, ...) keeps one
        tensor per batch seen, so a freshly built one (empty lists) could not
        load a checkpoint taken after any batch.
        """
        if not isinstance(saved, Mapping):
            return
        attributes = vars(self.metric)
        for name in getattr(self.metric, "_state_dict_all_req_keys", ()):
            have, given = attributes.get(name), saved.get(name)
            if isinstance(have, list) and isinstance(given, list) and len(have) != len(given):
                attributes[name] = [None] * len(given)  # each slot takes the saved element
