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
from chromium_setup import CHROMIUM, FLAGS
from tensorboard_browser import (
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


class Dashboards:
    """What the browser saw: the line charts of each dashboard, and every request the pages
    made to another host than the TensorBoard server (refused: the dashboards work offline)."""

    def __init__(self) -> None:
        self.charts: dict[str, list[dict[str, Any]]] = {}
        self.elsewhere: list[str] = []


WANTED = {  # dashboard -> the charts to wait for: (category, title)
    "custom_scalars": {
        ("engines comparison", title) for title in ("accuracy", "loss", "loss (every iteration)")
    },
    "scalars": {("epoch", "epoch/accuracy"), ("epoch", "epoch/loss")},
}


@pytest.fixture(scope="module")
def dashboards(log_dir: Path) -> Dashboards:
    """The Custom Scalars and Scalars dashboards, each in a fresh browser profile."""
    from playwright.sync_api import Route, sync_playwright

    seen = Dashboards()
    with tensorboard_server(log_dir) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)

        def only_tensorboard(route: Route) -> None:
            if route.request.url.startswith(url + "/"):
                route.continue_()
            else:
                seen.elsewhere.append(route.request.url)
                route.abort()

        for dashboard, wanted in WANTED.items():
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.route("**/*", only_tensorboard)
            page.goto(f"{url}/#{dashboard}")
            seen.charts[dashboard] = read_charts(page, wanted)
            context.close()
        browser.close()
    return seen


def chart(dashboards: Dashboards, dashboard: str, category: str, title: str) -> dict[str, Any]:
    charts = dashboards.charts[dashboard]
    (found,) = [c for c in charts if (c["category"], c["title"]) == (category, title)]
    return found


def comparison(dashboards: Dashboards, title: str) -> dict[str, Any]:
    return chart(dashboards, "custom_scalars", "engines comparison", title)


class TestCustomScalars:
    def test_accuracy_chart_has_one_series_per_evaluator(self, dashboards: Dashboards) -> None:
        """With the default settings (outliers ignored, smoothing 0.6), the comparison chart of
        accuracy draws a series per evaluator, named by its run, each in its own colour, with
        a point per epoch at the trainer's samples."""
        accuracy = comparison(dashboards, "accuracy")
        assert (accuracy["ignoreOutliers"], accuracy["smoothing"]) == (True, pytest.approx(0.6))
        names = {s["name"] for s in accuracy["series"]}
        assert names == {
            "epoch/accuracy (train_evaluator)",
            "epoch/accuracy (val_evaluator)",
        }
        assert len({s["color"] for s in accuracy["series"]}) == 2
        for series in accuracy["series"]:
            assert [p[0] for p in series["points"]] == [1400 * e for e in range(1, EPOCHS + 1)]

    def test_loss_chart_compares_the_three_engines_per_epoch(self, dashboards: Dashboards) -> None:
        """The comparison chart of loss holds the trainer's mean loss of each epoch and the
        evaluators' losses, three colours; the running loss has a chart of its own."""
        loss = comparison(dashboards, "loss")
        assert {s["name"] for s in loss["series"]} == {
            f"epoch/loss ({run})" for run in ("trainer", "train_evaluator", "val_evaluator")
        }
        assert len({s["color"] for s in loss["series"]}) == 3
        assert all(len(s["points"]) == EPOCHS for s in loss["series"])
        running = comparison(dashboards, "loss (every iteration)")
        assert [s["name"] for s in running["series"]] == ["iteration/running_loss (trainer)"]
        assert len(running["series"][0]["points"]) == EPOCHS * 22  # 1400 samples, batches of 64


class TestScalars:
    def test_engines_overlaid_per_tag_in_their_colours(self, dashboards: Dashboards) -> None:
        """The plain Scalars page draws the shared tag epoch/accuracy once per evaluator's run,
        in the colours Custom Scalars gives those runs."""
        accuracy = chart(dashboards, "scalars", "epoch", "epoch/accuracy")
        colours = {s["name"]: s["color"] for s in accuracy["series"]}
        assert set(colours) == {'["_default","train_evaluator"]', '["_default","val_evaluator"]'}
        custom = {s["name"]: s["color"] for s in comparison(dashboards, "accuracy")["series"]}
        for run in ("train_evaluator", "val_evaluator"):
            assert colours[f'["_default","{run}"]'] == custom[f"epoch/accuracy ({run})"]
        assert len(chart(dashboards, "scalars", "epoch", "epoch/loss")["series"]) == 3


def test_dashboards_work_offline(dashboards: Dashboards) -> None:
    """The pages asked nothing of any host but the TensorBoard server."""
    assert dashboards.elsewhere == []
