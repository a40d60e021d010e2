"""Tests of Checkpoint: exact resume, faults, bad files, retention, metadata and safe loading."""

from __future__ import annotations

import errno
import os
import pickle
import random
import re
import struct
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import nodes.checkpoint
import nodes.resume
from nodes import EarlyStopping, Engine, LRScheduler, Trainer
from nodes.checkpoint import FORMAT, Checkpoint, CheckpointError
from pipeline import State, StateDictError

ROOT = Path(__file__).resolve().parents[2]
EPOCH_LENGTH = 7  # 100 samples in batches of 16
MAX_EPOCHS = 3


@dataclass
class Run:
    """A small training on one state, and what its subscribers saw."""

    state: State
    trainer: Trainer
    model: nn.Module
    optimizer: torch.optim.Optimizer
    checkpoint: Checkpoint
    scored_at: list[int] = field(default_factory=list)


def build(
    dirname: Path, generator: bool = True, hidden: int = 16, n_saved: int | None = None
) -> Run:
    """Dropout, SGD with momentum, StepLR, early stopping and an every=3 change filter."""
    torch.manual_seed(0)
    random.seed(0)
    np.random.seed(0)
    x = torch.randn(100, 8)
    y = (x[:, 0] > 0).long()
    gen = torch.Generator().manual_seed(1) if generator else None
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True, generator=gen)
    model = nn.Sequential(nn.Linear(8, hidden), nn.Dropout(0.3), nn.ReLU(), nn.Linear(hidden, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    state = State()
    trainer = Trainer(state, "trainer", model, optimizer, nn.CrossEntropyLoss(), loader)
    LRScheduler(
        state,
        torch.optim.lr_scheduler.StepLR(optimizer, step_size=4, gamma=0.8),
        trainer.n_iteration_completed_ref,
    )
    state.configs.score = 0.0
    state.configs.n_scores = 0
    EarlyStopping(
        state,
        state.configs.score_ref,
        patience=100,
        trainer=trainer,
        trigger_ref=trainer.n_epoch_completed_ref,
    )
    checkpoint = Checkpoint(state, dirname, trigger=trainer.n_epoch_completed_ref, n_saved=n_saved)
    run = Run(state, trainer, model, optimizer, checkpoint)

    @state.on(trainer.output_ref, every=3)  # counts changes: its counter is in the state dict
    def score(event: Any) -> None:
        state.configs.score = -float(event.new)
        state.configs.n_scores += 1
        run.scored_at.append(trainer.n_iteration_started)

    return run


def snapshot(run: Run) -> dict[str, Any]:
    """Everything that must be identical after an exact resume."""
    handlers = run.state.handlers
    return {
        "params": [p.detach().clone() for p in run.model.parameters()],
        "optimizer": run.optimizer.state_dict(),
        "lr": handlers.lr_scheduler.lr,
        "best_score": handlers.early_stopping.best_score,
        "n_bad": handlers.early_stopping.n_bad_evaluations,
        "n_scores": run.state.configs.n_scores,
        "counters": (run.trainer.n_iteration_completed, run.trainer.n_epoch_completed),
        "n_samples": run.trainer.n_samples,
    }


def assert_identical(a: dict[str, Any], b: dict[str, Any]) -> None:
    assert len(a["params"]) == len(b["params"])
    for p, q in zip(a["params"], b["params"], strict=True):
        assert torch.equal(p, q)
    sa, sb = a["optimizer"]["state"], b["optimizer"]["state"]
    assert sa.keys() == sb.keys() and sa
    for key in sa:
        assert torch.equal(sa[key]["momentum_buffer"], sb[key]["momentum_buffer"])
    assert a["optimizer"]["param_groups"] == b["optimizer"]["param_groups"]
    for key in ("lr", "best_score", "n_bad", "n_scores", "counters", "n_samples"):
        assert a[key] == b[key], key


def scramble() -> None:
    """Move every global generator away from where the checkpoint left them."""
    torch.manual_seed(123)
    random.seed(5)
    np.random.seed(7)


def load_plain(state: State, path: Path) -> None:
    state.load_state_dict(torch.load(path, weights_only=True)["state"])


def boom_line() -> int:
    """The line where interrupt() defines its raising subscriber."""
    return interrupt.__code__.co_firstlineno + 3


def interrupt(run: Run, variable: str, value: int) -> pytest.ExceptionInfo[KeyboardInterrupt]:
    """Run until a subscriber of ``trainer.<variable>`` raises KeyboardInterrupt at ``value``."""

    def boom(event: Any) -> None:
        if event.new == value:
            raise KeyboardInterrupt

    run.trainer.ref(variable).subscribe(boom)  # boom_line() is the line of its def
    with pytest.raises(KeyboardInterrupt) as info:
        run.trainer.run(max_epochs=MAX_EPOCHS)
    return info


@pytest.fixture
def reference(tmp_path: Path) -> Callable[[bool], tuple[dict[str, Any], list[int]]]:
    """The uninterrupted run's final snapshot and the iterations its every=3 subscriber fired at."""
    cache: dict[bool, tuple[dict[str, Any], list[int]]] = {}

    def get(generator: bool) -> tuple[dict[str, Any], list[int]]:
        if generator not in cache:
            run = build(tmp_path / f"reference_{generator}", generator)
            run.trainer.run(max_epochs=MAX_EPOCHS)
            cache[generator] = (snapshot(run), run.scored_at)
        return cache[generator]

    return get


@pytest.mark.parametrize("generator", [True, False], ids=["seeded_generator", "global_rng"])
class TestExactResume:
    """A run interrupted and resumed from its checkpoint ends bit-identical to one that was not."""

    @pytest.mark.parametrize(
        "load", [Checkpoint.load, load_plain], ids=["Checkpoint.load", "torch.load"]
    )
    def test_mid_epoch_after_interrupt(
        self, tmp_path: Path, reference: Any, generator: bool, load: Callable[..., Any]
    ) -> None:
        """KeyboardInterrupt from a subscriber mid-epoch: noted, recorded, saved, resumed exactly."""
        ref, ref_scored = reference(generator)
        run = build(tmp_path / "ck", generator)
        info = interrupt(run, "n_iteration_completed", 10)
        assert run.trainer.exception is info.value
        assert info.value.__notes__ == [
            "while engines.trainer.n_iteration_completed = 10 -> interrupt.boom "
            f"({Path(__file__).relative_to(ROOT)}:{boom_line()})"
        ]
        saved = tmp_path / "ck" / "checkpoint_trainer_n_iteration_completed=10_exception.pt"
        assert saved.is_file()
        assert Checkpoint.latest(tmp_path / "ck") == saved

        resumed = build(tmp_path / "resumed", generator)
        scramble()
        load(resumed.state, saved)
        assert resumed.trainer.n_iteration_completed == 10
        resumed.trainer.run(max_epochs=MAX_EPOCHS)
        assert_identical(snapshot(resumed), ref)
        assert resumed.scored_at == [i for i in ref_scored if i > 10]

    @pytest.mark.parametrize(
        "load", [Checkpoint.load, load_plain], ids=["Checkpoint.load", "torch.load"]
    )
    def test_epoch_boundary(
        self, tmp_path: Path, reference: Any, generator: bool, load: Callable[..., Any]
    ) -> None:
        """The checkpoint saved when epoch 2 completed resumes exactly (the next epoch's shuffle too)."""
        ref, ref_scored = reference(generator)
        run = build(tmp_path / "ck", generator)
        interrupt(run, "n_iteration_completed", 17)
        saved = tmp_path / "ck" / "checkpoint_trainer_n_epoch_completed=2.pt"
        assert saved.is_file()

        resumed = build(tmp_path / "resumed", generator)
        scramble()
        load(resumed.state, saved)
        assert (resumed.trainer.n_epoch_completed, resumed.trainer.n_iteration_completed) == (2, 14)
        resumed.trainer.run(max_epochs=MAX_EPOCHS)
        assert_identical(snapshot(resumed), ref)
        assert resumed.scored_at == [i for i in ref_scored if i > 14]

    @pytest.mark.parametrize(
        ("variable", "value"),
        [
            ("n_iteration_completed", 14),  # last iteration of epoch 2, before it completes
            ("n_epoch_started", 2),  # before epoch 2's iterator exists
            ("n_iteration_started", 8),  # first batch of epoch 2 drawn, not processed
            ("n_iteration_started", 12),
        ],
    )
    def test_interrupt_anywhere(
        self, tmp_path: Path, reference: Any, generator: bool, variable: str, value: int
    ) -> None:
        """Whatever variable's subscriber raises, the exception checkpoint resumes exactly."""
        ref, _ = reference(generator)
        run = build(tmp_path / "ck", generator)
        interrupt(run, variable, value)
        saved = Checkpoint.latest(tmp_path / "ck")
        assert saved is not None and saved.stem.endswith("_exception")

        resumed = build(tmp_path / "resumed", generator)
        scramble()
        Checkpoint.load(resumed.state, saved)
        resumed.trainer.run(max_epochs=MAX_EPOCHS)
        assert_identical(snapshot(resumed), ref)


class TestFaults:
    """A failed write leaves no partial file and the previous checkpoint loadable, and says so."""

    def _first(self, tmp_path: Path) -> tuple[Run, Path]:
        run = build(tmp_path / "ck")
        run.trainer.run(max_epochs=1)
        first = tmp_path / "ck" / "checkpoint_trainer_n_epoch_completed=1.pt"
        assert sorted(os.listdir(tmp_path / "ck")) == [first.name]
        return run, first

    def _check_intact(self, tmp_path: Path, first: Path) -> None:
        assert sorted(os.listdir(tmp_path / "ck")) == [first.name]  # no temporary, no partial file
        Checkpoint.load(build(tmp_path / "other").state, first)

    def test_disk_full(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """ENOSPC halfway through torch.save: CheckpointError naming the file and the kept one."""
        run, first = self._first(tmp_path)

        def full(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
            f.write(b"PK\x03\x04" + b"\0" * 1000)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(nodes.checkpoint.torch, "save", full)
        with pytest.raises(CheckpointError, match="No space left on device") as info:
            run.trainer.run(max_epochs=1)  # a new run: its epoch 1 would replace the first file
        message = str(info.value)
        assert message.startswith(f"could not write checkpoint {first}: No space left on device")
        assert "no partial file was left" in message
        assert f"the newest complete checkpoint is still {first}" in message
        assert info.value.path == first
        assert isinstance(info.value.__cause__, OSError)
        # The save on exception failed too: a note on the error that ended the run, not a new error.
        exception_file = "checkpoint_trainer_n_iteration_completed=7_exception.pt"
        assert len(info.value.__notes__) == 2
        assert info.value.__notes__[0].startswith("while engines.trainer.n_epoch_completed = 1")
        assert info.value.__notes__[1].startswith(
            "and saving it on exception failed: could not write"
        )
        assert exception_file in info.value.__notes__[1]
        monkeypatch.undo()
        self._check_intact(tmp_path, first)

    def test_rename_refused(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """os.replace failing (no permission): the temporary file is removed too."""
        run, first = self._first(tmp_path)

        def refuse(src: Any, dst: Any) -> None:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(dst))

        monkeypatch.setattr(nodes.checkpoint.os, "replace", refuse)
        with pytest.raises(CheckpointError, match="Permission denied; no partial file was left"):
            run.checkpoint.save()
        monkeypatch.undo()
        self._check_intact(tmp_path, first)

    def test_first_write_fails(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """With nothing saved before, the error says no earlier checkpoint exists."""
        run = build(tmp_path / "ck")

        def full(obj: Any, f: Any, *args: Any, **kwargs: Any) -> None:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        monkeypatch.setattr(nodes.checkpoint.torch, "save", full)
        with pytest.raises(CheckpointError, match="no earlier checkpoint exists"):
            run.checkpoint.save()
        assert os.listdir(tmp_path / "ck") == []

    def test_exception_in_process_fn_saves_last_completed(self, tmp_path: Path) -> None:
        """A ValueError in a subscriber ends the run, is recorded, and the state is saved."""
        run = build(tmp_path / "ck")

        @run.state.on(run.trainer.n_iteration_completed_ref, once=5)
        def fail() -> None:
            raise ValueError("bad batch")

        with pytest.raises(ValueError, match="bad batch") as info:
            run.trainer.run(max_epochs=2)
        assert run.trainer.exception is info.value
        saved = tmp_path / "ck" / "checkpoint_trainer_n_iteration_completed=5_exception.pt"
        payload = Checkpoint.read(saved)
        assert payload["state"]["variables"]["engines.trainer.n_iteration_completed"] == 5


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    """A complete checkpoint after one epoch."""
    run = build(tmp_path / "ck")
    run.trainer.run(max_epochs=1)
    path = Checkpoint.latest(tmp_path / "ck")
    assert path is not None
    return path


class _Marker:
    """Unpickling it would run code: write a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, (f"touch {self.marker}",))


class _Opener:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (open, (str(self.marker), "w"))


class TestBadFiles:
    """Every unreadable file gets a CheckpointError that names it; nothing in a file is run."""

    def test_truncated(self, tmp_path: Path, saved: Path) -> None:
        """A file cut in half."""
        data = saved.read_bytes()
        bad = tmp_path / "truncated.pt"
        bad.write_bytes(data[: len(data) // 2])
        with pytest.raises(CheckpointError, match=re.escape(f"checkpoint {bad} (")) as info:
            Checkpoint.load(build(tmp_path / "x").state, bad)
        assert "is truncated or corrupted and cannot be read" in str(info.value)
        assert info.value.path == bad

    @pytest.mark.parametrize("record", ["data.pkl", "largest tensor", "central directory"])
    def test_corrupted(self, tmp_path: Path, saved: Path, record: str) -> None:
        """Bytes flipped in the pickle, inside a tensor's data, or in the zip directory."""
        data = bytearray(saved.read_bytes())
        with zipfile.ZipFile(saved) as archive:
            infos = archive.infolist()
            directory = archive.start_dir
        if record == "central directory":
            start = directory + 10
        else:
            info = (
                next(i for i in infos if i.filename.endswith("data.pkl"))
                if record == "data.pkl"
                else max(infos, key=lambda i: i.file_size)
            )
            # The record's data follows its 30-byte local header, name and extra field.
            name_len, extra_len = struct.unpack(
                "<HH", data[info.header_offset + 26 : info.header_offset + 30]
            )
            start = info.header_offset + 30 + name_len + extra_len + info.file_size // 2
        for i in range(start, start + 8):
            data[i] ^= 0xFF
        bad = tmp_path / "corrupted.pt"
        bad.write_bytes(bytes(data))
        with pytest.raises(CheckpointError, match="is truncated or corrupted") as info:
            Checkpoint.load(build(tmp_path / "x").state, bad)
        assert str(bad) in str(info.value)

    @pytest.mark.parametrize("payload", [_Marker, _Opener], ids=["os.system", "open"])
    @pytest.mark.parametrize("how", ["torch.save", "pickle"])
    def test_malicious(self, tmp_path: Path, payload: type, how: str) -> None:
        """A pickle whose __reduce__ runs code is refused and nothing runs."""
        marker = tmp_path / "pwned"
        bad = tmp_path / "malicious.pt"
        obj = {"format": FORMAT, "metadata": {}, "state": payload(marker)}
        if how == "torch.save":
            torch.save(obj, bad)
        else:
            bad.write_bytes(pickle.dumps(obj))
        with pytest.raises(CheckpointError, match="refused checkpoint") as info:
            Checkpoint.load(build(tmp_path / "x").state, bad)
        assert str(bad) in str(info.value)
        assert "nothing in it was executed" in str(info.value)
        assert not marker.exists()
        with pytest.raises(pickle.UnpicklingError):  # the plain path is just as safe
            torch.load(bad, weights_only=True)
        assert not marker.exists()

    @pytest.mark.parametrize(
        ("content", "message"),
        [
            (
                {"a": torch.zeros(2)},
                r"is not a statefire checkpoint \(expected format .*, got \['a'\]\)",
            ),
            ([1, 2], r"is not a statefire checkpoint .*got list"),
            ({"format": "other/1", "state": {}}, "is not a statefire checkpoint"),
        ],
    )
    def test_not_a_checkpoint(self, tmp_path: Path, content: Any, message: str) -> None:
        """A loadable torch file that is not a statefire checkpoint."""
        bad = tmp_path / "other.pt"
        torch.save(content, bad)
        with pytest.raises(CheckpointError, match=message) as info:
            Checkpoint.read(bad)
        assert str(info.value).startswith(str(bad))

    def test_text_file(self, tmp_path: Path) -> None:
        """A file that is not a torch file at all."""
        bad = tmp_path / "notes.pt"
        bad.write_text("hello\n")
        with pytest.raises(CheckpointError, match=re.escape(f"checkpoint {bad} (6 bytes)")):
            Checkpoint.read(bad)

    def test_missing(self, tmp_path: Path) -> None:
        """A path with no file."""
        with pytest.raises(CheckpointError, match="does not exist"):
            Checkpoint.read(tmp_path / "nothing.pt")


class TestMismatch:
    """A checkpoint of another graph: one error listing every mismatch; strict=False loads the rest."""

    def test_other_layer_size(self, tmp_path: Path, saved: Path) -> None:
        """Every tensor of another shape is listed, and nothing is loaded."""
        other = build(tmp_path / "x", hidden=32)
        before = [p.detach().clone() for p in other.model.parameters()]
        with pytest.raises(
            StateDictError, match=re.escape(f"checkpoint {saved} does not match")
        ) as info:
            Checkpoint.load(other.state, saved)
        shapes = [line for line in info.value.mismatched if "tensor of shape" in line]
        assert {line.split(":")[0] for line in shapes} == {
            "modules.model.0.weight",
            "modules.model.0.bias",
            "modules.model.3.weight",
        }
        assert "load with strict=False" in str(info.value)
        assert other.trainer.n_iteration_completed == 0
        assert all(torch.equal(a, b) for a, b in zip(before, other.model.parameters(), strict=True))

    def test_other_layer_size_not_strict(self, tmp_path: Path, saved: Path) -> None:
        """strict=False loads the counters and leaves the model of another shape as it was."""
        other = build(tmp_path / "x", hidden=32)
        before = [p.detach().clone() for p in other.model.parameters()]
        Checkpoint.load(other.state, saved, strict=False)
        assert other.trainer.n_iteration_completed == EPOCH_LENGTH
        assert all(torch.equal(a, b) for a, b in zip(before, other.model.parameters(), strict=True))

    def test_missing_and_extra_variables(self, tmp_path: Path, saved: Path) -> None:
        """Variables the file lacks and variables it has in excess, in one error."""
        other = build(tmp_path / "x")
        other.state.configs.extra = 1
        with pytest.raises(StateDictError) as info:
            Checkpoint.load(other.state, saved)
        assert "variables:configs.extra" in info.value.missing

        run = build(tmp_path / "y")
        run.state.configs.only_in_file = "a"
        run.trainer.run(max_epochs=1)
        path = run.checkpoint.save()
        assert path is not None
        fewer = build(tmp_path / "z")
        with pytest.raises(
            StateDictError, match=r"unexpected entries \(1\): variables:configs\.only_in_file"
        ):
            Checkpoint.load(fewer.state, path)
        Checkpoint.load(fewer.state, path, strict=False)
        assert fewer.trainer.n_epoch_completed == 1


def _scored_run(tmp_path: Path, scores: list[float], **kwargs: Any) -> list[str]:
    """An engine whose epoch i sets the score scores[i]; a Checkpoint on it with ``kwargs``."""
    state = State()
    state.configs.accuracy = float("nan")
    engine = Engine(state, "trainer", lambda e, b: None, [0])

    @state.on(engine.n_iteration_completed_ref)
    def evaluate() -> None:
        state.configs.accuracy = scores[engine.n_iteration_completed - 1]

    Checkpoint(
        state,
        tmp_path,
        trigger=engine.n_epoch_completed_ref,
        score=state.configs.accuracy_ref,
        save_on_exception=False,
        **kwargs,
    )
    engine.run(max_epochs=len(scores))
    return sorted(os.listdir(tmp_path))


class TestRetention:
    """Last-n and best-n keep exactly the right files, named by engine, counter and score."""

    def test_last_n(self, tmp_path: Path) -> None:
        """n_saved=2 keeps the two newest epochs."""
        run = build(tmp_path, n_saved=2)
        run.trainer.run(max_epochs=4)
        assert sorted(os.listdir(tmp_path)) == [
            "checkpoint_trainer_n_epoch_completed=3.pt",
            "checkpoint_trainer_n_epoch_completed=4.pt",
        ]

    def test_keep_all(self, tmp_path: Path) -> None:
        """n_saved=None keeps every file."""
        run = build(tmp_path, n_saved=None)
        run.trainer.run(max_epochs=3)
        assert len(os.listdir(tmp_path)) == 3

    def test_best_n_max(self, tmp_path: Path) -> None:
        """The two highest scores; a worse score writes nothing."""
        files = _scored_run(tmp_path, [0.5, 0.7, 0.6, 0.9, 0.1], n_saved=2)
        assert files == [
            "checkpoint_trainer_n_epoch_completed=2_accuracy=0.7000.pt",
            "checkpoint_trainer_n_epoch_completed=4_accuracy=0.9000.pt",
        ]

    def test_best_n_min(self, tmp_path: Path) -> None:
        """mode='min' keeps the lowest scores."""
        files = _scored_run(tmp_path, [0.5, 0.7, 0.6, 0.9, 0.1], n_saved=2, mode="min")
        assert files == [
            "checkpoint_trainer_n_epoch_completed=1_accuracy=0.5000.pt",
            "checkpoint_trainer_n_epoch_completed=5_accuracy=0.1000.pt",
        ]

    def test_sanitised_names(self, tmp_path: Path) -> None:
        """Characters that do not belong in a file name become '-'."""
        files = _scored_run(tmp_path, [0.5], prefix="my run/best*")
        assert files == ["my-run-best_trainer_n_epoch_completed=1_accuracy=0.5000.pt"]

    def test_rerun_adopts_earlier_files(self, tmp_path: Path) -> None:
        """A checkpoint node of a re-run counts the files of the earlier run in its retention."""
        build(tmp_path, n_saved=2).trainer.run(max_epochs=3)
        assert len(os.listdir(tmp_path)) == 2
        build(tmp_path, n_saved=2).trainer.run(max_epochs=1)
        assert sorted(os.listdir(tmp_path)) == [
            "checkpoint_trainer_n_epoch_completed=1.pt",
            "checkpoint_trainer_n_epoch_completed=3.pt",
        ]

    def test_rerun_adopts_best(self, tmp_path: Path) -> None:
        """Best-n of a re-run compares with the scores in the earlier run's file names."""
        _scored_run(tmp_path, [0.5, 0.9], n_saved=2)
        files = _scored_run(tmp_path, [0.7], n_saved=2)
        assert files == [
            "checkpoint_trainer_n_epoch_completed=1_accuracy=0.7000.pt",
            "checkpoint_trainer_n_epoch_completed=2_accuracy=0.9000.pt",
        ]

    def test_rerun_keeps_the_files_of_an_engine_whose_name_extends_its_own(
        self, tmp_path: Path
    ) -> None:
        """'trainer' adopts and deletes only its own files, never 'trainer_ft''s."""

        def build_two() -> tuple[Engine, Engine]:
            state = State()
            a = Engine(state, "trainer", lambda e, b: b, [1, 2])
            b = Engine(state, "trainer_ft", lambda e, b: b, [1, 2])
            Checkpoint(state, tmp_path, a.n_epoch_completed_ref, n_saved=1, name="ck_a")
            Checkpoint(state, tmp_path, b.n_epoch_completed_ref, n_saved=2, name="ck_b")
            return a, b

        build_two()[1].run(max_epochs=2)
        build_two()[0].run(max_epochs=2)
        assert sorted(os.listdir(tmp_path)) == [
            "checkpoint_trainer_ft_n_epoch_completed=1.pt",
            "checkpoint_trainer_ft_n_epoch_completed=2.pt",
            "checkpoint_trainer_n_epoch_completed=2.pt",
        ]


class TestLatestAndMetadata:
    """Checkpoint.latest finds the newest complete file; each file says where it came from."""

    def test_latest(self, tmp_path: Path) -> None:
        """The newest file, never a temporary one; None for an empty or missing directory."""
        assert Checkpoint.latest(tmp_path / "missing") is None
        run = build(tmp_path, n_saved=None)
        assert Checkpoint.latest(tmp_path) is None
        run.trainer.run(max_epochs=2)
        assert Checkpoint.latest(tmp_path) == tmp_path / "checkpoint_trainer_n_epoch_completed=2.pt"
        (tmp_path / ".checkpoint_trainer_n_epoch_completed=3.pt.tmp-1").write_bytes(b"partial")
        assert Checkpoint.latest(tmp_path).name == "checkpoint_trainer_n_epoch_completed=2.pt"

    def test_latest_of_a_node_is_never_another_nodes_file(self, tmp_path: Path) -> None:
        """prefix='best' does not take 'best_val''s files, engine='trainer' not 'trainer_ft''s,
        however new those are."""
        state = State()
        trainer = Engine(state, "trainer", lambda e, b: b, [1, 2])
        tuned = Engine(state, "trainer_ft", lambda e, b: b, [1, 2])
        Checkpoint(state, tmp_path, trainer.n_epoch_completed_ref, prefix="best")
        Checkpoint(state, tmp_path, trainer.n_epoch_completed_ref, prefix="best_val", name="c2")
        Checkpoint(state, tmp_path, tuned.n_epoch_completed_ref, prefix="best", name="c3")
        trainer.run(max_epochs=1)
        tuned.run(max_epochs=1)
        later = os.stat(tmp_path / "best_trainer_n_epoch_completed=1.pt").st_mtime_ns + 10**9
        for name in (
            "best_val_trainer_n_epoch_completed=1.pt",
            "best_trainer_ft_n_epoch_completed=1.pt",
        ):
            os.utime(tmp_path / name, ns=(later, later))
        found = Checkpoint.latest(tmp_path, prefix="best", engine="trainer")
        assert found == tmp_path / "best_trainer_n_epoch_completed=1.pt"
        found = Checkpoint.latest(tmp_path, engine="trainer")
        assert found is not None and found.name in (
            "best_trainer_n_epoch_completed=1.pt",
            "best_val_trainer_n_epoch_completed=1.pt",
        )
        found = Checkpoint.latest(tmp_path, prefix="best", engine="trainer_ft")
        assert found == tmp_path / "best_trainer_ft_n_epoch_completed=1.pt"

    def test_latest_reads_the_engine_when_the_counter_is_not_the_engines_own(
        self, tmp_path: Path
    ) -> None:
        """A name 'best_trainer_ft_step=3' could be engine 'trainer' and counter 'ft_step':
        the engine named in the file decides."""
        state = State()
        tuned = Engine(state, "trainer_ft", lambda e, b: b, [1, 2])
        ck = Checkpoint(state, tmp_path, tuned.n_epoch_completed_ref, prefix="best")
        tuned.run(max_epochs=1)
        path = ck.write(tmp_path / "best_trainer_ft_step=3.pt")
        (tmp_path / "best_trainer_n_epoch_completed=1.pt").unlink(missing_ok=True)
        assert Checkpoint.latest(tmp_path, prefix="best", engine="trainer") is None
        assert Checkpoint.latest(tmp_path, prefix="best", engine="trainer_ft") == path

    def test_metadata(self, tmp_path: Path, saved: Path) -> None:
        """Versions, time, engine, counter and a summary of the graph."""
        run = build(tmp_path / "x")
        meta = Checkpoint.load(run.state, saved)
        assert meta["versions"]["torch"] == str(torch.__version__)
        assert {"python", "ignite"} <= meta["versions"].keys()
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}", meta["time"])
        assert meta["engine"] == "engines.trainer"
        assert meta["counter"] == "engines.trainer.n_epoch_completed=1"
        graph = meta["graph"]
        assert graph["n_variables"] == len(run.state.variables())
        assert "engines.trainer (Trainer)" in graph["nodes"]
        assert len(graph["variables_sha256"]) == 64

    def test_state_sections(self, saved: Path) -> None:
        """The file holds the state dict's sections, the RNG and the engine's data position."""
        payload = torch.load(saved, weights_only=True)
        assert payload["format"] == FORMAT
        sd = payload["state"]
        assert {"variables", "objects", "nodes", "filters"} <= sd.keys()
        assert {"modules.model", "optimizers.optimizer"} <= sd["objects"].keys()
        assert {"python", "numpy", "torch"} <= sd["nodes"]["handlers.random_states"].keys()
        assert {"epoch_rng", "epoch", "data_rng"} <= sd["nodes"]["engines.trainer"].keys()
        assert list(sd["filters"].values()) == [EPOCH_LENGTH]  # changes seen by the every=3 filter


def test_never_weights_only_false() -> None:
    """No source in nodes/ or pipeline/ loads with weights_only=False."""
    offenders = [
        f"{path.relative_to(ROOT)}:{n}"
        for package in ("nodes", "pipeline")
        for path in sorted((ROOT / package).rglob("*.py"))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"weights_only\s*=\s*False", line)
        and "never with weights_only=False" not in line
    ]
    assert offenders == []


def test_interrupted_evaluation_is_not_continued(tmp_path: Path) -> None:
    """An interrupt inside a triggered evaluator: after resume the next trigger evaluates afresh."""
    from nodes import Evaluator

    def make(dirname: Path) -> tuple[Run, Evaluator]:
        run = build(dirname)
        x = torch.randn(40, 8, generator=torch.Generator().manual_seed(3))
        val = DataLoader(TensorDataset(x, (x[:, 1] > 0).long()), batch_size=10)
        evaluator = Evaluator(
            run.state, "val", run.model, val, run_on=run.trainer.n_epoch_completed_ref
        )
        return run, evaluator

    ref, ref_eval = make(tmp_path / "ref")
    ref.trainer.run(max_epochs=4)
    run, evaluator = make(tmp_path / "ck")

    @run.state.on(evaluator.n_iteration_completed_ref)
    def boom() -> None:
        if run.trainer.n_epoch_completed == 2 and evaluator.n_iteration_completed == 2:
            raise KeyboardInterrupt

    with (
        pytest.raises(KeyboardInterrupt),
        pytest.warns(
            nodes.resume.ResumeWarning,
            match=r"saved on KeyboardInterrupt will not resume exactly: the run of val "
            r"\(Evaluator\) was interrupted in epoch 1, iteration 2, and a triggered run is "
            r"started afresh",
        ),
    ):
        run.trainer.run(max_epochs=4)
    saved = Checkpoint.latest(tmp_path / "ck")
    assert saved is not None and saved.stem.endswith("_exception")
    # Here nothing the skipped iterations would do changes the training (the unshuffled
    # loader drew its seed when its iterator was made, before the interrupt).
    resumed, resumed_eval = make(tmp_path / "resumed")
    scramble()
    Checkpoint.load(resumed.state, saved)
    resumed.trainer.run(max_epochs=4)
    assert_identical(snapshot(resumed), snapshot(ref))
    assert resumed_eval.n_iteration_completed == ref_eval.n_iteration_completed == 4


class TestSharedDirectory:
    def test_second_checkpoint_with_same_prefix_and_engine_refused(self, tmp_path: Path) -> None:
        """Two nodes that would count each other's files in one directory: the second is refused."""
        state = State()
        engine = Engine(state, "trainer", lambda e, b: b, [1, 2])
        Checkpoint(state, tmp_path, trigger=engine.n_epoch_completed_ref)
        with pytest.raises(
            ValueError, match=r"already saves trainer's checkpoints .* another prefix="
        ):
            Checkpoint(state, tmp_path, trigger=engine.n_epoch_completed_ref, name="again")
        Checkpoint(
            state, tmp_path, trigger=engine.n_epoch_completed_ref, name="best", prefix="best"
        )
        assert "handlers.again" not in state.nodes()


class TestScoreTypes:
    """A score is a number whatever its type: Python, NumPy, or a 0-d tensor or array."""

    @pytest.mark.parametrize(
        "convert",
        [np.float64, np.float32, lambda v: torch.tensor(v), lambda v: np.array(v)],
        ids=["numpy.float64", "numpy.float32", "0-d tensor", "0-d ndarray"],
    )
    def test_best_n_with_numbers_of_other_types(
        self, tmp_path: Path, convert: Callable[[float], Any]
    ) -> None:
        """The best two by a NumPy or tensor score are kept, as with Python floats."""
        files = _scored_run(tmp_path, [convert(v) for v in (0.5, 0.7, 0.6, 0.9, 0.1)], n_saved=2)
        assert files == [
            "checkpoint_trainer_n_epoch_completed=2_accuracy=0.7000.pt",
            "checkpoint_trainer_n_epoch_completed=4_accuracy=0.9000.pt",
        ]

    @pytest.mark.parametrize("value", [None, float("nan"), True, "0.9", torch.ones(2)])
    def test_no_number_no_save(self, tmp_path: Path, value: Any) -> None:
        """No score yet (None, NaN) or not a number: nothing is saved."""
        assert _scored_run(tmp_path, [value]) == []


class TestSaveOnExceptionFailure:
    def test_state_dict_that_cannot_be_built(self, tmp_path: Path) -> None:
        """A KeyboardInterrupt stays a KeyboardInterrupt when the state dict cannot be built;
        the failed save is a note on it."""
        run = build(tmp_path / "ck")
        run.state.configs.add_variable("handle", None, persistent=True)

        @run.state.on(run.trainer.n_iteration_completed_ref, once=3)
        def interrupt() -> None:
            run.state.configs.handle = object()
            raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt) as info:
            run.trainer.run(max_epochs=2)
        assert info.value.__notes__[-1].startswith(
            "and saving it on exception failed: TypeError: configs.handle is persistent but "
            "holds a object"
        )
        assert run.trainer.exception is info.value
        assert os.listdir(tmp_path / "ck") == []


class TestFilesInTheDirectory:
    """latest() returns only statefire checkpoints; leftovers and wrong paths are dealt with."""

    def test_latest_skips_other_pt_files(self, tmp_path: Path) -> None:
        """Exported weights and other torch files newer than the checkpoint are not returned."""
        run = build(tmp_path, n_saved=None)
        run.trainer.run(max_epochs=2)
        newest = tmp_path / "checkpoint_trainer_n_epoch_completed=2.pt"
        later = newest.stat().st_mtime_ns + 10**9
        torch.save(run.model.state_dict(), tmp_path / "exported_weights.pt")
        (tmp_path / "notes.pt").write_text("not even a torch file")
        for name in ("exported_weights.pt", "notes.pt"):
            os.utime(tmp_path / name, ns=(later, later))
        assert Checkpoint.latest(tmp_path) == newest

    def test_latest_of_one_node(self, tmp_path: Path) -> None:
        """prefix= and engine= keep one node's files."""
        run = build(tmp_path, n_saved=None)
        Checkpoint(
            run.state,
            tmp_path,
            trigger=run.trainer.n_iteration_completed_ref,
            prefix="often",
            name="often",
        )
        run.trainer.run(max_epochs=1)
        epoch = tmp_path / "checkpoint_trainer_n_epoch_completed=1.pt"
        os.utime(epoch, ns=(1, 1))
        assert Checkpoint.latest(tmp_path).name.startswith("often_trainer_")
        assert Checkpoint.latest(tmp_path, prefix="checkpoint") == epoch
        assert Checkpoint.latest(tmp_path, prefix="checkpoint", engine="trainer") == epoch
        assert Checkpoint.latest(tmp_path, engine="evaluator") is None

    def test_orphaned_temporary_files_are_removed(self, tmp_path: Path) -> None:
        """A killed save's temporary file (its process on this host is gone) is deleted by
        the next save; another node's, another host's or a live process's are left alone."""
        run = build(tmp_path)
        gone = 2**22 + 12345  # above pid_max: no such process
        host = nodes.checkpoint._HOST
        head = ".checkpoint_trainer_n_epoch_completed="
        orphan = tmp_path / f"{head}1.pt.tmp-{host}-{gone}"
        older_format = tmp_path / f"{head}4.pt.tmp-{gone}"
        mine_earlier = tmp_path / f"{head}3.pt.tmp-{host}-{os.getpid()}"
        live = tmp_path / f"{head}2.pt.tmp-{host}-{os.getppid()}"
        other_host = tmp_path / f"{head}5.pt.tmp-elsewhere.example-{gone}"
        other_node = tmp_path / f".best_val_n_run_completed=1.pt.tmp-{host}-{gone}"
        for path in (orphan, older_format, mine_earlier, live, other_host, other_node):
            path.write_bytes(b"partial")
        run.trainer.run(max_epochs=1)
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [
                live.name,
                other_host.name,
                other_node.name,
                "checkpoint_trainer_n_epoch_completed=1.pt",
            ]
        )

    def test_directory_passed_as_a_file(self, tmp_path: Path, saved: Path) -> None:
        """Reading a directory says it is one, and names its newest checkpoint."""
        with pytest.raises(
            CheckpointError,
            match=re.escape(
                f"checkpoint {saved.parent} is a directory, not a file; pass a checkpoint file "
                f"(its newest checkpoint is {saved}"
            ),
        ):
            Checkpoint.load(build(tmp_path / "x").state, saved.parent)
        with pytest.raises(CheckpointError, match=r"is a directory, not a file; .*it holds no"):
            Checkpoint.read(tmp_path / "x")

    def test_file_passed_as_the_directory(self, tmp_path: Path) -> None:
        """A dirname that is a file is refused when the node is made."""
        state = State()
        engine = Engine(state, "trainer", lambda e, b: b, [1])
        (tmp_path / "file").write_text("")
        with pytest.raises(ValueError, match=r"dirname .*file is a file, not a directory"):
            Checkpoint(state, tmp_path / "file", trigger=engine.n_epoch_completed_ref)

    def test_file_size_limit(self, tmp_path: Path) -> None:
        """A write stopped by the file-size limit (EFBIG) says so, with the limit."""
        resource = pytest.importorskip("resource")
        run = build(tmp_path)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))
        try:
            with pytest.raises(
                CheckpointError,
                match=r"File too large \(EFBIG\): the file-size limit of this process "
                r"\(RLIMIT_FSIZE, ulimit -f\) is 4096 bytes",
            ):
                run.checkpoint.save()
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        assert os.listdir(tmp_path) == []


def build_with_evaluation(dirname: Path, last: Path | None = None, **checkpoint: Any) -> Run:
    """A trainer, an evaluator run on its n_epoch_completed, then an epoch-level StepLR
    subscribed after it, and a Checkpoint with ``checkpoint`` (default: best by accuracy
    after each evaluation, the evaluator's n_run_completed); with ``last``, a checkpoint of
    every epoch in that directory, subscribed between the evaluator and the StepLR."""
    from ignite.metrics import Accuracy

    from nodes import Evaluator, Metric

    torch.manual_seed(0)
    x = torch.randn(64, 8)
    y = (x[:, 0] > 0).long()
    loader = DataLoader(TensorDataset(x, y), batch_size=16, shuffle=True)
    val = DataLoader(TensorDataset(x[:32], y[:32]), batch_size=16, shuffle=True)
    model = nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    state = State()
    trainer = Trainer(state, "trainer", model, optimizer, nn.CrossEntropyLoss(), loader)
    evaluator = Evaluator(state, "val", model, val, run_on=trainer.n_epoch_completed_ref)
    Metric(evaluator, Accuracy(), "accuracy")
    if last is not None:
        Checkpoint(
            state,
            last,
            trigger=trainer.n_epoch_completed_ref,
            n_saved=None,
            prefix="last",
            name="last",
            save_on_exception=False,
        )
    LRScheduler(
        state,
        torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5),
        trainer.n_epoch_completed_ref,
    )
    options = {
        "trigger": evaluator.n_run_completed_ref,
        "score": state.metrics.val_accuracy_ref,
        "n_saved": None,
        "save_on_exception": False,
        **checkpoint,
    }
    return Run(state, trainer, model, optimizer, Checkpoint(state, dirname, **options))


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)`")
class TestSavedMidPropagation:
    """A file saved while subscribers of the change that led to it had still to run."""

    def test_best_checkpoint_resumes_the_pending_lr_step(self, tmp_path: Path) -> None:
        """Saved after the evaluation of epoch 1, before the epoch's LR step: resuming makes
        that step first, and ends identical to the uninterrupted run."""
        ref = build_with_evaluation(tmp_path / "ref", score=None)
        ref.trainer.run(max_epochs=3)
        run = build_with_evaluation(tmp_path / "ck", score=None)
        run.trainer.run(max_epochs=1)
        saved = tmp_path / "ck" / "checkpoint_val_n_run_completed=1.pt"
        pending = Checkpoint.read(saved)["state"]["nodes"]["engines.trainer"]["pending"]
        assert [(p[0], p[6]) for p in pending] == [
            ("engines.trainer.n_epoch_completed", "lr_scheduler (LRScheduler)")
        ]
        assert run.optimizer.param_groups[0]["lr"] == 0.05  # the step ran after the save

        resumed = build_with_evaluation(tmp_path / "resumed", score=None)
        scramble()
        Checkpoint.load(resumed.state, saved)
        assert resumed.optimizer.param_groups[0]["lr"] == 0.1
        resumed.trainer.run(max_epochs=3)
        assert resumed.optimizer.param_groups[0]["lr"] == ref.optimizer.param_groups[0]["lr"]
        for p, q in zip(resumed.model.parameters(), ref.model.parameters(), strict=True):
            assert torch.equal(p, q)
        assert resumed.state.handlers.lr_scheduler.lr == ref.state.handlers.lr_scheduler.lr

    def test_a_file_saved_while_resuming_carries_the_calls_after_it(self, tmp_path: Path) -> None:
        """Resumed from the best file, the epoch's 'last' checkpoint is saved again before the
        LR step: that file carries the step too, and resuming from it is exact as well."""
        ref = build_with_evaluation(tmp_path / "ref", last=tmp_path / "ref_last", score=None)
        ref.trainer.run(max_epochs=3)
        run = build_with_evaluation(tmp_path / "ck", last=tmp_path / "ck_last", score=None)
        run.trainer.run(max_epochs=1)
        first = build_with_evaluation(tmp_path / "r1", last=tmp_path / "r1_last", score=None)
        Checkpoint.load(first.state, tmp_path / "ck" / "checkpoint_val_n_run_completed=1.pt")
        first.trainer.run(max_epochs=2)
        saved_while_resuming = tmp_path / "r1_last" / "last_trainer_n_epoch_completed=1.pt"
        pending = Checkpoint.read(saved_while_resuming)["state"]["nodes"]["engines.trainer"]
        assert [p[6] for p in pending["pending"]] == ["lr_scheduler (LRScheduler)"]

        second = build_with_evaluation(tmp_path / "r2", last=tmp_path / "r2_last", score=None)
        Checkpoint.load(second.state, saved_while_resuming)
        second.trainer.run(max_epochs=3)
        for p, q in zip(second.model.parameters(), ref.model.parameters(), strict=True):
            assert torch.equal(p, q)
        assert second.optimizer.param_groups[0]["lr"] == ref.optimizer.param_groups[0]["lr"]

    def test_saved_inside_a_triggered_run_warns(self, tmp_path: Path) -> None:
        """A save in the middle of the evaluator's run cannot resume exactly: it says so."""
        run = build_with_evaluation(tmp_path / "a")
        evaluator = run.state.val
        Checkpoint(
            run.state,
            tmp_path / "b",
            trigger=evaluator.n_iteration_completed_ref,
            once=1,
            engine=run.trainer,
            save_on_exception=False,
            name="inside",
        )
        with pytest.warns(
            nodes.resume.ResumeWarning,
            match=r"engines\.trainer's state is saved in the middle of a propagation and will "
            r"not resume exactly: the run of val \(Evaluator\) is in progress "
            r"\(engines\.val\.n_iteration_completed = 1\) .*Subscribers still to run: .*"
            r"lr_scheduler \(LRScheduler\) \(on engines\.trainer\.n_epoch_completed\)",
        ):
            run.trainer.run(max_epochs=1)
        saved = Checkpoint.latest(tmp_path / "b")
        assert saved is not None
        assert "pending" not in Checkpoint.read(saved)["state"]["nodes"]["engines.trainer"]

    def test_saved_inside_an_iteration_warns(self, tmp_path: Path) -> None:
        """A save on the trainer's output with subscribers still to run: the resumed run
        redoes the iteration, so they cannot be resumed; it says so."""
        run = build_with_evaluation(tmp_path)
        Checkpoint(
            run.state,
            tmp_path / "b",
            trigger=run.trainer.output_ref,
            once=2,
            save_on_exception=False,
            name="on_output",
        )
        run.state.on(run.trainer.output_ref)(lambda: None)
        with pytest.warns(
            nodes.resume.ResumeWarning,
            match=r"engines\.trainer\.output changed inside an iteration of trainer, which a "
            r"resumed run does again",
        ):
            run.trainer.run(max_epochs=1)


class TestInterruptedPropagation:
    """An exception saved mid-propagation: what it cut short is made on resume."""

    @staticmethod
    def make(dirname: Path) -> tuple[Run, Any]:
        """build() with the global RNG feeding both loaders, and an evaluator after each epoch."""
        from nodes import Evaluator

        run = build(dirname, generator=False)
        x = torch.randn(40, 8, generator=torch.Generator().manual_seed(3))
        val = DataLoader(TensorDataset(x, (x[:, 1] > 0).long()), batch_size=10, shuffle=True)
        evaluator = Evaluator(
            run.state, "val", run.model, val, run_on=run.trainer.n_epoch_completed_ref
        )
        return run, evaluator

    def test_interrupt_in_a_subscriber_of_the_evaluators_n_run_started(
        self, tmp_path: Path
    ) -> None:
        """The interrupted evaluation is run again on resume (drawing its loader's seed from
        the global RNG as the uninterrupted run did): the resumed run ends identical."""
        ref, ref_eval = self.make(tmp_path / "ref")
        ref.trainer.run(max_epochs=MAX_EPOCHS)
        run, evaluator = self.make(tmp_path / "ck")

        @run.state.on(evaluator.n_run_started_ref)
        def boom() -> None:
            if run.trainer.n_epoch_completed == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            run.trainer.run(max_epochs=MAX_EPOCHS)
        saved = Checkpoint.latest(tmp_path / "ck")
        assert saved is not None and saved.stem.endswith("_exception")
        pending = Checkpoint.read(saved)["state"]["nodes"]["engines.trainer"]["pending"]
        assert [(p[0], p[6]) for p in pending] == [
            ("engines.trainer.n_epoch_completed", "val (Evaluator)")
        ]

        resumed, resumed_eval = self.make(tmp_path / "resumed")
        scramble()
        Checkpoint.load(resumed.state, saved)
        resumed.trainer.run(max_epochs=MAX_EPOCHS)
        assert_identical(snapshot(resumed), snapshot(ref))
        assert resumed_eval.n_run_completed == ref_eval.n_run_completed == MAX_EPOCHS
        assert resumed_eval.n_run_started == ref_eval.n_run_started == MAX_EPOCHS

    def test_subscribers_after_the_one_that_raised_run_on_resume(self, tmp_path: Path) -> None:
        """An interrupt in a subscriber of n_epoch_completed: the subscriber after it, which
        had still to run for that epoch, runs on resume."""

        def make(dirname: Path, interrupt_at: int | None) -> Run:
            run = build(dirname)

            @run.state.on(run.trainer.n_epoch_completed_ref)
            def boom(event: Any) -> None:
                if event.new == interrupt_at:
                    raise KeyboardInterrupt

            @run.state.on(run.trainer.n_epoch_completed_ref)
            def after_boom() -> None:  # had still to run when the interrupt came
                run.state.configs.n_scores += 100

            return run

        ref = make(tmp_path / "ref", None)
        ref.trainer.run(max_epochs=MAX_EPOCHS)
        run = make(tmp_path / "ck", 2)
        with pytest.raises(KeyboardInterrupt):
            run.trainer.run(max_epochs=MAX_EPOCHS)
        saved = Checkpoint.latest(tmp_path / "ck")
        assert saved is not None
        resumed = make(tmp_path / "resumed", None)
        Checkpoint.load(resumed.state, saved)
        resumed.trainer.run(max_epochs=MAX_EPOCHS)
        assert_identical(snapshot(resumed), snapshot(ref))

    def test_an_engine_run_by_hand_inside_a_subscriber(self, tmp_path: Path) -> None:
        """An evaluation run by a callback (not by run_on) and interrupted: not continued on
        resume, and the save says so; no call of its propagation is saved to be made."""
        run = build(tmp_path / "ck")
        inner = Engine(run.state, "inner", lambda e, b: b, [1, 2, 3])

        @run.state.on(inner.n_iteration_completed_ref)
        def boom(event: Any) -> None:
            if event.new == 2 and run.trainer.n_epoch_completed == 1:
                raise KeyboardInterrupt

        inner.n_iteration_completed_ref.subscribe(lambda: None)  # still to run at the interrupt
        run.state.on(run.trainer.n_epoch_completed_ref)(lambda: inner.run())
        with (
            pytest.raises(KeyboardInterrupt),
            pytest.warns(
                nodes.resume.ResumeWarning,
                match=r"the run of inner \(Engine\), started other than by its run_on trigger, "
                r"was interrupted \(engines\.inner\.n_iteration_completed = 2\)",
            ),
        ):
            run.trainer.run(max_epochs=2)
        saved = Checkpoint.latest(tmp_path / "ck")
        assert saved is not None
        assert "pending" not in Checkpoint.read(saved)["state"]["nodes"]["engines.trainer"]
