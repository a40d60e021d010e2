"""Toy nodes and fakes shared by the core tests (no torch)."""

from __future__ import annotations

from typing import Any

from pipeline import Node, State, Variable


class Counter(Node):
    """A toy node with one int counter and one list, registered under ``handlers``."""

    n = Variable(0, doc="how many times it counted")
    items = Variable([], doc="what it collected")

    def step(self) -> None:
        self.n += 1


class Loop(Node):
    """A toy engine: ``run(k)`` sets ``batch`` then bumps ``n_iteration_completed`` k times."""

    default_container = "engines"
    n_iteration_completed = Variable(0)
    batch = Variable(None, persistent=False)
    should_stop = Variable(False, shared=True)

    def run(self, k: int) -> None:
        with self.state.writing_as(self):
            for _ in range(k):
                self.batch = object()
                self.n_iteration_completed += 1


class Stateful:
    """A fake module: an object with ``state_dict`` / ``load_state_dict``."""

    def __init__(self, weight: float = 0.0) -> None:
        self.weight = weight
        self.n_loaded = 0

    def state_dict(self) -> dict[str, Any]:
        return {"weight": self.weight}

    def load_state_dict(self, sd: dict[str, Any]) -> None:
        self.weight = sd["weight"]
        self.n_loaded += 1


class WithOwnState(Node):
    """A node with state of its own beyond its variables (like an RNG or a metric)."""

    default_container = "metrics"
    total = Variable(0.0)

    def __init__(self, state: State, name: str) -> None:
        super().__init__(state, name)
        self.seen: list[int] = []

    def state_dict(self) -> dict[str, Any]:
        return {"seen": list(self.seen)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.seen = list(state_dict["seen"])
