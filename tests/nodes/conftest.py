"""Fixtures of the node tests: a fresh State, scikit-learn's digits, a tiny MLP, seeded loaders."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from pipeline import State

torch.set_num_threads(1)


@pytest.fixture
def state() -> State:
    """A fresh State."""
    return State()


@pytest.fixture(scope="session")
def digits() -> TensorDataset:
    """scikit-learn's 8x8 digits: 1797 samples of 64 float32 features in [0, 1], int64 labels."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.data, dtype=torch.float32) / 16.0
    y = torch.tensor(data.target, dtype=torch.int64)
    return TensorDataset(x, y)


@pytest.fixture
def make_mlp() -> Callable[..., nn.Module]:
    """``make_mlp(seed=0)``: a 64-32-10 MLP whose initial weights depend only on ``seed``."""

    def make(seed: int = 0) -> nn.Module:
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))

    return make


@pytest.fixture
def make_loader(digits: TensorDataset) -> Callable[..., DataLoader]:
    """``make_loader(seed=0, batch_size=64)``: a shuffled DataLoader over the digits whose
    order depends only on ``seed`` (its own generator, not the global RNG)."""

    def make(seed: int = 0, batch_size: int = 64, shuffle: bool = True) -> DataLoader:
        return DataLoader(
            digits,
            batch_size=batch_size,
            shuffle=shuffle,
            generator=torch.Generator().manual_seed(seed),
        )

    return make
