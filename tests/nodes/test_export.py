"""``nodes.export``: a model's weights out of a statefire checkpoint without a state, and a
file ignite's ``Checkpoint.load_objects`` reads."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from nodes import Checkpoint, CheckpointError
from nodes.export import export_for_ignite, object_state
from tests.nodes.ignite_pairs import _setup, statefire_pair


@pytest.fixture
def saved(tmp_path: Path) -> tuple[Path, nn.Module, torch.optim.Optimizer]:
    """A statefire training of 2 epochs checkpointed at each epoch's end: (file, model, optimizer)."""
    pair = statefire_pair()
    assert pair.state is not None
    trainer = pair.trainer.engine
    Checkpoint(pair.state, tmp_path / "ckpt", trigger=trainer.n_epoch_completed_ref)
    trainer.run(max_epochs=2)
    path = Checkpoint.latest(tmp_path / "ckpt")
    assert path is not None
    return path, pair.model, pair.optimizer


def fresh() -> tuple[nn.Module, torch.optim.Optimizer]:
    """A model and optimizer like the saved ones, with other weights."""
    model, optimizer, _ = _setup(nn.functional.cross_entropy)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    return model, optimizer


def test_object_state_is_a_plain_state_dict(
    saved: tuple[Path, nn.Module, torch.optim.Optimizer],
) -> None:
    """object_state(path) loads into a plain model, no State built; the path spelling works too."""
    path, model, _ = saved
    other, _ = fresh()
    other.load_state_dict(object_state(path))
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters(), strict=True)
    )
    assert object_state(path, "modules.model").keys() == model.state_dict().keys()
    assert object_state(path, "optimizer")["param_groups"][0]["lr"] == 0.1


def test_export_loads_with_ignite(
    saved: tuple[Path, nn.Module, torch.optim.Optimizer], tmp_path: Path
) -> None:
    """The exported file restores model, optimizer and an ignite trainer's position with load_objects."""
    from ignite.engine import Engine as IgniteEngine
    from ignite.handlers import Checkpoint as IgniteCheckpoint

    path, model, optimizer = saved
    out = export_for_ignite(path, tmp_path / "for_ignite.pt")
    other, other_optimizer = fresh()
    trainer = IgniteEngine(lambda engine, batch: None)
    IgniteCheckpoint.load_objects(
        {"model": other, "optimizer": other_optimizer, "trainer": trainer}, str(out)
    )
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), other.parameters(), strict=True)
    )
    assert other_optimizer.state_dict()["param_groups"] == optimizer.state_dict()["param_groups"]
    assert (trainer.state.iteration, trainer.state.epoch, trainer.state.max_epochs) == (6, 2, 2)
    # A file of one model: ignite loads it into that model alone.
    only = export_for_ignite(path, tmp_path / "model.pt", {"model": "model"}, engine=None)
    alone, _ = fresh()
    IgniteCheckpoint.load_objects({"model": alone}, str(only))
    assert all(
        torch.equal(a, b) for a, b in zip(model.parameters(), alone.parameters(), strict=True)
    )


def test_errors(saved: tuple[Path, nn.Module, torch.optim.Optimizer], tmp_path: Path) -> None:
    """A missing object, a missing engine and a file that is no checkpoint say so."""
    path, _, _ = saved
    with pytest.raises(
        KeyError, match=r"holds no object 'modle'; did you mean 'model'.*modules\.model"
    ):
        object_state(path, "modle")
    with pytest.raises(
        KeyError, match=r"holds no engine 'trainr'.*engines: trainer, val.*engine=None"
    ):
        export_for_ignite(path, tmp_path / "x.pt", engine="trainr")
    torch.save({"model": {}}, tmp_path / "plain.pt")
    with pytest.raises(CheckpointError, match="is not a statefire checkpoint"):
        object_state(tmp_path / "plain.pt")


def test_a_failed_export_leaves_no_file_and_the_earlier_one_intact(
    saved: tuple[Path, nn.Module, torch.optim.Optimizer],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The export is written to a temporary file of this host and process, fsynced, and renamed;
    a failure midway removes it and leaves an earlier export as it was."""
    import os

    import nodes.checkpoint

    path, _, _ = saved
    out = export_for_ignite(path, tmp_path / "for_ignite.pt")
    before = out.read_bytes()
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    export_for_ignite(path, out)
    assert synced  # the file is on disk before it replaces the earlier one

    def partial(payload: object, f: object) -> None:
        f.write(b"partial")  # type: ignore[attr-defined]
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(nodes.checkpoint.torch, "save", partial)
    with pytest.raises(OSError, match="No space left on device"):
        export_for_ignite(path, out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "for_ignite.pt"]
