"""``Trace``: a bounded record of who set what while it is active.

Recording is meant to stay on while debugging, so it does the least it can
per set: one tuple appended to a list, holding the slot, the writer, the
depth and the two values -- immutable scalars as they are, anything else
(tensors, batches, lists) summarised at once, because a trace must not keep
values alive (while it records it holds the last tensor each variable was
set to, nothing more). The text of an entry (``TraceEntry``), the writer's label and
the counts per path are made only when somebody reads them, and at the end
of the trace, after which it holds no reference to the state, its nodes or
its values.
"""

from __future__ import annotations

import sys
import weakref
from collections import Counter, deque
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.node import Node
from pipeline.values import SCALAR_TYPES, is_tensor, summarize

if TYPE_CHECKING:
    from pipeline.state import State
    from pipeline.subscription import Subscription
    from pipeline.variable import Slot

__all__ = ["KEPT_TYPES", "Trace", "TraceEntry"]

_CORE_DIR = str(Path(__file__).parent)

#: Values a raw record holds as they are (immutable and small; summarised when read).
#: str and bytes are left out: they may be long, and a summary is a str too.
KEPT_TYPES: frozenset[type] = frozenset({int, float, bool, complex, type(None)})

# A raw record: (slot, old, new, writer, depth, changed, caller). old and new are a
# value of a KEPT_TYPES type or already a summary (a str); writer is the running node or
# callback (None for top-level code, then caller is file:line, or "" for a node's
# own variable).
_Record = tuple[Any, Any, Any, Any, int, bool, str]

_SLOT = itemgetter(0)


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

    A trace started inside another one records for both: the outer trace
    receives the inner one's records when the inner one ends.

    Attributes:
        maxlen: how many entries it keeps (the oldest are dropped first).
        log: the raw records since the last fold, and ``fired``: the subscriptions
            fired since the last count (framework internal: the runtime appends to
            both, and calls ``fold()`` when ``log`` reaches ``fold_at`` records).
    """

    def __init__(self, state: State, maxlen: int = 10_000) -> None:
        if type(maxlen) is not int or maxlen < 1:
            raise ValueError(f"maxlen must be a positive integer, got {maxlen!r}")
        self._state: weakref.ref[State] | None = weakref.ref(state)
        self._previous: Trace | None = None
        self.maxlen = maxlen
        self._keep = maxlen  # records kept: also the outer trace's maxlen when nested
        self.fold_at = maxlen + max(maxlen, 4096)
        # While active: raw records since the last fold, and the fired subscriptions.
        self.log: list[_Record] = []
        self.fired: list[Subscription] = []
        # The summary of the tensor each slot was last set to (the tensor and its
        # summary): the next set's old value is usually that same object. It holds
        # only what the slots hold anyway, and is emptied at the end.
        self._last: dict[Slot, tuple[Any, str]] = {}
        # The last tensor summarised, wherever it was set: at most one value beyond
        # what the slots hold, until the next tensor is set.
        self._recent: tuple[Any, str] = (None, "")
        self._n_dropped = 0  # records dropped from the front of the log (counted, not kept)
        self._slot_counts: Counter[Slot] = Counter()  # sets of the dropped records
        self._sub_counts: Counter[Subscription] = Counter()  # fires counted so far
        # Once ended: the kept records as plain strings, and the counts.
        self._ended: list[tuple[str, str, str, str, int, bool]] | None = None
        self._n_sets = 0
        self._entries: deque[TraceEntry] | None = None
        self._set_counts: Counter[str] = Counter()
        self._fire_counts: Counter[tuple[str, str]] = Counter()

    def __enter__(self) -> Trace:
        state = self._state() if self._state is not None else None
        if state is None:
            raise RuntimeError("this trace has ended; start a new one with state.trace()")
        rt = state._rt
        previous = rt.tracer
        outer = previous
        while outer is not None:
            if outer is self:
                raise RuntimeError(
                    "this trace is already recording; a trace is entered once (nest a "
                    "new one, `with state.trace() as inner:`, to record a part apart)"
                )
            outer = outer._previous
        if previous is not None:
            self._keep = max(self.maxlen, previous._keep)
            self.fold_at = self._keep + max(self._keep, 4096)
        self._previous = previous
        rt.tracer = self
        rt.refresh_slow()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._state is None:
            raise RuntimeError("this trace has already ended; it is ended once")
        state = self._state()
        if state is not None:
            innermost = state._rt.tracer
            if innermost is not self:
                raise RuntimeError(
                    "this trace is not the innermost one recording"
                    + ("" if innermost is None else f" ({innermost!r} is)")
                    + ": traces end in the reverse order they began; end the inner "
                    "one first, or use `with state.trace():` blocks, which nest"
                )
            state._rt.tracer = self._previous
            state._rt.refresh_slow()
        if self._previous is not None:
            self._previous._absorb(self)
        self._n_sets = self._n_dropped + len(self.log)
        self._set_counts = self._make_set_counts()
        self._fire_counts = self._make_fire_counts()
        self._ended = _detach(self.log[-self.maxlen :])
        self.log = []
        self.fired = []
        self._last = {}
        self._recent = (None, "")
        self._slot_counts = Counter()
        self._sub_counts = Counter()
        self._previous = None
        self._state = None

    # Recording (called by the runtime, once per set) ----------------------------------

    def record_set(
        self, slot: Slot, old: Any, new: Any, writer: Any, depth: int, changed: bool
    ) -> None:
        """Record one set (called by the runtime)."""
        kept = KEPT_TYPES
        recent = self._recent
        old_text = old
        if type(old) not in kept:
            if old is recent[0]:
                old_text = recent[1]
            else:
                last = self._last.get(slot)
                old_text = last[1] if last is not None and last[0] is old else _summary(old)
        new_text = new
        if type(new) not in kept:
            if new is recent[0]:  # a tensor just set elsewhere (an output that is the batch)
                self._last[slot] = recent
                new_text = recent[1]
            else:
                new_text = old_text if new is old else _summary(new)
                if _kinds[type(new)] is True:  # a tensor: its summary is kept for the next set
                    self._last[slot] = self._recent = (new, new_text)
        caller = ""
        if writer is None and not isinstance(slot.owner, Node):
            caller = _caller()
        log = self.log
        log.append((slot, old_text, new_text, writer, depth, changed, caller))
        if len(log) >= self.fold_at:
            self.fold()

    def fold(self) -> None:
        """Count the records that fall out of the buffer and drop them; count the fires."""
        log = self.log
        dropped = log[: -self._keep]
        self._slot_counts.update(map(_SLOT, dropped))
        self._n_dropped += len(dropped)
        del log[: -self._keep]
        self._sub_counts.update(self.fired)
        self.fired.clear()

    def _absorb(self, inner: Trace) -> None:
        """Take the records of a trace that ran inside this one."""
        self.log.extend(inner.log)
        self._n_dropped += inner._n_dropped
        self._slot_counts.update(inner._slot_counts)
        self._sub_counts.update(inner._sub_counts)
        self.fired.extend(inner.fired)
        if len(self.log) >= self.fold_at:
            self.fold()

    # Reading ------------------------------------------------------------------------

    @property
    def active(self) -> bool:
        """Whether the trace is still recording."""
        return self._state is not None

    @property
    def n_sets(self) -> int:
        """How many sets were recorded in all (including dropped ones)."""
        if self._ended is not None:
            return self._n_sets
        return self._n_dropped + len(self.log)

    @property
    def entries(self) -> deque[TraceEntry]:
        """The last ``maxlen`` sets, oldest first."""
        if self._entries is not None:
            return self._entries
        ended = self._ended
        records = ended if ended is not None else _detach(self.log[-self.maxlen :])
        seq = self.n_sets - len(records)
        entries: deque[TraceEntry] = deque(maxlen=self.maxlen)
        for i, (path, who, old, new, depth, changed) in enumerate(records, seq + 1):
            entries.append(TraceEntry(i, path, who, old, new, depth, changed))
        if ended is not None:
            self._entries = entries
        return entries

    @property
    def set_counts(self) -> Counter[str]:
        """Sets per variable path."""
        return self._set_counts if self._ended is not None else self._make_set_counts()

    @property
    def fire_counts(self) -> Counter[tuple[str, str]]:
        """Fired subscriptions per ``(variable path, subscriber key)`` edge."""
        return self._fire_counts if self._ended is not None else self._make_fire_counts()

    def _make_set_counts(self) -> Counter[str]:
        by_slot = self._slot_counts + Counter(map(_SLOT, self.log))
        counts: Counter[str] = Counter()
        for slot, n in by_slot.items():
            counts[slot.path] += n
        return counts

    def _make_fire_counts(self) -> Counter[tuple[str, str]]:
        by_sub = self._sub_counts + Counter(self.fired)
        counts: Counter[tuple[str, str]] = Counter()
        for sub, n in by_sub.items():
            counts[(sub.slot.path, sub.subscriber.key)] += n
        return counts

    def render(self, state: State, path: str | Path) -> Path:
        """Draw ``state``'s graph with this trace highlighted (``state.render(path, trace=t)``)."""
        return state.render(path, trace=self)

    def __len__(self) -> int:
        if self._ended is not None:
            return len(self._ended)
        return min(len(self.log), self.maxlen)

    def __repr__(self) -> str:
        state = "recording" if self.active else "ended"
        entries = self.entries
        last = ""
        if entries:
            last = f", last {entries[-1].path}: {entries[-1].old} -> {entries[-1].new}"
        return f"<Trace {state}: {self.n_sets} sets, {len(entries)} kept{last}>"

    def __str__(self) -> str:
        entries = self.entries
        n_sets = self.n_sets
        dropped = n_sets - len(entries)
        head = f"trace: {n_sets} sets"
        if dropped:
            head += f" ({dropped} oldest dropped, maxlen={self.maxlen})"
        return "\n".join([head, *(str(e) for e in entries)])


def _detach(records: list[_Record]) -> list[tuple[str, str, str, str, int, bool]]:
    """The records as strings only: path, writer, old, new, depth, changed."""
    labels: dict[int, str] = {}
    out = []
    for slot, old, new, writer, depth, changed, caller in records:
        if writer is not None:
            who = labels.get(id(writer))
            if who is None:
                who = labels[id(writer)] = writer.label
        elif caller:
            who = caller
        else:
            who = slot.owner.label
        out.append((slot.path, who, _text(old), _text(new), depth, changed))
    return out


def _text(value: Any) -> str:
    """The summary of a recorded value (a kept scalar, or already its summary)."""
    return value if type(value) is str else summarize(value)


# Per type: True for a tensor, False for a value summarised each time (scalars, strings,
# lists, tuples, dicts), or the summary itself for a type summarised by its name only.
_kinds: dict[type, bool | str] = {}
_tensor_summaries: dict[tuple[Any, Any, Any], str] = {}


def _summary(value: Any) -> str:
    """``summarize(value)``, with what only depends on the type (or a tensor's shape) cached."""
    t = type(value)
    kind = _kinds.get(t)
    if kind is None:
        kind = _kinds[t] = _kind_of(value)
    if kind is False:
        return summarize(value)
    if kind is not True:
        return kind
    key = (value.shape, value.dtype, value.device)
    text = _tensor_summaries.get(key)
    if text is None:
        if len(_tensor_summaries) > 1024:
            _tensor_summaries.clear()
        text = _tensor_summaries[key] = summarize(value)
    return text


def _kind_of(value: Any) -> bool | str:
    if is_tensor(value):
        return True
    if type(value) in SCALAR_TYPES or isinstance(value, (list, tuple, dict)):
        return False
    return summarize(value)


def _caller() -> str:
    """file:line of the first frame outside the core: who set a container variable."""
    frame = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(_CORE_DIR):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "?"
    return f"{Path(frame.f_code.co_filename).name}:{frame.f_lineno}"
