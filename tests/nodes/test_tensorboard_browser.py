"""The charts as a user sees them: a real TensorBoard server, its dashboard opened in
headless Chromium with TensorBoard's default settings, and what the line charts draw."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from nodes import EnginesMetricsCharts, EnginesMetricsComparisonCharts, TensorBoard
from nodes.compose import supervised_training
from pipeline import State

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs"))
from tensorboard_browser import (
    CHROMIUM,
    CHROMIUM_FLAGS,
    read_charts,
    tensorboard_server,
)

pytest.importorskip("playwright.sync_api", reason="needs the playwright package (dev extra)")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(),
        reason=f"needs Chromium at {CHROMIUM} (Debian: apt-get install chromium)",
    ),
]
EPOCHS = 3


@pytest.fixture(scope="module")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three epochs of the three-engine training on digits, charted by the two calls."""
    from sklearn.datasets import load_digits
    from torch.utils.data import DataLoader, TensorDataset

    digits = load_digits()
    data = TensorDataset(
        torch.tensor(digits.data, dtype=torch.float32) / 16.0, torch.tensor(digits.target)
    )
    train, val = torch.utils.data.random_split(data, [1400, 397], torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    state = supervised_training(
        State(),
        model,
        torch.optim.SGD(model.parameters(), lr=0.1),
        nn.CrossEntropyLoss(),
        DataLoader(train, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0)),
        DataLoader(val, batch_size=200),
        progress=False,
    )
    path = tmp_path_factory.mktemp("tb")
    with TensorBoard(state, path, log_graph=False):
        EnginesMetricsComparisonCharts(
            x_axis_ref=state.trainer.n_samples_ref, n_identical_metric_name_suffixes=1
        )
        EnginesMetricsCharts(
            x_axes_refs=state.trainer.n_samples_ref, n_identical_metric_name_suffixes=1
        )
        state.trainer.run(max_epochs=EPOCHS)
    return path


@pytest.fixture(scope="module")
def custom_scalars(log_dir: Path) -> list[dict[str, Any]]:
    """The line charts of the Custom Scalars dashboard, in a fresh browser profile."""
    from playwright.sync_api import sync_playwright

    with tensorboard_server(log_dir) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/#custom_scalars")
        titles = ("accuracy", "loss", "loss (every iteration)")
        charts = read_charts(page, {("engines comparison", title) for title in titles})
        browser.close()
    return charts


def comparison(charts: list[dict[str, Any]], title: str) -> dict[str, Any]:
    (chart,) = [c for c in charts if c["category"] == "engines comparison" and c["title"] == title]
    return chart


class TestCustomScalars:
    def test_accuracy_chart_has_one_series_per_evaluator(
        self, custom_scalars: list[dict[str, Any]]
    ) -> None:
        """With the default settings (outliers ignored, smoothing 0.6), the comparison chart of
        accuracy draws a series per evaluator, named by its run, each in its own colour, with
        a point per epoch at the trainer's samples."""
        chart = comparison(custom_scalars, "accuracy")
        assert (chart["ignoreOutliers"], chart["smoothing"]) == (True, pytest.approx(0.6))
        names = {s["name"] for s in chart["series"]}
        assert names == {
            "epoch/accuracy (train_evaluator)",
            "epoch/accuracy (val_evaluator)",
        }
        assert len({s["color"] for s in chart["series"]}) == 2
        for series in chart["series"]:
            assert [p[0] for p in series["points"]] == [1400 * e for e in range(1, EPOCHS + 1)]

    def test_loss_chart_compares_the_three_engines_per_epoch(
        self, custom_scalars: list[dict[str, Any]]
    ) -> None:
        """The comparison chart of loss holds the trainer's mean loss of each epoch and the
        evaluators' losses, three colours; the running loss has a chart of its own."""
        chart = comparison(custom_scalars, "loss")
        assert {s["name"] for s in chart["series"]} == {
            f"epoch/loss ({run})" for run in ("trainer", "train_evaluator", "val_evaluator")
        }
        assert len({s["color"] for s in chart["series"]}) == 3
        assert all(len(s["points"]) == EPOCHS for s in chart["series"])
        running = comparison(custom_scalars, "loss (every iteration)")
        assert [s["name"] for s in running["series"]] == ["iteration/running_loss (trainer)"]
        assert len(running["series"][0]["points"]) == EPOCHS * 22  # 1400 samples, batches of 64
