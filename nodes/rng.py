"""``RandomStates``: the random number generators of the process, as part of the state.

Python's ``random``, NumPy's global generator, torch's CPU generator and
every CUDA device's generator are saved by its ``state_dict()`` (as tensors,
ints and tuples, which ``torch.load(weights_only=True)`` accepts) and
restored by ``load_state_dict()``, so a resumed run draws the same numbers
(dropout, shuffling, augmentation) as an uninterrupted one.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
import torch

from pipeline import Node, State

__all__ = ["RandomStates", "ensure_random_states"]


class RandomStates(Node):
    """Saves and restores the process's random generators with the state.

    A ``Trainer`` adds one (``state.handlers.random_states``) when
    the state has none.
    """

    def __init__(self, state: State, name: str = "random_states") -> None:
        super().__init__(state, name)

    def state_dict(self) -> dict[str, Any]:
        """The generators' states, as weights-only-loadable data."""
        version, mt, gauss = random.getstate()
        kind, keys, pos, has_gauss, cached = np.random.get_state()
        out: dict[str, Any] = {
            "python": (version, list(mt), gauss),
            "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached),
            "torch": torch.get_rng_state(),
        }
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            out["cuda"] = torch.cuda.get_rng_state_all()
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Put the generators back where ``state_dict`` found them."""
        missing = [k for k in ("python", "numpy", "torch") if k not in state_dict]
        if missing:
            raise ValueError(f"{self.key}: the saved random states lack {missing}")
        version, mt, gauss = state_dict["python"]
        random.setstate((version, tuple(mt), gauss))
        kind, keys, pos, has_gauss, cached = state_dict["numpy"]
        np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
        torch.set_rng_state(state_dict["torch"])
        if "cuda" in state_dict and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state_dict["cuda"])


def ensure_random_states(state: State) -> RandomStates:
    """The state's ``RandomStates``, created when it has none."""
    for node in state.nodes().values():
        if isinstance(node, RandomStates):
            return node
    return RandomStates(state)
