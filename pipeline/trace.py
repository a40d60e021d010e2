"""``Trace``: a bounded record of who set what while it is active.

It keeps summaries (strings), never the values themselves, and no reference
to the state once it has ended, so a finished trace holds nothing alive.
"""

from __future__ import annotations

import sys
import weakref
from collections import Counter, deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.node import Node
from pipeline.values import summarize

if TYPE_CHECKING:
    from pipeline.state import State
    from pipeline.subscription import Subscription
    from pipeline.variable import Slot

__all__ = ["Trace", "TraceEntry"]

_CORE_DIR = str(Path(__file__).parent)


@dataclass(frozen=True)
class TraceEntry:
    """One recorded set.

    Attributes:
        seq: its number since the trace started (entries past ``maxlen`` are dropped first).
        path: the variable set.
        writer: who set it: a node, a callback, or the caller's file:line.
        old: summary of the old value.
        new: summary of the new value.
        depth: causal depth (0: set by top-level code; 1: by a subscriber of that; ...).
        changed: whether it was a change (an event) or a set to the same value.
    """

    seq: int
    path: str
    writer: str
    old: str
    new: str
    depth: int
    changed: bool

    def __str__(self) -> str:
        flag = "" if self.changed else "  (unchanged)"
        return (
            f"{self.seq:>6} {'  ' * self.depth}{self.path}: {self.old} -> {self.new}"
            f"  by {self.writer}{flag}"
        )


class Trace:
    """Records sets and fired subscriptions; use as ``with state.trace() as t:``.

    Attributes:
        entries: the last ``maxlen`` sets, oldest first.
        n_sets: how many sets were recorded in all (including dropped ones).
        set_counts: sets per variable path.
        fire_counts: fired subscriptions per ``(variable path, subscriber key)`` edge.
    """

    def __init__(self, state: State, maxlen: int = 10_000) -> None:
        if type(maxlen) is not int or maxlen < 1:
            raise ValueError(f"maxlen must be a positive integer, got {maxlen!r}")
        self._state: weakref.ref[State] | None = weakref.ref(state)
        self._previous: Trace | None = None
        self.maxlen = maxlen
        self.entries: deque[TraceEntry] = deque(maxlen=maxlen)
        self.n_sets = 0
        self.set_counts: Counter[str] = Counter()
        self.fire_counts: Counter[tuple[str, str]] = Counter()

    def __enter__(self) -> Trace:
        state = self._state() if self._state is not None else None
        if state is None:
            raise RuntimeError("this trace has ended; start a new one with state.trace()")
        rt = state._rt
        self._previous = rt.tracer
        rt.tracer = self
        rt.refresh_slow()
        return self

    def __exit__(self, *exc: object) -> None:
        state = self._state() if self._state is not None else None
        if state is not None:
            state._rt.tracer = self._previous
            state._rt.refresh_slow()
        self._previous = None
        self._state = None

    def record_set(
        self, slot: Slot, old: Any, new: Any, writer: Any, depth: int, changed: bool
    ) -> None:
        """Record one set (called by the runtime)."""
        if self._previous is not None:
            self._previous.record_set(slot, old, new, writer, depth, changed)
        if writer is not None:
            who = writer.label
        elif isinstance(slot.owner, Node):
            who = slot.owner.label
        else:
            who = _caller()
        self.n_sets += 1
        self.set_counts[slot.path] += 1
        self.entries.append(
            TraceEntry(self.n_sets, slot.path, who, summarize(old), summarize(new), depth, changed)
        )

    def record_fire(self, slot: Slot, sub: Subscription) -> None:
        """Record that a subscription fired (called by the runtime)."""
        if self._previous is not None:
            self._previous.record_fire(slot, sub)
        self.fire_counts[(slot.path, sub.subscriber.key)] += 1

    @property
    def active(self) -> bool:
        """Whether the trace is still recording."""
        return self._state is not None

    def render(self, state: State, path: str | Path) -> Path:
        """Draw ``state``'s graph with this trace highlighted (``state.render(path, trace=t)``)."""
        return state.render(path, trace=self)

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        state = "recording" if self.active else "ended"
        last = f", last {self.entries[-1].path}: {self.entries[-1].old} -> {self.entries[-1].new}"
        return f"<Trace {state}: {self.n_sets} sets, {len(self.entries)} kept{last if self.entries else ''}>"

    def __str__(self) -> str:
        dropped = self.n_sets - len(self.entries)
        head = f"trace: {self.n_sets} sets"
        if dropped:
            head += f" ({dropped} oldest dropped, maxlen={self.maxlen})"
        return "\n".join([head, *(str(e) for e in self.entries)])


def _caller() -> str:
    """file:line of the first frame outside the core: who set a container variable."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_CORE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "?"
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
