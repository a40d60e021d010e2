"""examples/mlflow_tracking.py runs offline and its MLflow run holds every engine's records."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.examples.test_examples import run_example


def test_logs_three_engines_to_mlflow(tmp_path: Path) -> None:
    """Two epochs log the loss, the learning rate and both evaluators' metrics, read back by MLflow."""
    pytest.importorskip("mlflow", reason="the trackers extra installs mlflow-skinny")
    out = run_example(
        "mlflow_tracking.py", "--epochs", "2", "--output-dir", str(tmp_path), cwd=tmp_path
    )
    counts = dict(re.findall(r"^(.+?): (\d+) values", out, re.M))
    assert counts == {
        "lr group_0": "2",
        "train accuracy": "2",
        "train loss": "2",
        "training running_loss": "4",  # 23 iterations an epoch, every 10th
        "validation accuracy": "2",
        "validation loss": "2",
    }, out
    accuracy = float(re.search(r"validation accuracy: 2 values, last ([\d.]+)", out).group(1))  # type: ignore[union-attr]
    assert 0.5 < accuracy <= 1.0
    assert (tmp_path / "mlruns").is_dir()
