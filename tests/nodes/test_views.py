"""The views of a real state: the three-engine training of ``supervised_training``
with TensorBoard and its charts (the README's example), at every level of
detail, focused, explained, and drawn."""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from nodes import supervised_training
from nodes.tensorboard import EnginesMetricsCharts, EnginesMetricsComparisonCharts, TensorBoard
from pipeline import GraphError, State

MakeMlp = Callable[..., nn.Module]
MakeLoader = Callable[..., DataLoader]
ACCURACY = "metrics.val_evaluator_accuracy"


def three_engines(
    make_mlp: MakeMlp, make_loader: MakeLoader, log_dir: Path, **kwargs: Any
) -> State:
    """The example's state: trainer, two evaluators, metrics, TensorBoard and charts."""
    state = State()
    model = make_mlp(0)
    supervised_training(
        state,
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        nn.CrossEntropyLoss(),
        make_loader(0, 256),
        make_loader(1, 512, False),
        progress_file=io.StringIO(),
        **kwargs,
    )
    TensorBoard(state, log_dir=log_dir, log_graph=False)
    EnginesMetricsComparisonCharts(x_axis_ref=state.trainer.n_samples_ref)
    EnginesMetricsCharts(x_axes_refs=state.trainer.n_samples_ref)
    return state


@pytest.fixture
def trained(make_mlp: MakeMlp, make_loader: MakeLoader, tmp_path: Path) -> State:
    """The example's state after two epochs, the evaluators on every=3."""
    state = three_engines(make_mlp, make_loader, tmp_path / "tb", eval_every=3)
    state.trainer.run(max_epochs=2)
    return state


class TestLevels:
    def test_nodes_level_is_small(self, trained: State) -> None:
        """The default level draws the example in at most 30 boxes; the writers fold into one."""
        model = trained.view_model()
        assert model["level"] == "nodes"
        assert len(model["boxes"]) <= 30
        ids = {b["id"] for b in model["boxes"]}
        assert {"engines.trainer", "engines.val_evaluator", "writers"} <= ids
        writers = next(b for b in model["boxes"] if b["id"] == "writers")
        assert "writers.tensorboard" in writers["members"]
        assert not any(i.startswith("structure.") for i in ids)
        json.dumps(model)  # plain data

    def test_edges_merge_per_box_pair_and_kind(self, trained: State) -> None:
        """One trigger edge from the trainer to an evaluator, with its variable and filter."""
        edges = [
            e
            for e in trained.view_model()["edges"]
            if (e["source"], e["target"], e["kind"])
            == ("engines.trainer", "engines.val_evaluator", "triggers")
        ]
        assert len(edges) == 1
        assert edges[0]["variables"] == ["engines.trainer.n_epoch_completed"]
        assert edges[0]["filters"] == ["every=3"]
        assert edges[0]["label"] == "n_epoch_completed [every=3]"

    def test_levels_nest(self, trained: State) -> None:
        """Fewer boxes at the containers level, more at the variables level."""
        sizes = [
            len(trained.view_model(level)["boxes"])
            for level in ("containers", "nodes", "variables")
        ]
        assert sizes[0] < sizes[1] < sizes[2]


class TestFocus:
    def test_accuracy_depth_one(self, trained: State) -> None:
        """Around the accuracy at depth 1: at most 12 boxes, its writer among them."""
        model = trained.view_model(focus=ACCURACY, depth=1)
        ids = {b["id"] for b in model["boxes"]}
        assert len(ids) <= 12
        assert ACCURACY in ids and "handlers.val_evaluator_accuracy_metric" in ids
        assert model["focus"] == ACCURACY
        assert "engines.trainer" not in ids  # two edges upstream

    def test_depth_two_reaches_further(self, trained: State) -> None:
        """Depth 2 adds what triggers the writer: the evaluator."""
        ids = {b["id"] for b in trained.view_model(focus=ACCURACY, depth=2)["boxes"]}
        assert "engines.val_evaluator" in ids

    def test_focus_on_the_metrics_container(self, trained: State) -> None:
        """The metrics fold into their metric nodes; a focus on the container starts there."""
        ids = {b["id"] for b in trained.view_model(focus="metrics", depth=0)["boxes"]}
        assert "handlers.val_evaluator_accuracy_metric" in ids
        assert "engines.trainer" not in ids


class TestWriters:
    def test_accuracy_has_one_writer(self, trained: State) -> None:
        """The loss metric orders the group but does not write the accuracy."""
        assert trained.writers_of(ACCURACY) == ["handlers.val_evaluator_accuracy_metric"]

    def test_validate_is_clean(self, trained: State) -> None:
        """The metric group's ordering edges make no trigger cycle."""
        trained.validate()

    def test_bad_callback_reports_one_cycle(self, trained: State) -> None:
        """A callback writing back into the trainer is one trigger cycle, reported once."""

        @trained.on(ACCURACY, writes=["engines.trainer.n_epoch_completed"])
        def rewind() -> None: ...

        with pytest.raises(GraphError) as info:
            trained.validate()
        cycles = [p for p in info.value.problems if p.startswith("trigger cycle")]
        assert len(cycles) == 1
        assert cycles[0].startswith(f"trigger cycle that can loop forever: {ACCURACY} -> ")
        assert "rewind" in cycles[0]


class TestExplain:
    def test_evaluator_every_three_after_two_epochs(self, trained: State) -> None:
        """Why did the evaluator not run: every=3, fired 0 of 2."""
        text = trained.explain("trainer.n_epoch_completed")
        line = next(x for x in text.splitlines() if x.strip().startswith("engines.val_evaluator"))
        assert "every=3" in line and "fired 0 of 2" in line
        assert text.startswith("engines.trainer.n_epoch_completed = 2")

    def test_accuracy_writers_and_ordering_only(self, trained: State) -> None:
        """The accuracy's writer, and the loss metric marked as ordering only."""
        trained.val_evaluator.run()
        text = trained.explain(ACCURACY)
        assert "handlers.val_evaluator_accuracy_metric (declared)" in text
        assert "handlers.val_evaluator_loss_metric (ordering only" in text
        assert "last writer: val_evaluator_accuracy_metric (Metric)" in text


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not on PATH")
class TestPicture:
    def test_default_picture_is_compact(self, trained: State, tmp_path: Path) -> None:
        """The default SVG keeps 11 pt text and stays within about two screens."""
        svg = trained.render(tmp_path / "graph.svg").read_text()
        width, height = (float(x) for x in _size(svg))
        assert width * height < 2 * (1400 * 900) * 0.75**2  # pt: two 1400x900 px screens
        assert "val_evaluator: Evaluator" in svg and "every=3" in svg


def _size(svg: str) -> tuple[str, str]:
    import re

    found = re.search(r'width="([\d.]+)pt" height="([\d.]+)pt"', svg)
    assert found is not None
    return found.group(1), found.group(2)


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not on PATH")
def test_tensorboard_logs_the_nodes_level(
    make_mlp: MakeMlp, make_loader: MakeLoader, tmp_path: Path
) -> None:
    """The graph image in TensorBoard is the nodes level, at the size dot draws it."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    state = three_engines(make_mlp, make_loader, tmp_path / "tb")
    tb = state.tensorboard
    tb.log_state(step=0)
    drawn = state.render(tmp_path / "nodes.png").read_bytes()  # the same state, drawn here
    tb.close()
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0})
    acc.Reload()
    image = acc.Images("state/graph")[0]
    width, height = int.from_bytes(drawn[16:20], "big"), int.from_bytes(drawn[20:24], "big")
    assert (image.width, image.height) == (width, height)
    assert image.width >= 800  # 11 pt text at 96 dpi: readable at the image's own size
