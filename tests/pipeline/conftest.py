"""Fixtures of the core tests: a fresh State and small toy nodes (no torch)."""

from __future__ import annotations

import pytest
from core_toys import Counter, Loop

from pipeline import State


@pytest.fixture
def state() -> State:
    """A fresh State with ``configs.lr = 0.1`` and ``configs.x = 0``."""
    s = State()
    s.configs.lr = 0.1
    s.configs.x = 0
    return s


@pytest.fixture
def counter(state: State) -> Counter:
    """A Counter registered as ``handlers.counter``."""
    return Counter(state, "counter")


@pytest.fixture
def loop(state: State) -> Loop:
    """A Loop registered as ``engines.loop``."""
    return Loop(state, "loop")
