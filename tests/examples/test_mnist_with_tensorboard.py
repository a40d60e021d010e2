"""The README's main job: examples/mnist_with_tensorboard.py, run as a user runs it."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mnist_with_tensorboard.py"
EPOCH_LINE = re.compile(
    r"^Epoch (\d+)  train: accuracy ([0-9.]+) loss ([0-9.]+)  val: accuracy ([0-9.]+)"
)


def _run(*argv: str, timeout: int = 300) -> str:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--no-progress", *argv],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("digits")
    return out, _run("--epochs", "2", "--output-dir", str(out))


class TestMainJob:
    def test_prints_one_line_per_epoch_with_three_engines_metrics(
        self, first_run: tuple[Path, str]
    ) -> None:
        """Each epoch prints the train and val evaluators' accuracy and loss."""
        _, stdout = first_run
        epochs = [EPOCH_LINE.match(line) for line in stdout.splitlines()]
        found = [m for m in epochs if m]
        assert [int(m.group(1)) for m in found] == [1, 2]
        assert all(0.0 <= float(m.group(2)) <= 1.0 for m in found)

    def test_writes_graph_overview_checkpoints_and_event_files(
        self, first_run: tuple[Path, str]
    ) -> None:
        """The rendered graph, the overview, two checkpoints and TensorBoard files land in the output dir."""
        out, _ = first_run
        assert "<svg" in (out / "graph.svg").read_text()
        overview = (out / "overview.txt").read_text()
        for engine in (
            "trainer (Trainer)",
            "train_evaluator (Evaluator)",
            "val_evaluator (Evaluator)",
        ):
            assert engine in overview
        names = sorted(p.name for p in (out / "checkpoints").glob("*.pt"))
        assert len(names) == 2 and names[0].startswith("best_") and names[1].startswith("last_")
        assert "n_epoch_completed=2" in names[1]
        runs = {}
        for run in ("trainer", "train_evaluator", "val_evaluator", "."):
            runs[run] = EventAccumulator(str(out / "tb" / run))
            runs[run].Reload()
        scalars = {run: set(acc.Tags()["scalars"]) for run, acc in runs.items()}
        assert scalars["trainer"] == {
            "epoch/loss",
            "iteration/running_loss",
            "iteration/batch_loss",
            "lr/lr_scheduler",
            "time/epoch",
        }
        for evaluator in ("train_evaluator", "val_evaluator"):
            assert scalars[evaluator] == {"epoch/accuracy", "epoch/loss", "time/epoch"}
        assert "state/graph" in runs["."].Tags()["images"]
        # one x axis, trainer.n_samples: 1,437 digits per epoch
        steps = [e.step for e in runs["val_evaluator"].Scalars("epoch/accuracy")]
        assert steps == [1437, 2874]
        batch_steps = [e.step for e in runs["trainer"].Scalars("iteration/batch_loss")]
        assert batch_steps[0] == 640 and batch_steps == sorted(
            batch_steps
        )  # every 10 batches of 64
        assert batch_steps[-1] <= 2874

    def test_resume_continues_from_the_last_checkpoint(
        self, first_run: tuple[Path, str], tmp_path: Path
    ) -> None:
        """--resume loads the last checkpoint and the run goes on with epoch 3 only."""
        out, _ = first_run
        last = next((out / "checkpoints").glob("last_*.pt"))
        payload = torch.load(last, weights_only=True)
        assert payload["state"]["variables"]["engines.trainer.n_epoch_completed"] == 2
        stdout = _run("--epochs", "3", "--output-dir", str(tmp_path), "--resume", str(last))
        assert f"resumed from {last}" in stdout
        assert [int(m.group(1)) for m in map(EPOCH_LINE.match, stdout.splitlines()) if m] == [3]
