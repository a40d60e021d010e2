"""The per-process side of tests/nodes/test_distributed.py: a small training on digits.

Run as a script, it launches ``--nproc`` processes with ``idist.Parallel`` on
the gloo backend over loopback; each one builds the same state (trainer,
validation evaluator, accuracy and loss, TensorBoard, checkpoints into a
directory of its own rank), trains, and writes what the test checks to JSON
and ``.pt`` files under ``OUT``:

    python tests/nodes/dist_worker.py train OUT --nproc 2   # train 2 epochs, then resume
    python tests/nodes/dist_worker.py fail OUT --nproc 2    # rank 1 raises in a subscriber

``build`` is also called in the test's own process for one-process runs.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import sys
from pathlib import Path
from typing import Any

import ignite.distributed as idist
import torch
from ignite.metrics import Accuracy, Loss
from torch import nn
from torch.utils.data import Dataset

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script: the repository's packages
    sys.path.insert(0, str(ROOT))

from nodes.checkpoint import Checkpoint  # noqa: E402
from nodes.metric import Metric  # noqa: E402
from nodes.supervised import Evaluator, Trainer, to_device, unwrap_model  # noqa: E402
from nodes.tensorboard import ScalarChart, TensorBoard  # noqa: E402
from pipeline import State  # noqa: E402

# Both sizes are even, so a DistributedSampler over 2 processes pads nothing
# (it would repeat samples to reach a multiple of the world size): every rank
# sees exactly half, and the all-reduced metrics cover the whole validation set once.
N_TRAIN = 1200
N_VAL = 596
BATCH_SIZE = 64  # over all processes: auto_dataloader gives each of 2 processes 32
SEED = 0


class IndexedDigits(Dataset):
    """scikit-learn's 8x8 digits ``[start, stop)``; an item is ``(x, y, index)``."""

    def __init__(self, start: int, stop: int) -> None:
        from sklearn.datasets import load_digits

        data = load_digits()
        self.x = torch.tensor(data.data[start:stop], dtype=torch.float32) / 16.0
        self.y = torch.tensor(data.target[start:stop], dtype=torch.int64)

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, int]:
        return self.x[i], self.y[i], i


def make_model() -> nn.Module:
    """A 64-32-10 MLP with dropout (so the random generators matter to the weights)."""
    torch.manual_seed(SEED)
    return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.2), nn.Linear(32, 10))


def prepare_batch(
    batch: Any, device: Any = None, non_blocking: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x, y, index)`` -> ``(x, y)`` on ``device``."""
    return to_device(batch[0], device, non_blocking), to_device(batch[1], device, non_blocking)


def build(out: Path) -> State:
    """The same state on every process: trainer, evaluator, metrics, TensorBoard, checkpoints.

    TensorBoard and the checkpoints get a directory per rank (``out/rank<R>``),
    so the test sees what each rank wrote. ``state.params.seen`` lists, per
    trainer epoch, the sample indices this process trained on, in order.
    """
    torch.manual_seed(SEED)  # the same generators on every rank
    state = State()
    state.dataloaders.train = idist.auto_dataloader(
        IndexedDigits(0, N_TRAIN), batch_size=BATCH_SIZE, shuffle=True
    )
    state.dataloaders.val = idist.auto_dataloader(
        IndexedDigits(N_TRAIN, N_TRAIN + N_VAL), batch_size=200, shuffle=False
    )
    device = idist.device()  # where auto_model puts the model: batches go there too
    model = idist.auto_model(make_model())  # DDP with 2 processes; the state keeps it unwrapped
    optimizer = idist.auto_optim(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5))
    trainer = Trainer(
        state,
        "trainer",
        model,
        optimizer,
        nn.CrossEntropyLoss(),
        state.dataloaders.train,
        device,
        prepare_batch=prepare_batch,
    )
    evaluator = Evaluator(
        state,
        "val_evaluator",
        model,
        state.dataloaders.val,
        run_on=trainer.n_epoch_completed_ref,
        device=device,
        prepare_batch=prepare_batch,
    )
    Metric(evaluator, Accuracy(), "accuracy")
    Metric(evaluator, Loss(nn.CrossEntropyLoss()), "loss")

    state.params.seen = []

    @state.on(trainer.n_epoch_started_ref, writes=["params.seen"])
    def new_epoch() -> None:
        state.params.seen = [*state.params.seen, []]

    @state.on(trainer.batch_ref, reads=["params.seen"])
    def record_indices() -> None:
        state.params.seen[-1].extend(trainer.batch[2].tolist())

    mine = out / f"rank{idist.get_rank()}"
    TensorBoard(state, mine / "tb", log_graph=False)
    ScalarChart(trainer.n_iteration_completed_ref, [trainer.output_ref], every=5)
    Checkpoint(state, mine / "ckpt", trigger=trainer.n_epoch_completed_ref, n_saved=None)
    # Keeps the file of the highest loss: the second evaluation (a lower loss) is not
    # saved, a decision every rank must take alike (building a state dict is collective).
    Checkpoint(
        state,
        mine / "best",
        trigger=evaluator.n_run_completed_ref,
        score=state.metrics.val_evaluator_loss_ref,
        mode="max",
        prefix="worst",
        name="worst_checkpoint",
    )
    return state


def report(state: State) -> dict[str, Any]:
    """What the test compares between ranks and with a one-process run."""
    dist = state.handlers.distributed
    return {
        "rank": dist.rank,
        "world_size": dist.world_size,
        "backend": dist.backend,
        "title": state.structure.title,
        "overview_head": state.overview().splitlines()[0],
        "metrics": state.metrics.variables(),
        "n_samples": state.trainer.n_samples,
        "n_epoch_completed": state.trainer.n_epoch_completed,
        "seen": state.params.seen,
    }


def _save(state: State, out: Path, name: str) -> None:
    rank = idist.get_rank()
    (out / f"{name}_rank{rank}.json").write_text(json.dumps(report(state)))
    torch.save(unwrap_model(state.trainer.model).state_dict(), out / f"{name}_rank{rank}.pt")


def train(local_rank: int, out: Path) -> None:
    """Train 2 epochs; then, on a fresh state, resume from the epoch-1 checkpoint to epoch 2."""
    state = build(out)
    state.trainer.run(max_epochs=2)
    state.writers.tensorboard.close()
    _save(state, out, "run")
    state.render(out / f"graph_rank{idist.get_rank()}.dot")
    idist.barrier()  # rank 0's checkpoints are on disk for every rank

    resumed = build(out / "resumed")
    first = sorted((out / "rank0" / "ckpt").glob("*n_epoch_completed=1*.pt"))
    Checkpoint.load(resumed, first[0])
    resumed.trainer.run(max_epochs=2)
    resumed.writers.tensorboard.close()
    _save(resumed, out, "resumed")


def fail(local_rank: int, out: Path) -> None:
    """Rank 1 raises in a subscriber at its 5th iteration; rank 0 waits in DDP's all-reduce."""
    state = build(out)
    rank = idist.get_rank()

    @state.on(state.trainer.n_iteration_completed_ref, once=5)
    def break_on_rank_1() -> None:
        if rank == 1:
            raise RuntimeError("rank 1 broke on purpose")

    state.trainer.run(max_epochs=2)


def free_port() -> int:
    """A TCP port free on the loopback interface now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch(worker: Any, out: Path, nproc: int) -> None:
    """Run ``worker(local_rank, out)`` in ``nproc`` gloo processes on loopback, one thread each."""
    out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    torch.set_num_threads(1)
    with idist.Parallel(
        backend="gloo", nproc_per_node=nproc, master_addr="127.0.0.1", master_port=free_port()
    ) as parallel:
        parallel.run(worker, out)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("mode", choices=["train", "fail"])
    parser.add_argument("out", type=Path)
    parser.add_argument("--nproc", type=int, default=2)
    args = parser.parse_args()
    launch({"train": train, "fail": fail}[args.mode], args.out, args.nproc)
