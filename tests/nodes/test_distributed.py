"""Distributed training on ignite.distributed: two real processes, gloo, loopback.

``tests/nodes/dist_worker.py`` is launched as a script (``idist.Parallel`` spawns
its two processes, on a free port); it trains 2 epochs on digits, then resumes
a fresh state from the epoch-1 checkpoint, and writes each rank's metrics,
counters, sample indices and final weights to files the tests read. Running it
in a subprocess bounds a hang by a timeout instead of blocking the test run.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import dist_worker
import pytest
import torch
from torch.utils.data import DistributedSampler

from nodes.checkpoint import Checkpoint
from nodes.distributed import Distributed

WORKER = Path(__file__).with_name("dist_worker.py")
ROOT = WORKER.parents[2]
TIMEOUT = 120  # seconds; a launch takes about 10-20


def launch(mode: str, out: Path) -> subprocess.CompletedProcess[str]:
    """Run the worker script in ``mode`` with two processes; never waits past TIMEOUT."""
    # The gloo processes run on the CPU, also on a machine with GPUs.
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run(
        [sys.executable, str(WORKER), mode, str(out), "--nproc", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The outputs of one two-process training (and its two-process resume)."""
    out = tmp_path_factory.mktemp("two_processes")
    done = launch("train", out)
    assert done.returncode == 0, done.stderr[-6000:]
    return out


def report(out: Path, name: str, rank: int) -> dict[str, Any]:
    return json.loads((out / f"{name}_rank{rank}.json").read_text())  # type: ignore[no-any-return]


def weights(out: Path, name: str, rank: int) -> dict[str, torch.Tensor]:
    return torch.load(out / f"{name}_rank{rank}.pt", weights_only=True)  # type: ignore[no-any-return]


def epoch_checkpoint(out: Path, epoch: int) -> Path:
    return out / "rank0" / "ckpt" / f"checkpoint_trainer_n_epoch_completed={epoch}.pt"


def evaluate(state_dict: dict[str, torch.Tensor]) -> tuple[float, float]:
    """Accuracy and mean cross-entropy of the weights on the whole validation set, in one process."""
    model = dist_worker.make_model()
    model.load_state_dict(state_dict)
    model.eval()
    val = dist_worker.IndexedDigits(dist_worker.N_TRAIN, dist_worker.N_TRAIN + dist_worker.N_VAL)
    with torch.no_grad():
        logits = model(val.x)
    accuracy = (logits.argmax(1) == val.y).double().mean().item()
    loss = torch.nn.functional.cross_entropy(logits.double(), val.y).item()
    return accuracy, loss


class TestTwoProcesses:
    """A two-process run: metrics, data sharding, writers, checkpoints, ranks."""

    def test_rank_and_world_size_are_state_variables(self, run_dir: Path) -> None:
        """Each rank's state holds its rank, the world size and the backend, and is titled so."""
        for rank in (0, 1):
            got = report(run_dir, "run", rank)
            assert (got["rank"], got["world_size"], got["backend"]) == (rank, 2, "gloo")
            assert got["title"] == f"rank {rank} of 2, gloo"
            assert got["overview_head"] == f"State (rank {rank} of 2, gloo)"
        dot = (run_dir / "graph_rank1.dot").read_text()
        assert "label=<rank 1 of 2, gloo<BR/>" in dot  # the title heads the picture

    def test_both_ranks_hold_the_same_metric_values(self, run_dir: Path) -> None:
        """Metrics are all-reduced: every rank's state.metrics holds the global values."""
        metrics = [report(run_dir, "run", rank)["metrics"] for rank in (0, 1)]
        assert set(metrics[0]) == {"val_evaluator_accuracy", "val_evaluator_loss"}
        assert metrics[0] == metrics[1]

    def test_metrics_equal_a_one_process_evaluation_of_the_final_model(self, run_dir: Path) -> None:
        """The all-reduced values are those of the final weights on the whole validation set."""
        final = weights(run_dir, "run", 0)
        for name, tensor in weights(run_dir, "run", 1).items():  # DDP keeps replicas equal
            assert torch.equal(tensor, final[name]), name
        accuracy, loss = evaluate(final)
        metrics = report(run_dir, "run", 0)["metrics"]
        assert metrics["val_evaluator_accuracy"] == pytest.approx(accuracy, abs=1e-12)
        assert metrics["val_evaluator_loss"] == pytest.approx(loss, rel=1e-5)

    def test_each_rank_trains_on_half_the_data_per_epoch(self, run_dir: Path) -> None:
        """Per epoch the two ranks see disjoint halves that make up the training set."""
        half = dist_worker.N_TRAIN // 2
        seen = [report(run_dir, "run", rank)["seen"] for rank in (0, 1)]
        for rank in (0, 1):
            assert report(run_dir, "run", rank)["n_samples"] == 2 * half  # this process's count
            assert [len(epoch) for epoch in seen[rank]] == [half, half]
        for epoch in (0, 1):
            mine, theirs = set(seen[0][epoch]), set(seen[1][epoch])
            assert len(mine) == len(theirs) == half
            assert mine.isdisjoint(theirs)
            assert mine | theirs == set(range(dist_worker.N_TRAIN))

    def test_the_sampler_epoch_is_set_at_every_epoch(self, run_dir: Path) -> None:
        """Each epoch's order is the DistributedSampler's after set_epoch(epoch): shuffles differ."""
        for rank in (0, 1):
            seen = report(run_dir, "run", rank)["seen"]
            assert seen[0] != seen[1]
            sampler = DistributedSampler(
                range(dist_worker.N_TRAIN), num_replicas=2, rank=rank, shuffle=True, seed=0
            )
            for epoch in (0, 1):
                sampler.set_epoch(epoch)
                assert seen[epoch] == list(sampler)

    def test_only_rank_0_writes_event_files_and_checkpoints(self, run_dir: Path) -> None:
        """Rank 0 wrote TensorBoard events and checkpoints; rank 1, pointed elsewhere, nothing."""
        rank0 = run_dir / "rank0"
        assert len(list((rank0 / "tb").glob("events.out.tfevents.*"))) == 1
        assert sorted(p.name for p in (rank0 / "ckpt").iterdir()) == [
            "checkpoint_trainer_n_epoch_completed=1.pt",
            "checkpoint_trainer_n_epoch_completed=2.pt",
        ]
        assert not (run_dir / "rank1").exists()
        assert not (run_dir / "resumed" / "rank1").exists()

    def test_a_scored_checkpoint_is_kept_by_rank_0s_decision(self, run_dir: Path) -> None:
        """The second evaluation's lower loss is not kept by a mode="max" checkpoint, on
        every rank alike (the run ended: no rank waited alone in a state dict's collective)."""
        kept = [p.name for p in (run_dir / "rank0" / "best").iterdir()]
        assert len(kept) == 1 and "n_run_completed=1" in kept[0]

    def test_the_checkpoint_holds_unwrapped_weights(self, run_dir: Path) -> None:
        """The model is saved without DDP's "module." prefix, the metrics with both ranks' parts."""
        state = Checkpoint.read(epoch_checkpoint(run_dir, 2))["state"]
        keys = list(state["objects"]["modules.model"])
        assert keys and not any(k.startswith("module.") for k in keys)
        accuracy = state["nodes"]["handlers.val_evaluator_accuracy_metric"]["metric"]
        ((_, per_rank),) = accuracy.items()
        assert len(per_rank) == 2

    def test_a_two_process_resume_continues_exactly(self, run_dir: Path) -> None:
        """Resumed from the epoch-1 checkpoint, both ranks end with the weights and metrics
        of the uninterrupted run (every rank draws its dropout like rank 0, seeded alike)."""
        final = weights(run_dir, "run", 0)
        for rank in (0, 1):
            resumed = weights(run_dir, "resumed", rank)
            for name, tensor in final.items():
                assert torch.equal(resumed[name], tensor), (rank, name)
            got, want = report(run_dir, "resumed", rank), report(run_dir, "run", rank)
            assert got["metrics"] == want["metrics"]
            assert got["n_samples"] == want["n_samples"]
            assert got["seen"][1] == want["seen"][1]  # epoch 2: this rank's own shard
            # A variable saved is rank 0's: rank 1 resumes with rank 0's record of epoch 1.
            assert got["seen"][0] == report(run_dir, "run", 0)["seen"][0]

    def test_a_one_process_resume_continues(self, run_dir: Path, tmp_path: Path) -> None:
        """The two-process epoch-1 checkpoint loads into a one-process state, which trains on."""
        state = dist_worker.build(tmp_path)
        dist = state.handlers.distributed
        assert isinstance(dist, Distributed)
        assert (dist.rank, dist.world_size, dist.backend) == (0, 1, None)
        assert state.structure.title == ""
        meta = Checkpoint.load(state, epoch_checkpoint(run_dir, 1))
        assert meta["counter"] == "engines.trainer.n_epoch_completed=1"
        start = {k: v.clone() for k, v in state.trainer.model.state_dict().items()}
        state.trainer.run(max_epochs=2)
        assert state.trainer.n_epoch_completed == 2
        # 600 samples of rank 0's epoch 1, then all 1200 in this one process
        assert state.trainer.n_samples == 600 + dist_worker.N_TRAIN
        assert any(
            not torch.equal(start[k], v) for k, v in state.trainer.model.state_dict().items()
        )
        accuracy, _ = evaluate(state.trainer.model.state_dict())
        assert state.metrics.val_evaluator_accuracy == pytest.approx(accuracy, abs=1e-12)
        assert state.structure.title == ""  # the title is not saved: this state is not rank 0 of 2


class TestFailure:
    """A failure on one rank ends the whole job with that rank's error."""

    def test_an_exception_on_rank_1_ends_the_job_with_its_error_and_chain(
        self, tmp_path: Path
    ) -> None:
        """Rank 1's subscriber raises while rank 0 waits in DDP's all-reduce: the launch ends
        (well before the timeout) with rank 1's traceback, its message and its chain note."""
        started = time.monotonic()
        done = launch("fail", tmp_path)
        assert time.monotonic() - started < TIMEOUT
        assert done.returncode != 0
        err = done.stderr
        assert "Process 1 terminated with the following error" in err
        assert "RuntimeError: rank 1 broke on purpose" in err
        assert "while engines.trainer.n_iteration_completed = 5 -> fail.break_on_rank_1" in err


@pytest.fixture(scope="module")
def ignite_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The outputs of one ignite training on two processes, on both engines.

    A launch whose process group does not come up (gloo aborting a process while the
    two connect on loopback, seen once in many runs) is tried once more on a new port;
    a training that fails fails both times, and both errors are shown.
    """
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    errors = []
    for attempt in (1, 2):
        out = tmp_path_factory.mktemp(f"ignite_two_processes_{attempt}")
        done = subprocess.run(
            [sys.executable, str(WORKER.with_name("dist_ignite_worker.py")), str(out)],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
        )
        if done.returncode == 0:
            return out
        errors.append(done.stderr[-4000:])
    raise AssertionError("\n--- second attempt ---\n".join(errors))


class TestIgniteEngine:
    """An ignite training under ignite.distributed, on ignite's Engine and on IgniteEngine
    (tests/nodes/dist_ignite_worker.py, two gloo processes): the same numbers."""

    def test_same_accuracies_weights_and_iterations_as_ignite(self, ignite_dir: Path) -> None:
        per_epoch = -(-dist_worker.N_TRAIN // 2 // (dist_worker.BATCH_SIZE // 2))  # ceil
        for rank in (0, 1):
            ours, theirs = report(ignite_dir, "statefire", rank), report(ignite_dir, "ignite", rank)
            assert ours["accuracies"] == theirs["accuracies"]
            assert ours["iterations"] == theirs["iterations"] == 2 * per_epoch
            assert ours["variable"] == ours["accuracies"][-1]  # metrics.val_accuracy
            assert ours["subscribers"] == [
                "train_with.evaluate (tests/nodes/dist_ignite_worker.py:65)"
            ]
            ours_w, theirs_w = (
                weights(ignite_dir, "statefire", rank),
                weights(ignite_dir, "ignite", rank),
            )
            assert all(torch.equal(ours_w[k], theirs_w[k]) for k in theirs_w)
        # the accuracy is all-reduced: both ranks hold the whole validation set's
        assert (
            report(ignite_dir, "statefire", 0)["accuracies"]
            == report(ignite_dir, "statefire", 1)["accuracies"]
        )
        assert 0.5 < report(ignite_dir, "statefire", 0)["accuracies"][-1] <= 1.0
