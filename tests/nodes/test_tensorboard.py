"""Tests of the TensorBoard nodes: the writer, ScalarChart, Histograms and the two chart
calls, read back from real event files with TensorBoard's own ``EventAccumulator`` (one
per run: the log dir itself is the run ``.``, each engine has its own)."""

from __future__ import annotations

import math
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from cuda_checks import count_syncs, needs_cuda
from torch import nn

from nodes import Engine, Evaluator, Metric, Trainer
from nodes.tensorboard import (
    EnginesMetricsCharts,
    EnginesMetricsComparisonCharts,
    Histograms,
    ScalarChart,
    TensorBoard,
    _png_size,
    metric_groups,
)
from pipeline import State

LAYOUT_TAG = "custom_scalars__config__"
N_TRAIN, N_VAL, BATCH = 24, 12, 8

# Helpers ---------------------------------------------------------------------------------


def batches(n: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """``n`` random samples of 4 features and 3 classes, in batches of ``BATCH``."""
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n, 4, generator=g), torch.randint(0, 3, (n,), generator=g)
    return [(x[i : i + BATCH], y[i : i + BATCH]) for i in range(0, n, BATCH)]


def scaled_loss(k: int) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """A cross entropy times ``k``: metrics with distinct values and names."""
    return lambda y_pred, y: F.cross_entropy(y_pred, y) * k


def build(
    state: State,
    evaluators: tuple[str, ...] = ("train_evaluator", "val_evaluator"),
    n_metrics: int = 2,
    trainer_metrics: int = 0,
) -> Trainer:
    """A trainer of a tiny linear model and evaluators run after each of its epochs, with
    ``n_metrics`` scaled-loss metrics ``m0``, ``m1``, ... on each evaluator and
    ``trainer_metrics`` per-epoch averages of the loss on the trainer."""
    from ignite.metrics import Average, Loss

    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    trainer = Trainer(state, "trainer", model, optimizer, F.cross_entropy, batches(N_TRAIN, 0))
    for i in range(trainer_metrics):
        Metric(trainer, Average(output_transform=lambda loss, k=i + 1: loss * k), f"m{i}")
    for j, name in enumerate(evaluators):
        evaluator = add_evaluator(state, trainer, name, seed=j + 1)
        for i in range(n_metrics):
            Metric(evaluator, Loss(scaled_loss(i + 1)), f"m{i}")
    return trainer


def add_evaluator(state: State, trainer: Trainer, name: str, seed: int) -> Evaluator:
    """An evaluator of the trainer's model on ``batches(N_VAL, seed)``, run after each epoch."""
    return Evaluator(
        state, name, trainer.model, batches(N_VAL, seed), run_on=trainer.n_epoch_completed_ref
    )


def record(ref: Any, x_ref: Any) -> list[tuple[int, float]]:
    """Subscribe to ``ref``; the returned list fills with ``(x, value)`` at each change."""
    seen: list[tuple[int, float]] = []
    ref.subscribe(lambda: seen.append((x_ref.value, float(ref.value))))
    return seen


class Events:
    """The event files of a log dir, every run (``.``: the log dir itself; each
    subdirectory: an engine) read with TensorBoard's ``EventAccumulator``."""

    def __init__(self, log_dir: Path) -> None:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        self.runs = {}
        for path in [log_dir, *sorted(p for p in log_dir.iterdir() if p.is_dir())]:
            acc = EventAccumulator(
                str(path),
                size_guidance={"scalars": 0, "tensors": 0, "images": 0, "histograms": 0},
            )
            acc.Reload()
            self.runs["." if path == log_dir else path.name] = acc
        self.acc = self.runs["."]
        self.tags = self.acc.Tags()

    def scalars(self, tag: str, run: str = ".") -> list[tuple[int, float]]:
        return [(e.step, e.value) for e in self.runs[run].Scalars(tag)]

    def scalar_tags(self, run: str = ".") -> set[str]:
        return set(self.runs[run].Tags()["scalars"])

    def series(self) -> set[tuple[str, str]]:
        """Every (run, tag) holding scalars."""
        return {(run, tag) for run, acc in self.runs.items() for tag in acc.Tags()["scalars"]}

    def layout(self) -> dict[str, dict[str, list[str]]]:
        """The newest custom-scalars layout: category -> chart title -> tag regexes."""
        from tensorboard.plugins.custom_scalar import layout_pb2

        events = self.acc.Tensors(LAYOUT_TAG)
        last = max(events, key=lambda e: e.step)
        layout = layout_pb2.Layout.FromString(last.tensor_proto.string_val[0])
        return {
            category.title: {chart.title: list(chart.multiline.tag) for chart in category.chart}
            for category in layout.category
        }

    def lines(self, regexes: list[str]) -> set[tuple[str, str]]:
        """The (run, tag) a chart of these tag regexes draws: as TensorBoard's custom-scalars
        plugin does, each regex is matched (``re.match``) against the tags of every run."""
        return {(run, tag) for run, tag in self.series() if any(re.match(r, tag) for r in regexes)}


def assert_close(got: list[tuple[int, float]], expected: list[tuple[int, float]]) -> None:
    assert [s for s, _ in got] == [s for s, _ in expected]
    assert [v for _, v in got] == pytest.approx([v for _, v in expected], rel=1e-6)


@pytest.fixture
def log_dir(tmp_path: Path) -> Path:
    return tmp_path / "tb"


@pytest.fixture
def tb(state: State, log_dir: Path) -> Iterator[TensorBoard]:
    """A TensorBoard writer on ``state`` (no state graph: faster), closed after the test."""
    writer = TensorBoard(state, log_dir, log_graph=False)
    yield writer
    writer.close()


# The writer ------------------------------------------------------------------------------


class TestWriter:
    def test_registers_under_writers(self, state: State, tb: TensorBoard, log_dir: Path) -> None:
        """The writer is state.writers.tensorboard and logs into log_dir."""
        assert state.writers.tensorboard is tb
        assert tb.log_dir == log_dir

    def test_default_log_dir_is_runs(
        self, state: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without log_dir the events go to runs/<date-time>_<host>, as with SummaryWriter."""
        monkeypatch.chdir(tmp_path)
        with TensorBoard(state, log_graph=False) as tb:
            assert tb.log_dir.parent == Path("runs")
        assert list((tmp_path / "runs").iterdir()) == [tmp_path / tb.log_dir]

    def test_second_writer_refused(self, state: State, tb: TensorBoard, tmp_path: Path) -> None:
        """A second TensorBoard writer on the same state is refused, naming the first."""
        with pytest.raises(
            ValueError, match=r"already has a TensorBoard writer.*writers\.tensorboard"
        ):
            TensorBoard(state, tmp_path / "other", name="tensorboard_2")
        assert not (tmp_path / "other").exists()

    def test_flushes_when_a_run_completes(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """After a run completes its values are in the event file of the engine's run,
        without close()."""
        engine = Engine(state, "engine", lambda engine, batch: batch * 2.0, [1.0, 2.0, 3.0])
        ScalarChart(engine.n_iteration_completed_ref, [engine.output_ref], tags=["out"])
        engine.run()
        assert tb.n_flushes >= 1 and not tb.closed
        assert Events(log_dir).scalars("out", run="engine") == [(1, 2.0), (2, 4.0), (3, 6.0)]

    def test_flushes_when_the_queue_is_full(self, state: State, log_dir: Path) -> None:
        """max_pending queued values write the queue, in the middle of an epoch."""
        tb = TensorBoard(state, log_dir, max_pending=2, log_graph=False)
        state.configs.step = 0
        chart = ScalarChart(state.configs.step_ref, [state.configs.step_ref], tags=["step"])
        state.configs.step = 1
        assert tb.n_flushes == 0
        state.configs.step = 2
        assert (tb.n_flushes, tb.n_scalars_written, chart.n_points) == (1, 2, 2)
        assert Events(log_dir).scalars("step") == [(1, 1.0), (2, 2.0)]
        tb.close()

    def test_close_is_idempotent(self, state: State, log_dir: Path) -> None:
        """close() writes the queue once; a second close() does nothing; logging after it raises."""
        tb = TensorBoard(state, log_dir, log_graph=False)
        tb.add_scalar("x", torch.tensor(1.5), 3)
        tb.close()
        flushes = tb.n_flushes
        tb.close()
        assert tb.closed and tb.n_flushes == flushes
        tb.set_chart("late", "chart", ["x"])
        tb.flush()  # an engine completing after close: nothing written, no new event file
        assert len(list(log_dir.iterdir())) == 1
        assert Events(log_dir).scalars("x") == [(3, 1.5)]
        with pytest.raises(RuntimeError, match="is closed; create a new TensorBoard writer"):
            tb.add_scalar("x", 1.0, 4)

    def test_context_manager_closes(self, state: State, log_dir: Path) -> None:
        """``with TensorBoard(...)`` closes the writer at the end of the block."""
        with TensorBoard(state, log_dir, log_graph=False) as tb:
            tb.add_scalar("x", 2, 1)
        assert tb.closed
        assert Events(log_dir).scalars("x") == [(1, 2.0)]

    @pytest.mark.skipif(shutil.which("dot") is None, reason="needs Graphviz's dot")
    def test_logs_the_state_graph_and_overview(self, state: State, log_dir: Path) -> None:
        """The first engine run logs the rendered graph (a PNG) and the text overview."""
        tb = TensorBoard(state, log_dir)
        trainer = build(state, evaluators=("val_evaluator",), n_metrics=1)
        EnginesMetricsComparisonCharts(trainer.n_samples_ref)
        trainer.run(max_epochs=1)
        events = Events(log_dir)
        assert "state/graph" in events.tags["images"]
        image = events.acc.Images("state/graph")[0]
        assert image.encoded_image_string.startswith(b"\x89PNG")
        assert image.width > 0 and image.height > 0
        texts = events.acc.Tensors("state/overview/text_summary")
        overview = texts[0].tensor_proto.string_val[0].decode()
        assert "trainer" in overview and "val_evaluator_m0" in overview
        tb.close()  # the final graph, at the last step
        last = max(step for step, _ in Events(log_dir).scalars("epoch/m0", "val_evaluator"))
        assert last == N_TRAIN
        final = Events(log_dir).acc.Images("state/graph")
        assert [image.step for image in final] == [0, last]
        # the graph as state.render draws it, at its full size (not scaled down):
        # TensorBoard's "Show actual image size" shows it as the PNG file would
        rendered = state.render(log_dir.parent / "graph.png").read_bytes()
        assert (final[-1].width, final[-1].height) == _png_size(rendered)
        assert _png_size(final[-1].encoded_image_string) == _png_size(rendered)


# ScalarChart ----------------------------------------------------------------------------


class TestScalarChart:
    def test_every(self, state: State, tb: TensorBoard, log_dir: Path) -> None:
        """every=3 on the iteration counter logs the loss at iterations 3, 6, 9."""
        model = nn.Linear(4, 3)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        trainer = Trainer(
            state, "trainer", model, optimizer, F.cross_entropy, batches(5 * BATCH, 0)
        )
        chart = ScalarChart(trainer.n_iteration_completed_ref, [trainer.output_ref], every=3)
        seen = record(trainer.output_ref, trainer.n_iteration_completed_ref)
        trainer.run(max_epochs=2)
        assert chart.n_points == 3
        # output is set before the counter moves: the loss of iteration i is seen at i - 1
        assert_close(
            Events(log_dir).scalars("engines/trainer/output", "trainer"),
            [(i + 1, v) for i, v in seen[2::3]],
        )

    def test_x_axis_other_than_the_trigger(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """The trigger decides when, x_axis_ref where: n_samples at every 2nd iteration."""
        engine = Engine(
            state, "engine", lambda engine, batch: batch[0].sum(), batches(4 * BATCH, 0)
        )
        ScalarChart(
            engine.n_iteration_completed_ref,
            [engine.output_ref, "engines.engine.n_epoch_completed"],
            engine.n_samples_ref,
            every=2,
            tags=["sum", "epochs"],
        )
        engine.run(max_epochs=2)
        events = Events(log_dir)
        assert [s for s, _ in events.scalars("sum", "engine")] == [16, 32, 48, 64]
        assert events.scalars("epochs", "engine") == [(16, 0.0), (32, 0.0), (48, 1.0), (64, 1.0)]

    def test_non_scalar_tensor_refused(self, state: State, tb: TensorBoard) -> None:
        """Charting a batch (a tensor of several elements) raises when it is logged."""
        engine = Engine(state, "engine", lambda engine, batch: batch, [torch.ones(2, 3)])
        ScalarChart(engine.n_iteration_completed_ref, [engine.output_ref])
        with pytest.raises(ValueError, match=r"shape \(2, 3\) is not a scalar"):
            engine.run()

    @pytest.mark.parametrize("value", ["abc", [0.1, 0.2], {"a": 1.0}, object()])
    def test_non_number_refused_when_logged(
        self, state: State, tb: TensorBoard, log_dir: Path, value: Any
    ) -> None:
        """A value that is not a number raises where it is logged; what was queued is kept."""
        engine = Engine(state, "engine", lambda engine, batch: batch, [1.0, 2.0, 3.0])
        state.configs.label = 0.0
        ScalarChart(engine.n_iteration_completed_ref, [engine.output_ref])
        ScalarChart(engine.n_iteration_completed_ref, [state.configs.label_ref], once=3)
        engine.n_iteration_completed_ref.subscribe(
            lambda: setattr(state.configs, "label", value), once=2
        )
        with pytest.raises(TypeError, match=r"cannot chart 'configs/label'.*not a number"):
            engine.run()
        tb.flush()
        assert Events(log_dir).scalars("engines/engine/output", "engine") == [
            (1, 1.0),
            (2, 2.0),
            (3, 3.0),
        ]

    @pytest.mark.parametrize(
        ("make_args", "error", "match"),
        [
            (lambda s: ("engines.engine.n_samples", ["configs.x"]), TypeError, "must be a Ref"),
            (lambda s: (s.engine.n_iteration_completed_ref, []), ValueError, "at least one"),
            (
                lambda s: (s.engine.n_iteration_completed_ref, ["configs.x"], s.engine.batch_ref),
                TypeError,
                "engines.engine.batch must hold an int.*NoneType",
            ),
            (
                lambda s: (s.configs.x_ref, ["configs.x"]),
                TypeError,
                "configs.x must hold an int.*float 0.5",
            ),
        ],
    )
    def test_bad_arguments(
        self, state: State, tb: TensorBoard, make_args: Any, error: type, match: str
    ) -> None:
        """Bad triggers, variables and x axes are refused when the chart is created."""
        Engine(state, "engine", lambda engine, batch: batch, [1])
        state.configs.x = 0.5
        with pytest.raises(error, match=match):
            ScalarChart(*make_args(state))

    def test_tag_count_must_match(self, state: State, tb: TensorBoard) -> None:
        """One tag per variable."""
        state.configs.step = 0
        with pytest.raises(ValueError, match="2 tags for 1 variables"):
            ScalarChart(state.configs.step_ref, ["configs.step"], tags=["a", "b"])

    def test_a_tag_is_written_by_one_node(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """A second chart writing a tag of a run that another node writes is refused; the
        same tag in another run, or through run=, is not a copy."""
        engine = Engine(state, "engine", lambda engine, batch: batch, [1.0, 2.0])
        ScalarChart(engine.n_iteration_completed_ref, [engine.output_ref], tags=["out"])
        with pytest.raises(
            ValueError,
            match=r"tag 'out' of run 'engine' is already written by state\.writers\.chart_output;"
            r".*chart the existing tag",
        ):
            ScalarChart(engine.n_epoch_completed_ref, [engine.output_ref], tags=["out"])
        ScalarChart(engine.n_epoch_completed_ref, [engine.output_ref], tags=["out"], run="epochs")
        engine.run()
        events = Events(log_dir)
        assert events.scalars("out", "engine") == [(1, 1.0), (2, 2.0)]
        assert events.scalars("out", "epochs") == [(1, 2.0)]


# The two chart calls -----------------------------------------------------------------------


EVALUATORS = ("train_evaluator", "val_evaluator")


class TestComparisonCharts:
    def test_a_run_per_engine_with_shared_tags_at_the_x_values(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """Each metric is logged once, in its engine's run as epoch/<metric>, at
        trainer.n_samples when its evaluator ran; a comparison chart per metric draws the
        one tag in every engine's run."""
        trainer = build(state)
        charts = EnginesMetricsComparisonCharts(
            x_axis_ref=trainer.n_samples_ref, n_identical_metric_name_suffixes=1
        )
        expected = {
            (engine, f"epoch/m{i}"): record(
                getattr(state.metrics, f"{engine}_m{i}_ref"), trainer.n_samples_ref
            )
            for engine in EVALUATORS
            for i in range(2)
        }
        trainer.run(max_epochs=3)
        events = Events(log_dir)
        metric_series = {(r, t) for r, t in events.series() if t.startswith("epoch/")}
        assert metric_series == set(expected)
        for (run, tag), seen in expected.items():
            assert [s for s, _ in seen] == [N_TRAIN, 2 * N_TRAIN, 3 * N_TRAIN]
            assert_close(events.scalars(tag, run), seen)
        layout = events.layout()
        assert layout == {"engines comparison": {"m0": ["^epoch/m0$"], "m1": ["^epoch/m1$"]}}
        for metric, regexes in layout["engines comparison"].items():
            assert events.lines(regexes) == {(e, f"epoch/{metric}") for e in EVALUATORS}
        assert charts.n_metrics == 4
        assert state.writers.tensorboard_series.n_points == 12 + 3 * 3  # metrics, epoch times

    @pytest.mark.parametrize("chart_first", [False, True])
    def test_a_metric_computed_to_the_same_value_is_a_point_each_time(
        self, state: State, tb: TensorBoard, log_dir: Path, chart_first: bool
    ) -> None:
        """A frozen model's evaluator gives the same loss every epoch: the variable changes
        once, and the chart still has a point per evaluation, at each x."""
        from ignite.metrics import Loss

        torch.manual_seed(0)
        model = nn.Linear(4, 3)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
        trainer = Trainer(state, "trainer", model, optimizer, F.cross_entropy, batches(N_TRAIN, 0))
        evaluator = add_evaluator(state, trainer, "val_evaluator", seed=1)
        if chart_first:  # the metric's variable appears after the chart call
            EnginesMetricsComparisonCharts(x_axis_ref=trainer.n_samples_ref)
        Metric(evaluator, Loss(F.cross_entropy), "loss")
        changes = record(state.metrics.val_evaluator_loss_ref, trainer.n_samples_ref)
        if not chart_first:
            EnginesMetricsComparisonCharts(x_axis_ref=trainer.n_samples_ref)
        trainer.run(max_epochs=3)
        tb.flush()
        points = Events(log_dir).scalars("epoch/loss", "val_evaluator")
        assert len(changes) == 1
        assert [x for x, _ in points] == [N_TRAIN, 2 * N_TRAIN, 3 * N_TRAIN]
        assert len({v for _, v in points}) == 1

    def test_an_ignite_engines_unchanged_metric_is_a_point_each_run(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """The same for an ignite metric attached to an IgniteEngine: a point per run."""
        from ignite.engine import Events as IgniteEvents
        from ignite.metrics import Average

        from nodes import IgniteEngine

        trainer = IgniteEngine(lambda e, b: b, state=state, name="trainer")
        evaluator = IgniteEngine(lambda e, b: b, state=state, name="val")
        Average().attach(evaluator, "avg")
        trainer.add_event_handler(IgniteEvents.EPOCH_COMPLETED, lambda e: evaluator.run([1.0, 3.0]))
        EnginesMetricsComparisonCharts(x_axis_ref=state.trainer.n_iteration_completed_ref)
        trainer.run([0, 0], max_epochs=3)
        tb.flush()
        points = Events(log_dir).scalars("epoch/avg", "val")
        assert points == [(2, 2.0), (4, 2.0), (6, 2.0)]

    def test_ignite_metrics_a_point_per_computation_only(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """Computed every second epoch (a filtered event): points there only; detached after
        epoch 4: no more points; a MetricGroup's keys and an evaluator run twice per epoch:
        a point per computation."""
        from ignite.engine import Events as IgniteEvents
        from ignite.metrics import Accuracy, Average, MetricGroup

        from nodes import IgniteEngine

        trainer = IgniteEngine(lambda e, b: b, state=state, name="trainer")
        sparse = IgniteEngine(lambda e, b: b, state=state, name="sparse")
        average = Average()
        sparse.add_event_handler(IgniteEvents.EPOCH_STARTED, average.started)
        sparse.add_event_handler(IgniteEvents.ITERATION_COMPLETED, average.iteration_completed)
        sparse.add_event_handler(IgniteEvents.EPOCH_COMPLETED(every=2), average.completed, "avg")
        group = IgniteEngine(lambda e, b: b, state=state, name="group")
        MetricGroup({"acc": Accuracy()}).attach(group, "g")
        twice = IgniteEngine(lambda e, b: b, state=state, name="twice")
        detached = Average()
        detached.attach(twice, "avg")
        logits = (torch.tensor([[0.9, 0.1], [0.9, 0.1]]), torch.tensor([0, 1]))

        @trainer.on(IgniteEvents.EPOCH_COMPLETED)
        def evaluate(engine: Any) -> None:
            group.run([logits])
            twice.run([1.0, 3.0])
            twice.run([1.0, 3.0])
            if engine.state.epoch == 2:
                detached.detach(twice)

        EnginesMetricsComparisonCharts(x_axis_ref=state.trainer.n_iteration_completed_ref)
        sparse.run([1.0, 3.0], max_epochs=6)
        trainer.run([0], max_epochs=4)
        tb.flush()
        events = Events(log_dir)
        assert [x for x, _ in events.scalars("epoch/avg", "sparse")] == [0, 0, 0]
        assert events.scalars("epoch/acc", "group") == [(1, 0.5), (2, 0.5), (3, 0.5), (4, 0.5)]
        assert events.scalars("epoch/avg", "twice") == [(1, 2.0), (1, 2.0), (2, 2.0), (2, 2.0)]

    def test_per_iteration_metric_on_its_own_chart(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """The trainer's running loss (a tensor every iteration) is tagged iteration/loss and
        charted alone; the chart 'loss' compares series of one density: the trainer's mean
        loss of each epoch with the evaluator's loss."""
        from ignite.metrics import Average, Loss, RunningAverage

        trainer = build(state, evaluators=(), n_metrics=0)
        Metric(trainer, Average(output_transform=lambda x: x), "loss")
        Metric(trainer, RunningAverage(output_transform=lambda x: x), "running_loss", "running")
        val = add_evaluator(state, trainer, "val_evaluator", seed=1)
        Metric(val, Loss(F.cross_entropy), "loss")
        EnginesMetricsComparisonCharts(trainer.n_samples_ref)
        trainer.run(max_epochs=2)
        events = Events(log_dir)
        steps = [BATCH * k for k in range(1, 7)]
        assert [s for s, _ in events.scalars("iteration/running_loss", "trainer")] == steps
        epochs = [N_TRAIN, 2 * N_TRAIN]
        assert [s for s, _ in events.scalars("epoch/loss", "trainer")] == epochs
        assert [s for s, _ in events.scalars("epoch/loss", "val_evaluator")] == epochs
        comparison = events.layout()["engines comparison"]
        assert comparison == {
            "loss": ["^epoch/loss$"],
            "loss (every iteration)": ["^iteration/running_loss$"],
        }
        assert list(comparison) == ["loss", "loss (every iteration)"]  # comparisons first
        assert events.lines(comparison["loss"]) == {
            ("trainer", "epoch/loss"),
            ("val_evaluator", "epoch/loss"),
        }
        assert events.lines(comparison["loss (every iteration)"]) == {
            ("trainer", "iteration/running_loss")
        }

    def test_four_engines_ten_metrics_same_two_calls(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """A trainer and 3 evaluators with 10 metrics each: 40 series, each written once,
        one comparison chart per metric holding every engine, from the same two calls."""
        evaluators = ("train_evaluator", "val_evaluator", "test_evaluator")
        trainer = build(state, evaluators, n_metrics=10, trainer_metrics=10)
        EnginesMetricsComparisonCharts(trainer.n_samples_ref, n_identical_metric_name_suffixes=1)
        EnginesMetricsCharts(trainer.n_samples_ref, n_identical_metric_name_suffixes=1)
        trainer.run(max_epochs=2)
        events = Events(log_dir)
        engines = ("trainer", *evaluators)
        metrics = [f"m{i}" for i in range(10)]
        expected = {(e, f"epoch/{m}") for m in metrics for e in engines}
        expected |= {(e, "time/epoch") for e in engines}
        assert events.series() == expected
        for run, tag in expected:
            assert [s for s, _ in events.scalars(tag, run)] == [N_TRAIN, 2 * N_TRAIN], (run, tag)
        # no scalar written twice: no two series hold the same points
        points = [tuple(events.scalars(t, r)) for r, t in expected if t.startswith("epoch/")]
        assert len(set(points)) == len(points) == 40
        layout = events.layout()
        assert set(layout) == {"engines comparison", *engines}
        assert layout["engines comparison"] == {m: [f"^epoch/{m}$"] for m in metrics}
        for m, regexes in layout["engines comparison"].items():
            assert events.lines(regexes) == {(e, f"epoch/{m}") for e in engines}
        for e in engines:
            assert layout[e] == {m: [f"^epoch/{m}$"] for m in metrics}
        # the layout references only tags that exist
        for charts in layout.values():
            for regexes in charts.values():
                assert all(events.lines([r]) for r in regexes)

    def test_metrics_added_after_the_call(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """Evaluators and metrics created after the chart call are charted too."""
        from ignite.metrics import Loss

        trainer = build(state, evaluators=("train_evaluator",), n_metrics=1)
        EnginesMetricsComparisonCharts(trainer.n_samples_ref)
        EnginesMetricsCharts(trainer.n_samples_ref)
        val = add_evaluator(state, trainer, "val_evaluator", seed=2)
        Metric(val, Loss(scaled_loss(1)), "m0")
        Metric(state.train_evaluator, Loss(scaled_loss(5)), "late")
        trainer.run(max_epochs=2)
        events = Events(log_dir)
        assert {
            ("val_evaluator", "epoch/m0"),
            ("train_evaluator", "epoch/late"),
            ("val_evaluator", "time/epoch"),
        } <= events.series()
        assert [s for s, _ in events.scalars("epoch/m0", "val_evaluator")] == [
            N_TRAIN,
            2 * N_TRAIN,
        ]
        layout = events.layout()
        assert events.lines(layout["engines comparison"]["m0"]) == {
            ("train_evaluator", "epoch/m0"),
            ("val_evaluator", "epoch/m0"),
        }
        assert layout["engines comparison"]["late"] == ["^epoch/late$"]
        assert layout["val_evaluator"] == {"m0": ["^epoch/m0$"]}

    def test_engine_and_metrics_all_after_the_call(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """A chart call on a state with no engine yet (x axis a config counter) charts the
        engines and metrics created later."""
        from ignite.metrics import Average

        state.configs.step = 0
        EnginesMetricsComparisonCharts(state.configs.step_ref)
        engine = Engine(
            state, "engine", lambda engine, batch: batch, [torch.tensor(1.0), torch.tensor(3.0)]
        )
        Metric(engine, Average(), "mean")
        state.configs.step = 7
        engine.run()
        assert Events(log_dir).scalars("epoch/mean", "engine") == [(7, 2.0)]

    def test_dict_metric_variables_created_at_first_compute(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """A metric returning a dict creates its variables when it first computes; they
        are charted from that first value on."""
        from ignite.metrics import Metric as IgniteMetric

        class Counts(IgniteMetric):
            def reset(self) -> None:
                self.n = 0

            def update(self, output: Any) -> None:
                self.n += 1

            def compute(self) -> dict[str, float]:
                return {"a_count": float(self.n), "b_count": 2.0 * self.n}

        engine = Engine(state, "ev", lambda engine, batch: batch, [1, 2, 3])
        EnginesMetricsComparisonCharts(engine.n_iteration_completed_ref)
        Metric(engine, Counts(), "counts")
        engine.run()
        events = Events(log_dir)
        assert events.scalars("epoch/a_count", "ev") == [(3, 3.0)]
        assert events.scalars("epoch/b_count", "ev") == [(3, 6.0)]
        assert events.layout()["engines comparison"] == {
            "count": ["^epoch/a_count$", "^epoch/b_count$"]
        }

    def test_group_by_two_suffixes(self, state: State, tb: TensorBoard, log_dir: Path) -> None:
        """n_identical_metric_name_suffixes=2 groups on the last two tokens of the name."""
        from ignite.metrics import Loss

        trainer = build(state, evaluators=("val_evaluator",), n_metrics=0)
        for name in ("top_1", "top_5"):
            Metric(state.val_evaluator, Loss(scaled_loss(1)), name)
        EnginesMetricsComparisonCharts(trainer.n_samples_ref, n_identical_metric_name_suffixes=2)
        trainer.run(max_epochs=1)
        assert Events(log_dir).layout()["engines comparison"] == {
            "top_1": ["^epoch/top_1$"],
            "top_5": ["^epoch/top_5$"],
        }

    def test_metrics_sharing_a_group(self, state: State, tb: TensorBoard, log_dir: Path) -> None:
        """Metrics of one group with other names (two of one engine, and another engine's)
        keep a tag each, all in the group's chart."""
        from ignite.metrics import Loss

        trainer = build(state, evaluators=EVALUATORS, n_metrics=0)
        for k, name in ((1, "top_1_loss"), (5, "top_5_loss")):
            Metric(state.val_evaluator, Loss(scaled_loss(k)), name)
        Metric(state.train_evaluator, Loss(scaled_loss(1)), "loss")
        EnginesMetricsComparisonCharts(trainer.n_samples_ref)
        trainer.run(max_epochs=2)
        events = Events(log_dir)
        lines = {
            ("val_evaluator", "epoch/top_1_loss"),
            ("val_evaluator", "epoch/top_5_loss"),
            ("train_evaluator", "epoch/loss"),
        }
        assert {(r, t) for r, t in events.series() if t.startswith("epoch/")} == lines
        assert events.lines(events.layout()["engines comparison"]["loss"]) == lines
        one, five = (events.scalars(f"epoch/top_{k}_loss", "val_evaluator") for k in (1, 5))
        assert [v * 5 for _, v in one] == pytest.approx([v for _, v in five], rel=1e-5)

    def test_no_metric_ever_warns(self, state: State, tb: TensorBoard) -> None:
        """A chart call with no metric, before or after it, warns once an engine run completes."""
        state.configs.step = 0
        EnginesMetricsComparisonCharts(state.configs.step_ref)
        engine = Engine(state, "engine", lambda engine, batch: batch, [1, 2])
        with pytest.warns(
            UserWarning, match="found no metric under state.metrics after an engine run"
        ):
            engine.run()

    def test_no_warning_when_metrics_exist(self, state: State, tb: TensorBoard) -> None:
        """With a metric there is no warning (warnings are errors here)."""
        import warnings

        trainer = build(state, evaluators=("val_evaluator",), n_metrics=1)
        EnginesMetricsComparisonCharts(trainer.n_samples_ref)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            trainer.run(max_epochs=1)


class TestEnginesMetricsCharts:
    def test_one_ref_for_every_engine(self, state: State, tb: TensorBoard, log_dir: Path) -> None:
        """One category per engine, a chart per metric referencing the engine's tag, x = the
        one ref."""
        trainer = build(state, n_metrics=2, trainer_metrics=1)
        charts = EnginesMetricsCharts(trainer.n_samples_ref)
        trainer.run(max_epochs=2)
        events = Events(log_dir)
        series = {("trainer", "epoch/m0")} | {
            (e, f"epoch/m{i}") for e in EVALUATORS for i in range(2)
        }
        assert {(r, t) for r, t in events.series() if t.startswith("epoch/")} == series
        for run, tag in series:
            assert [s for s, _ in events.scalars(tag, run)] == [N_TRAIN, 2 * N_TRAIN]
        assert events.layout() == {
            "trainer": {"m0": ["^epoch/m0$"]},
            "train_evaluator": {"m0": ["^epoch/m0$"], "m1": ["^epoch/m1$"]},
            "val_evaluator": {"m0": ["^epoch/m0$"], "m1": ["^epoch/m1$"]},
        }
        assert charts.n_metrics == 5

    def test_variables_named_nodes_or_variables(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """Variables named ``nodes`` or ``variables`` (which hide the containers'
        methods of those names) do not stop the charts from finding the metrics."""
        state.metrics.variables = 0.5
        for container in (state.handlers, state.engines, state.writers):
            container.nodes = 0
        trainer = build(state, n_metrics=1, trainer_metrics=1)
        charts = EnginesMetricsCharts(trainer.n_samples_ref)
        trainer.run(max_epochs=1)
        series = {(e, "epoch/m0") for e in ("trainer", *EVALUATORS)}
        assert {(r, t) for r, t in Events(log_dir).series() if t.startswith("epoch/")} == series
        assert charts.n_metrics == 4  # metrics.variables is charted too, under its own name

    def test_a_ref_per_engine(self, state: State, tb: TensorBoard, log_dir: Path) -> None:
        """A dict gives each engine its x axis; engines missing from it use the first ref."""
        trainer = build(state, n_metrics=1, trainer_metrics=1)
        EnginesMetricsCharts(
            {
                "trainer": trainer.n_epoch_completed_ref,
                "val_evaluator": state.val_evaluator.n_samples_ref,
            }
        )
        trainer.run(max_epochs=3)
        events = Events(log_dir)
        assert [s for s, _ in events.scalars("epoch/m0", "trainer")] == [1, 2, 3]
        assert [s for s, _ in events.scalars("epoch/m0", "val_evaluator")] == [
            N_VAL,
            2 * N_VAL,
            3 * N_VAL,
        ]
        # train_evaluator runs inside trainer.n_epoch_completed, so the first ref reads 1, 2, 3
        assert [s for s, _ in events.scalars("epoch/m0", "train_evaluator")] == [1, 2, 3]

    def test_another_x_axis_than_the_comparison_is_another_series(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """Both calls on one x axis share every series; an engine given another x axis gets
        a second series of its own tag, .../by_<x axis>, not a copy at the same x."""
        trainer = build(state, evaluators=("val_evaluator",), n_metrics=1)
        EnginesMetricsComparisonCharts(trainer.n_samples_ref)
        EnginesMetricsCharts({"val_evaluator": state.val_evaluator.n_samples_ref})
        trainer.run(max_epochs=2)
        events = Events(log_dir)
        assert events.scalar_tags("val_evaluator") == {
            "epoch/m0",
            "epoch/m0/by_n_samples",
            "time/epoch",
        }
        assert [s for s, _ in events.scalars("epoch/m0", "val_evaluator")] == [
            N_TRAIN,
            2 * N_TRAIN,
        ]
        by_own = events.scalars("epoch/m0/by_n_samples", "val_evaluator")
        assert [s for s, _ in by_own] == [N_VAL, 2 * N_VAL]
        assert events.layout()["val_evaluator"] == {"m0/by_n_samples": ["^epoch/m0/by_n_samples$"]}

    def test_unknown_engine_in_dict(self, state: State, tb: TensorBoard) -> None:
        """A dict naming an engine that does not exist is refused with a suggestion."""
        trainer = build(state, n_metrics=0)
        with pytest.raises(ValueError, match=r"do not exist: \['val_evaluater'\].*val_evaluator"):
            EnginesMetricsCharts({"val_evaluater": trainer.n_samples_ref})

    def test_empty_dict(self, state: State, tb: TensorBoard) -> None:
        """An empty dict is refused."""
        with pytest.raises(ValueError, match="empty dict"):
            EnginesMetricsCharts({})


class TestExpectedScalars:
    def test_epoch_time_of_every_engine(self, state: State, tb: TensorBoard, log_dir: Path) -> None:
        """Each engine's epoch time (seconds, its epoch_time variable) is logged in its run
        at the training's x axis, without asking."""
        trainer = build(state, evaluators=("val_evaluator",), n_metrics=1)
        EnginesMetricsComparisonCharts(trainer.n_samples_ref)
        times = record(state.val_evaluator.epoch_time_ref, trainer.n_samples_ref)
        trainer.run(max_epochs=2)
        events = Events(log_dir)
        for run in ("trainer", "val_evaluator"):
            got = events.scalars("time/epoch", run)
            assert [s for s, _ in got] == [N_TRAIN, 2 * N_TRAIN]
            assert all(0.0 < v < 60.0 for _, v in got)
        assert_close(events.scalars("time/epoch", "val_evaluator"), times)

    @pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step")
    def test_learning_rates_of_every_scheduler(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """Each LRScheduler's rates are logged in the x axis engine's run as lr/<name> (one
        tag per param group when there are several): at the start, at every epoch's end and
        when they change, at the training's x axis."""
        from nodes import LRScheduler

        trainer = build(state, evaluators=("val_evaluator",), n_metrics=1)
        EnginesMetricsComparisonCharts(trainer.n_samples_ref)
        step_lr = torch.optim.lr_scheduler.StepLR(trainer.optimizer, step_size=2, gamma=0.5)
        LRScheduler(state, step_lr, trainer.n_epoch_completed_ref, name="decay")
        model = nn.Linear(2, 1)
        two_groups = torch.optim.SGD(
            [{"params": [model.weight], "lr": 1.0}, {"params": [model.bias], "lr": 2.0}]
        )
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(two_groups, T_max=6)
        LRScheduler(state, cosine, trainer.n_iteration_completed_ref, name="cosine")
        trainer.run(max_epochs=3)
        events = Events(log_dir)
        decay = events.scalars("lr/decay", "trainer")
        assert [s for s, _ in decay] == [0, N_TRAIN, 2 * N_TRAIN, 2 * N_TRAIN, 3 * N_TRAIN]
        assert [v for _, v in decay] == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05])
        for group, first in ((0, 1.0), (1, 2.0)):
            got = events.scalars(f"lr/cosine/group_{group}", "trainer")
            assert got[0] == (0, pytest.approx(first))
            assert [s for s, _ in got] == [0, *[BATCH * k for k in range(1, 10)]]
            expected = [first * (1 + math.cos(math.pi * (k % 12) / 6)) / 2 for k in range(10)]
            assert [v for _, v in got] == pytest.approx(expected, abs=1e-6)


class TestHistograms:
    def test_parameters_and_gradients_on_a_trigger(
        self, state: State, tb: TensorBoard, log_dir: Path
    ) -> None:
        """Opt in: histograms of every parameter and gradient in the trigger engine's run,
        at each epoch's end, at the x axis."""
        trainer = build(state, evaluators=(), n_metrics=0)
        hist = Histograms(
            trainer.n_epoch_completed_ref, trainer.model, x_axis_ref=trainer.n_samples_ref
        )
        trainer.run(max_epochs=2)
        acc = Events(log_dir).runs["trainer"]
        tags = {
            f"{kind}/{name}" for kind in ("parameters", "gradients") for name in ("weight", "bias")
        }
        assert set(acc.Tags()["histograms"]) == tags
        for tag in tags:
            assert [e.step for e in acc.Histograms(tag)] == [N_TRAIN, 2 * N_TRAIN]
        weights = acc.Histograms("parameters/weight")[-1].histogram_value
        assert weights.num == 12
        assert weights.min == pytest.approx(float(trainer.model.weight.detach().min()))
        assert hist.n_points == 2

    def test_without_gradients(self, state: State, tb: TensorBoard, log_dir: Path) -> None:
        """gradients=False logs the parameters only."""
        trainer = build(state, evaluators=(), n_metrics=0)
        Histograms(trainer.n_epoch_completed_ref, trainer.model, gradients=False)
        trainer.run(max_epochs=1)
        tags = set(Events(log_dir).runs["trainer"].Tags()["histograms"])
        assert tags == {"parameters/weight", "parameters/bias"}

    def test_not_a_module(self, state: State, tb: TensorBoard) -> None:
        """A model that is not a module is refused."""
        trainer = build(state, evaluators=(), n_metrics=0)
        with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module, got dict"):
            Histograms(trainer.n_epoch_completed_ref, {"weight": torch.ones(2)})


# Bad input ------------------------------------------------------------------------------


CHART_CALLS = [
    pytest.param(EnginesMetricsComparisonCharts, id="comparison"),
    pytest.param(EnginesMetricsCharts, id="per-engine"),
]


class TestBadInput:
    @pytest.mark.parametrize("call", CHART_CALLS)
    @pytest.mark.parametrize(
        ("x_axis", "error", "match"),
        [
            (
                lambda s: s.trainer.batch_ref,
                TypeError,
                "x axis engines.trainer.batch must hold an int.*NoneType",
            ),
            (lambda s: s.configs.lr_ref, TypeError, "configs.lr must hold an int.*float 0.1"),
            (lambda s: s.configs.flag_ref, TypeError, "configs.flag must hold an int.*bool"),
            (lambda s: "engines.trainer.n_samples", TypeError, "must be a Ref such as"),
            (lambda s: s.trainer.n_samples, TypeError, "must be a Ref such as"),
        ],
    )
    def test_x_axis_not_a_number(
        self, state: State, tb: TensorBoard, call: Any, x_axis: Any, error: type, match: str
    ) -> None:
        """An x axis that is not a Ref holding an int is refused, saying which ref and value."""
        build(state, n_metrics=1)
        state.configs.lr = 0.1
        state.configs.flag = True
        with pytest.raises(error, match=match):
            call(x_axis(state))

    @pytest.mark.parametrize("call", CHART_CALLS)
    @pytest.mark.parametrize("n", [0, -1, 1.0, None])
    def test_suffix_count(self, state: State, tb: TensorBoard, call: Any, n: Any) -> None:
        """A suffix count that is not a positive integer is refused."""
        trainer = build(state, n_metrics=1)
        with pytest.raises(
            ValueError, match="n_identical_metric_name_suffixes must be a positive integer"
        ):
            call(trainer.n_samples_ref, n_identical_metric_name_suffixes=n)

    @pytest.mark.parametrize(
        "call",
        [
            *CHART_CALLS,
            pytest.param(lambda ref: ScalarChart(ref, [ref]), id="scalar"),
        ],
    )
    def test_chart_before_writer(self, state: State, call: Any) -> None:
        """A chart call before any TensorBoard writer says how to create one."""
        state.configs.step = 0
        with pytest.raises(
            ValueError, match=r"needs a TensorBoard writer.*TensorBoard\(state, log_dir="
        ):
            call(state.configs.step_ref)

    def test_max_pending(self, state: State, log_dir: Path) -> None:
        """max_pending must be a positive integer."""
        with pytest.raises(ValueError, match="max_pending must be a positive integer, got 0"):
            TensorBoard(state, log_dir, max_pending=0)


def test_metric_groups() -> None:
    """Engine and group of metric names: the longest engine prefix, the last n tokens."""
    names = ["val_evaluator_accuracy", "trainer_loss", "val_evaluator_top_5", "orphan_metric"]
    engines = ["trainer", "val", "val_evaluator"]
    assert metric_groups(names, engines) == {
        "val_evaluator_accuracy": ("val_evaluator", "accuracy"),
        "trainer_loss": ("trainer", "loss"),
        "val_evaluator_top_5": ("val_evaluator", "5"),
        "orphan_metric": ("orphan", "metric"),
    }
    assert metric_groups(names[2:3], engines, 2) == {
        "val_evaluator_top_5": ("val_evaluator", "top_5")
    }


# No host-device synchronisation per iteration ------------------------------------------------


class TestNoSynchronisation:
    CONVERSIONS = ("item", "tolist", "cpu", "__float__", "numpy")

    def test_values_converted_only_in_flush(
        self, state: State, log_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """During the iterations no logged tensor becomes a number: every conversion happens
        in flush(), once per flush for all queued tensors."""
        from ignite.metrics import RunningAverage

        tb = TensorBoard(state, log_dir, log_graph=False)
        trainer = build(state, evaluators=(), n_metrics=0)
        Metric(trainer, RunningAverage(output_transform=lambda x: x), "loss", usage="running")
        EnginesMetricsComparisonCharts(trainer.n_samples_ref)
        EnginesMetricsCharts(trainer.n_samples_ref)
        ScalarChart(trainer.n_iteration_completed_ref, [trainer.output_ref], tags=["batch_loss"])

        flush_code = TensorBoard.flush.__code__
        calls: list[tuple[str, bool]] = []  # (method, called from flush)

        def from_flush() -> bool:
            frame = sys._getframe(2)
            while frame is not None:
                if frame.f_code is flush_code:
                    return True
                frame = frame.f_back
            return False

        for method in self.CONVERSIONS:
            original = getattr(torch.Tensor, method)

            def counted(
                self: torch.Tensor, *args: Any, _m: str = method, _f: Any = original, **kw: Any
            ) -> Any:
                calls.append((_m, from_flush()))
                return _f(self, *args, **kw)

            monkeypatch.setattr(torch.Tensor, method, counted)
        trainer.run(max_epochs=2)
        monkeypatch.undo()

        assert [c for c in calls if not c[1]] == []  # nothing outside flush
        # the running loss and the batch loss at 6 iterations, the epoch time twice
        assert tb.n_scalars_written == 2 * 6 + 2
        # Inside flush: one transfer per flush that had tensors, whatever their number.
        assert [m for m, _ in calls] == ["tolist"] * 2
        tb.close()
        events = Events(log_dir)
        assert len(events.scalars("batch_loss", "trainer")) == 6

    def test_tensors_stay_tensors_until_flush(self, state: State, tb: TensorBoard) -> None:
        """Queued values are the tensors themselves (no copy to the host)."""
        state.configs.step = 0
        state.configs.value = torch.tensor(0.0)
        ScalarChart(state.configs.step_ref, ["configs.value"])
        value = torch.tensor(2.5)
        state.configs.value = value
        state.configs.step = 1
        assert tb._pending[0][2] is value
        tb.flush()
        assert tb._pending == []


@needs_cuda
def test_cuda_one_sync_per_flush(tmp_path: Path) -> None:
    """On a CUDA device, 8 iterations charted twice each cost one synchronisation: the
    epoch's flush, which copies all queued values at once."""
    from ignite.metrics import RunningAverage

    data = [torch.full((4,), float(i), device="cuda") for i in range(8)]
    state = State()
    tb = TensorBoard(state, tmp_path / "tb", log_graph=False)
    engine = Engine(state, "engine", lambda engine, batch: batch.mean(), data)
    Metric(
        engine,
        RunningAverage(output_transform=lambda x: x, device="cuda"),
        "loss",
        usage="running",
    )
    EnginesMetricsComparisonCharts(engine.n_iteration_completed_ref)
    ScalarChart(engine.n_iteration_completed_ref, [engine.output_ref], tags=["mean"])
    engine.run()  # warm up the kernels outside the count
    assert count_syncs(engine.run) == 1
    assert tb.n_scalars_written == 2 * 2 * len(data) + 2  # and the epoch time of each run
    tb.close()
    assert Events(tmp_path / "tb").scalars("mean", "engine")[-1] == (8, 7.0)
