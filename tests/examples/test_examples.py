"""The examples run as scripts, with short options, and print and write what they say."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
