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


@pytest.fixture
def toy(state: State, loop: Loop, counter: Counter) -> State:
    """A small graph: a loop, a counter subscribed every 2 iterations, a callback
    copying ``configs.lr`` into ``configs.x`` (it declares it reads ``configs.lr``)."""
    loop.n_iteration_completed_ref.subscribe(counter.step, every=2)
    counter.declare_reads(state.configs.lr_ref)

    def log_lr() -> None:
        state.configs.x = state.configs.lr

    state.configs.lr_ref.subscribe(log_lr, reads=[state.configs.lr_ref])
    return state
