"""The examples run as scripts, with short options, and print and write what they say."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_example(script: str, *args: str, cwd: Path) -> str:
    """Run ``examples/<script>`` in a fresh interpreter; return its stdout (fail on rc != 0)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / script), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"{script} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


class TestCoreStateGraph:
    def test_fits_stops_and_renders(self, tmp_path: Path) -> None:
        """The line fit stops early, prints its overview and trace, and writes its graph."""
        out = run_example(
            "core_state_graph.py",
            "--iterations",
            "300",
            "--output-dir",
            str(tmp_path),
            cwd=tmp_path,
        )
        stopped = re.search(r"stopped after (\d+) iterations \(early stop: (\w+)\)", out)
        assert stopped is not None, out
        assert int(stopped.group(1)) <= 300
        assert "params" in out and "engines.fit.loss" in out  # the overview, then the trace
        assert "trace:" in out
        graph = Path(out.rsplit("graph: ", 1)[1].strip())
        assert graph.parent == tmp_path and graph.stat().st_size > 0


class TestCustomNode:
    def test_measures_detects_and_saves(self, tmp_path: Path) -> None:
        """The tutorial's nodes measure gradient norms, count a spike that halves the lr, save
        their own state, and the graph shows both nodes."""
        out = run_example(
            "custom_node.py", "--epochs", "1", "--output-dir", str(tmp_path), cwd=tmp_path
        )
        summary = re.search(
            r"epochs 1  iterations (\d+)  grad norm ([\d.]+)  max ([\d.]+)  spikes (\d+)  lr ([\d.]+)",
            out,
        )
        assert summary is not None, out
        iterations, norm, max_norm, spikes, lr = summary.groups()
        assert int(iterations) == 45  # 1437 training digits in batches of 32
        assert 0 < float(norm) <= float(max_norm)
        assert int(spikes) >= 1 and out.count("spike ") >= int(spikes)
        assert float(lr) == 0.5 / 2 ** int(spikes)  # each spike halved it
        assert re.search(r"saved: \{'mean': [\d.]+\} n_spikes " + spikes, out)
        svg = (tmp_path / "graph.svg").read_text()
        for name in ("grad_norm: GradientNorm", "spike: Spike", "cool_down", "every=5"):
            assert name in svg


def tensorboard_events(log_dir: Path) -> Any:
    """The event files of ``log_dir``, read with TensorBoard's own reader."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"scalars": 0, "tensors": 0, "images": 0})
    events.Reload()
    return events


def scalars(events: Any, tag: str) -> list[tuple[int, float]]:
    return [(e.step, e.value) for e in events.Scalars(tag)]


def runs_with(log_dir: Path, tag: str) -> dict[str, list[tuple[int, float]]]:
    """Run (an engine's folder of ``log_dir``) -> its points of ``tag``, for the runs that hold it:
    TensorBoard draws a line per run in a chart of that tag."""
    runs = {}
    for run in sorted(p for p in log_dir.iterdir() if p.is_dir()):
        events = tensorboard_events(run)
        if tag in events.Tags()["scalars"]:
            runs[run.name] = scalars(events, tag)
    return runs


def custom_scalars_layout(events: Any) -> dict[str, dict[str, list[str]]]:
    """The newest custom-scalars layout: category -> chart title -> tag regexes."""
    from tensorboard.plugins.custom_scalar import layout_pb2

    last = max(events.Tensors("custom_scalars__config__"), key=lambda e: e.step)
    layout = layout_pb2.Layout.FromString(last.tensor_proto.string_val[0])
    return {
        category.title: {chart.title: list(chart.multiline.tag) for chart in category.chart}
        for category in layout.category
    }


class TestPretrainFinetune:
    def test_pretraining_completes_then_finetuning_runs(self, tmp_path: Path) -> None:
        """The autoencoder trains and is evaluated first; its completion starts the classifier's
        training on the frozen encoder; the charts put both stages on one epoch axis."""
        out = run_example(
            "pretrain_finetune.py", "--pretrain-epochs", "2", "--finetune-epochs", "2",
            "--output-dir", str(tmp_path), cwd=tmp_path,
        )  # fmt: skip
        lines = [line.split("  ")[0] for line in out.splitlines() if "epoch" in line]
        assert lines == ["pretrain epoch 1", "pretrain epoch 2", "fine-tune epoch 1", "fine-tune epoch 2"]  # fmt: skip
        mse = [float(m) for m in re.findall(r"reconstruction mse ([\d.]+)", out)]
        assert mse[1] < mse[0]
        final = re.search(r"final val accuracy ([\d.]+)  encoder frozen: True", out)
        assert final is not None, out
        assert float(final.group(1)) > 0.3  # ten classes: chance is 0.1
        tb = tmp_path / "tb"
        assert [s for s, _ in runs_with(tb, "epoch/mse")["pretrain_evaluator"]] == [1, 2]
        # A metric logs when its value changes: the loss, a float, changes every epoch.
        loss = runs_with(tb, "epoch/loss")
        assert set(loss) == {"train_evaluator", "val_evaluator"}
        assert [s for s, _ in loss["val_evaluator"]] == [3, 4]
        layout = custom_scalars_layout(tensorboard_events(tb))["engines comparison"]
        assert layout == {"mse": ["^epoch/mse$"], "accuracy": ["^epoch/accuracy$"], "loss": ["^epoch/loss$"]}  # fmt: skip
        svg = (tmp_path / "graph.svg").read_text()
        for name in ("pretrainer: Trainer", "finetuner: Trainer", "freeze_encoder", "count_epoch"):
            assert name in svg


class TestCrossValidation:
    def test_ten_folds_chart_against_each_other(self, tmp_path: Path) -> None:
        """With 10 folds, each fold runs after the previous one, the summary is the mean and
        spread of the best accuracies, and the unchanged chart calls give one comparison chart
        per metric with 10 evaluator lines on the fold's epoch axis."""
        out = run_example(
            "cross_validation.py", "--folds", "10", "--epochs", "2",
            "--output-dir", str(tmp_path), cwd=tmp_path,
        )  # fmt: skip
        best = [float(b) for b in re.findall(r"^fold \d+: best accuracy ([\d.]+)$", out, re.M)]
        assert len(best) == 10 and all(0.3 < b <= 1.0 for b in best)
        summary = re.search(r"^10 folds: best accuracy ([\d.]+) \+- ([\d.]+)$", out, re.M)
        assert summary is not None, out
        mean, spread = statistics.fmean(best), statistics.pstdev(best)
        assert float(summary.group(1)) == pytest.approx(mean, abs=1e-4)
        assert float(summary.group(2)) == pytest.approx(spread, abs=1e-4)
        tb = tmp_path / "tb"
        layout = custom_scalars_layout(tensorboard_events(tb))
        folds = [f"fold{i}_evaluator" for i in range(1, 11)]
        # one chart per metric; its tag is in the run of every evaluator: ten lines
        assert layout["engines comparison"] == {m: [f"^epoch/{m}$"] for m in ("accuracy", "loss")}
        assert set(layout) == {"engines comparison", *folds}
        accuracy, loss = runs_with(tb, "epoch/accuracy"), runs_with(tb, "epoch/loss")
        assert sorted(accuracy) == sorted(loss) == sorted(folds)
        for i, fold in enumerate(folds, 1):
            # x is the epoch of the fold: the lines overlap (a loss changes every epoch; an
            # accuracy equal to the epoch before is no change, so no new point)
            assert [s for s, _ in loss[fold]] == [1, 2]
            assert [s for s, _ in accuracy[fold]] in ([1, 2], [1])
            assert max(v for _, v in accuracy[fold]) == pytest.approx(best[i - 1], abs=1e-4)
        assert "fold10_trainer: Trainer" in (tmp_path / "graph.svg").read_text()


class TestDistillation:
    def test_student_follows_teacher_on_one_comparison_chart(self, tmp_path: Path) -> None:
        """The teacher trains first; its completion starts the student's training on its
        outputs; both evaluators share one comparison chart per metric on the epoch axis."""
        out = run_example(
            "distillation.py", "--teacher-epochs", "2", "--student-epochs", "2",
            "--output-dir", str(tmp_path), cwd=tmp_path,
        )  # fmt: skip
        epochs = re.findall(r"^(\w+) epoch (\d+)  val accuracy ([\d.]+)$", out, re.M)
        assert [(who, int(n)) for who, n, _ in epochs] == [
            ("teacher", 1), ("teacher", 2), ("student", 1), ("student", 2)
        ]  # fmt: skip
        assert float(epochs[-1][2]) > 0.3  # learned from the teacher's outputs alone
        assert "teacher: 85002 parameters" in out and "student: 910 parameters" in out
        tb = tmp_path / "tb"
        assert custom_scalars_layout(tensorboard_events(tb))["engines comparison"] == {
            metric: [f"^epoch/{metric}$"] for metric in ("accuracy", "loss")
        }
        accuracy, loss = runs_with(tb, "epoch/accuracy"), runs_with(tb, "epoch/loss")
        assert set(accuracy) == set(loss) == {"teacher_evaluator", "student_evaluator"}
        assert [s for s, _ in loss["student_evaluator"]] == [1, 2]
        student = accuracy["student_evaluator"]
        assert student[-1][1] == pytest.approx(float(epochs[-1][2]), abs=1e-4)
        svg = (tmp_path / "graph.svg").read_text()
        assert "student_trainer: Trainer" in svg and "teacher_trainer: Trainer" in svg


class TestGan:
    def test_trains_both_networks_and_logs_a_grid_every_epoch(self, tmp_path: Path) -> None:
        """One engine updates both networks; the running averages of ignite's DCGAN outputs are
        charted every iteration and a grid of 64 samples is an image per epoch."""
        out = run_example(
            "gan.py", "--epochs", "2", "--width", "8", "--output-dir", str(tmp_path), cwd=tmp_path
        )
        epochs = re.findall(
            r"^epoch (\d+)  errD ([\d.]+)  errG ([\d.]+)  D\(x\) ([\d.]+)", out, re.M
        )
        assert [int(e[0]) for e in epochs] == [1, 2]
        assert all(0.0 < float(e[3]) < 1.0 for e in epochs)  # D(x) is a probability
        events = tensorboard_events(tmp_path / "tb")
        images = events.Images("samples")
        assert [i.step for i in images] == [1, 2]
        assert (images[-1].width, images[-1].height) == (146, 146)  # 8x8 samples of 16 + padding
        gan = tensorboard_events(tmp_path / "tb" / "gan")
        for key in ("errD", "errG", "D_x", "D_G_z1", "D_G_z2"):
            assert [s for s, _ in scalars(gan, f"iteration/{key}")] == list(range(1, 47))
        errd = scalars(gan, "iteration/errD")[-1][1]
        assert errd == pytest.approx(float(epochs[-1][1]), abs=1e-3)
        svg = (tmp_path / "graph.svg").read_text()
        assert "gan: Engine" in svg and "log_samples" in svg
