"""``Distributed``: this process's place in a distributed run, as state variables.

Everything distributed runs on ``ignite.distributed`` (torch.distributed with
gloo or nccl, xla, horovod; launched by ``torchrun`` or ``idist.Parallel``);
this node only puts rank, world size and backend into the state, titles the
overview and the rendered graph with the rank, and answers "am I the process
that writes?" for the writer and checkpoint nodes.
"""

from __future__ import annotations

import os
import sys

from pipeline import Node, State, Variable

__all__ = ["Distributed", "ensure_distributed", "is_writer_process", "world_size"]


def _context() -> tuple[int, int, int, str | None]:
    """(rank, world size, local rank, backend) of this process.

    torch.distributed answers when a process group exists; otherwise
    ignite.distributed does (xla, horovod), but only if the program already
    imported it: importing ignite costs seconds, and without it nothing is
    distributed.
    """
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        local = int(os.environ.get("LOCAL_RANK", dist.get_rank()))
        if "ignite.distributed" in sys.modules:
            local = sys.modules["ignite.distributed"].get_local_rank()
        return dist.get_rank(), dist.get_world_size(), local, dist.get_backend()
    idist = sys.modules.get("ignite.distributed")
    if idist is None:
        return 0, 1, 0, None
    return idist.get_rank(), idist.get_world_size(), idist.get_local_rank(), idist.backend()


class Distributed(Node):
    """Rank, world size, local rank and backend of this process (``state.handlers.distributed``).

    Created by ``Trainer`` when the state has none. In a run of
    more than one process it sets ``state.structure.title`` to
    ``"rank R of W, backend"``, which heads the overview and the rendered graph.
    """

    rank = Variable(0, doc="this process's rank", persistent=False)
    world_size = Variable(1, doc="number of processes", persistent=False)
    local_rank = Variable(0, doc="rank within this machine", persistent=False)
    backend = Variable(
        None, doc="the distributed backend, None when not distributed", persistent=False
    )

    def __init__(self, state: State, name: str = "distributed") -> None:
        super().__init__(state, name)
        self.refresh()

    def refresh(self) -> None:
        """Read the distributed context again (after a process group was created)."""
        rank, world, local, backend = _context()
        self.reset_variables(rank=rank, world_size=world, local_rank=local, backend=backend)
        title = f"rank {rank} of {world}, {backend}" if world > 1 else ""
        if title or self.state.structure.title.startswith("rank "):
            self.state.structure.title = title

    @property
    def is_writer(self) -> bool:
        """Whether this process writes what must be written once (rank 0)."""
        return self.rank == 0


def ensure_distributed(state: State) -> Distributed:
    """The state's ``Distributed`` node, created when it has none."""
    for node in state.nodes().values():
        if isinstance(node, Distributed):
            node.refresh()
            return node
    return Distributed(state)


def is_writer_process() -> bool:
    """Whether this process is rank 0 (or not distributed)."""
    return _context()[0] == 0


def world_size() -> int:
    """How many processes take part (1 when not distributed)."""
    return _context()[1]
