"""examples/ignite_script.py: an ignite script gives the same training on IgniteEngine as on ignite."""

from __future__ import annotations

import re
from pathlib import Path

import torch

from tests.examples.test_examples import run_example


def test_an_ignite_script_trains_the_same_on_statefire(tmp_path: Path) -> None:
    """Same metrics every epoch, same early stop, same weights and checkpoints; handlers
    are subscriptions of the statefire state."""
    outputs = {}
    for engine in ("ignite", "statefire"):
        out_dir = tmp_path / engine
        outputs[engine] = run_example(
            "ignite_script.py", "--engine", engine, "--output-dir", str(out_dir), cwd=tmp_path
        )
    ignite_lines = outputs["ignite"].splitlines()
    statefire_lines = outputs["statefire"].splitlines()
    assert statefire_lines[: len(ignite_lines)] == ignite_lines
    epochs = [line for line in ignite_lines if re.match(r"epoch \d+: ", line)]
    stopped = int(re.search(r"stopped after epoch (\d+) of 20", outputs["ignite"]).group(1))  # type: ignore[union-attr]
    assert len(epochs) == stopped < 20  # EarlyStopping ended both runs at the same epoch
    accuracy = float(re.search(r"val accuracy ([\d.]+)", epochs[-1]).group(1))  # type: ignore[union-attr]
    assert accuracy > 0.9
    extra = statefire_lines[len(ignite_lines) :]
    assert (
        "subscribers of trainer.n_epoch_completed: ['log_results (examples/ignite_script.py:"
        in extra[0]
    )
    assert extra[1].startswith(
        "subscribers of val_evaluator.n_run_completed: ['EarlyStopping', 'ModelCheckpoint', "
    )
    assert (tmp_path / "statefire" / "graph.svg").read_text().startswith("<?xml")
    # statefire's comparison charts found the ignite metrics: a run per engine, shared tags.
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = {}
    for run in ("trainer", "train_evaluator", "val_evaluator"):
        events = EventAccumulator(str(tmp_path / "statefire" / "tb" / run))
        events.Reload()
        scalars[run] = {tag: len(events.Scalars(tag)) for tag in events.Tags()["scalars"]}
    for run in ("train_evaluator", "val_evaluator"):
        assert scalars[run]["epoch/accuracy"] == scalars[run]["epoch/loss"] == stopped
    assert scalars["trainer"]["iteration/loss"] == 23 * stopped  # 23 batches an epoch
    names = sorted(p.name for p in (tmp_path / "ignite" / "checkpoints").iterdir())
    assert len(names) == 2
    for name in names:
        theirs = torch.load(tmp_path / "ignite" / "checkpoints" / name, weights_only=True)
        ours = torch.load(tmp_path / "statefire" / "checkpoints" / name, weights_only=True)
        assert theirs.keys() == ours.keys()
        assert all(torch.equal(theirs[k], ours[k]) for k in theirs)
