"""Propagation: what happens after a variable is set.

This is the hot path of the framework. ``Runtime.on_set`` runs for a set that
somebody may care about (a subscriber, a trace, a ``hold`` block or a new
writer); ``Runtime.notify`` calls the subscribers synchronously and depth
first, in dependency order, and annotates an exception with the chain of
changes that led to it. Ordering itself is computed in ``graph.py`` and only
when the graph changed.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from pipeline._hooks import RuntimeBase
from pipeline.subscription import callback_key
from pipeline.trace import KEPT_TYPES
from pipeline.values import SCALAR_TYPES, is_changed, summarize
from pipeline.variable import Event

if TYPE_CHECKING:
    from pipeline.state import State
    from pipeline.subscription import Subscription
    from pipeline.trace import Trace
    from pipeline.variable import Ref, Slot

__all__ = ["ERROR_HINTS", "InProgress", "PendingCall", "Runtime"]

_CHAIN_ATTR = "_statefire_chain"


#: Functions ``hint(exc, path) -> str`` that may explain an exception raised by a
#: subscriber of the variable at ``path``; a non-empty answer becomes a note of the
#: exception. The core has none of its own; ``nodes`` adds the ignite habit
#: (``engine.state.epoch`` read from an Event).
ERROR_HINTS: list[Callable[[BaseException, str], str]] = []


class PendingCall(NamedTuple):
    """A subscriber that a notification in progress has still to call.

    ``key`` and ``nth`` name the subscription in any state built the same way
    (the ``nth`` of the variable's subscriptions with that key); ``filtered``
    says its filter already passed (a deferred ``hold()`` notification).
    """

    path: str
    key: str
    nth: int
    old: Any
    new: Any
    filtered: bool
    label: str


class InProgress(NamedTuple):
    """One notification running now: ``setter`` set ``ref`` from ``old`` to ``new``;
    ``subscriber`` is the one running (``running`` its call, to make it again), ``pending``
    those still to run after it."""

    ref: Ref
    old: Any
    new: Any
    setter: Any
    subscriber: Any
    running: PendingCall | None
    pending: list[PendingCall]


def _pending_call(slot: Slot, old: Any, new: Any, sub: Subscription, filtered: bool) -> PendingCall:
    key = sub.key
    nth = 0  # how many subscriptions with the same key come before it
    for s in slot.subs:
        if s is sub:
            break
        nth += s.key == key
    return PendingCall(slot.path, key, nth, old, new, filtered, sub.subscriber.label)


class Runtime(RuntimeBase):
    """The mutable propagation state of one ``State`` (framework internal).

    It is a separate slotted object so that the per-set bookkeeping is plain
    slot stores, not attribute writes on the State façade.
    """

    # writer and slow are RuntimeBase's (the fields the set hook reads).
    __slots__ = ("depth", "held", "hold_depth", "state", "tracer", "version")

    def __init__(self, state: State) -> None:
        self.state = state
        self.writer: Any = None  # the node or callback whose code is running now
        self.depth = 0
        self.version = 0  # bumped on every graph change; invalidates cached orders
        self.hold_depth = 0
        self.held: dict[Slot, Any] = {}
        self.tracer: Trace | None = None
        self.slow = False  # a trace or a hold block is active

    def refresh_slow(self) -> None:
        self.slow = self.hold_depth > 0 or self.tracer is not None

    def on_set(self, slot: Slot, old: Any, new: Any) -> None:
        """Called by an owner's ``__setattr__`` when a set needs more than storing."""
        writer = self.writer
        if writer is not slot.last_writer:
            if slot.owner_only and writer is not slot.owner:
                self._refuse_foreign_write(slot, old, new, writer)
            slot.last_writer = writer
            if writer is not None and writer.key not in slot.writer_keys:
                self.state._observe_write(writer, slot)
        new_type, old_type = type(new), type(old)
        changed = not (
            new is old or (new_type in SCALAR_TYPES and old_type in SCALAR_TYPES and new == old)
        )
        tracer = self.tracer
        if tracer is not None:
            # The common traced set, a number set by a node or a callback, is one append
            # of the trace's raw record here; Trace.record_set does everything else.
            if writer is not None and new_type in KEPT_TYPES and old_type in KEPT_TYPES:
                log = tracer.log
                log.append((slot, old, new, writer, self.depth, changed, ""))
                if len(log) >= tracer.fold_at:
                    tracer.fold()
            else:
                tracer.record_set(slot, old, new, writer, self.depth, changed)
        if not changed:
            return
        if self.hold_depth:
            self.held.setdefault(slot, old)
            return
        if slot.subs:
            slot.n_events += 1
            self.notify(slot, old, new, None)

    def _refuse_foreign_write(self, slot: Slot, old: Any, new: Any, writer: Any) -> None:
        """Put back the value of an owner-only variable that another writer set, and say so."""
        slot.store_quietly(old)
        from pipeline.trace import _caller

        who = writer.label if writer is not None else f"code at {_caller()}"
        owner = getattr(slot.owner, "label", slot.owner)
        raise AttributeError(
            f"{slot.path} is written only by {owner} itself; {who} set it to "
            f"{summarize(new)}, refused (it keeps {summarize(old)}). Change it through its "
            "owner's methods (an engine's counters move by running it), or restore a saved "
            "position with state.load_state_dict()"
        )

    def notify(self, slot: Slot, old: Any, new: Any, only: Iterable[Subscription] | None) -> None:
        """Call the subscribers of ``slot`` (or just ``only``, already filtered)."""
        if only is None:
            subs: Iterable[Subscription] = slot.order
            if slot.order_version != self.version:
                subs = self.state._reorder(slot)
        else:
            subs = only
        event = Event(slot.ref, old, new, self.state) if slot.needs_event else None
        prev = self.writer
        fired = self.tracer.fired if self.tracer is not None else None
        self.depth += 1
        sub = None
        try:
            for sub in subs:
                if sub.filtered:  # counted here; an unfiltered one fires on every event
                    if only is None and not sub.passes(new):
                        continue
                    sub.n_fired += 1
                self.writer = sub.subscriber
                if fired is not None:
                    fired.append(sub)
                if sub.pass_event:
                    sub.callback(event)
                else:
                    sub.callback()
        except BaseException as exc:
            if only is None:
                _uncount_after(subs, sub)
            self._annotate(exc, slot, new, sub)
            raise
        finally:
            self.writer = prev
            self.depth -= 1

    def in_progress(self) -> list[InProgress]:
        """The notifications running now, outermost first (read from the call stack, so that
        propagation itself pays nothing for it)."""
        frames = []
        frame = sys._getframe(1)
        while frame is not None:
            frames.append(frame)
            frame = frame.f_back  # type: ignore[assignment]
        frames.reverse()
        return self._levels(frames)

    def interrupted(self, exc: BaseException) -> list[InProgress]:
        """The notifications ``exc`` came out of, outermost first; at each level
        ``subscriber`` is the one it came from (read from its traceback)."""
        frames = []
        tb = exc.__traceback__
        while tb is not None:
            frames.append(tb.tb_frame)
            tb = tb.tb_next
        return self._levels(frames)

    def _levels(self, frames: list[Any]) -> list[InProgress]:
        found = []
        for i, frame in enumerate(frames):
            if frame.f_code is not _NOTIFY or frame.f_locals.get("self") is not self:
                continue
            local = frame.f_locals
            slot, old, new, sub = local["slot"], local["old"], local["new"], local.get("sub")
            if local["only"] is None:
                subs = list(local["subs"])
                after = next((k + 1 for k, s in enumerate(subs) if s is sub), len(subs))
                pending = [
                    _pending_call(slot, old, new, s, False) for s in subs[after:] if not s.removed
                ]
            else:  # a call of flush_held: the rest of its plan is still to run
                outer = frames[i - 1].f_locals if i and frames[i - 1].f_code is _FLUSH else {}
                plan = list(outer.get("plan", {}).values())
                after = next((k + 1 for k, e in enumerate(plan) if e[2] is sub), len(plan))
                pending = [
                    _pending_call(p_slot, p_old, p_slot.value, p_sub, True)
                    for p_slot, p_old, p_sub in plan[after:]
                    if not p_sub.removed
                ]
            running = _pending_call(slot, old, new, sub, True) if sub is not None else None
            subscriber = sub.subscriber if sub is not None else None
            found.append(
                InProgress(slot.ref, old, new, local["prev"], subscriber, running, pending)
            )
        return found

    def call_pending(self, call: PendingCall) -> bool:
        """Call a subscriber a notification had still to call (resuming from a checkpoint);
        False when its filter does not pass now.

        Raises:
            LookupError: no such subscription in this state.
        """
        slot = self.state._resolve(call.path)
        same = [s for s in slot.subs if s.key == call.key]
        if call.nth >= len(same):
            raise LookupError(
                f"{call.path} has no subscription {call.key} (#{call.nth + 1}) to resume; "
                "build the state as the one that saved the checkpoint"
            )
        sub = same[call.nth]
        if not call.filtered and sub.filtered and not sub.passes(call.new):
            return False
        self.notify(slot, call.old, call.new, (sub,))
        return True

    def _annotate(self, exc: BaseException, slot: Slot, new: Any, sub: Subscription | None) -> None:
        """Prepend this level to the exception's chain; the outermost level writes the note."""
        where = sub.subscriber.label if sub is not None else "(before any subscriber ran)"
        link = f"{slot.path} = {summarize(new)} -> {where}"
        try:
            chain = getattr(exc, _CHAIN_ATTR)
        except AttributeError:
            chain = []
            try:
                setattr(exc, _CHAIN_ATTR, chain)
            except AttributeError:  # an exception type that refuses attributes
                return
        chain.insert(0, link)
        if self.depth == 1:
            note = "while " + " -> ".join(chain)
            if note not in getattr(exc, "__notes__", ()):  # an exception re-raised the same way
                exc.add_note(note)
            delattr(exc, _CHAIN_ATTR)
            for hint in ERROR_HINTS:
                text = hint(exc, slot.path)
                if text:
                    exc.add_note(text)

    def flush_held(self) -> None:
        """Notify what changed inside the outermost ``hold()`` block, once per subscriber."""
        held, self.held = self.held, {}
        changed = [
            (slot, old) for slot, old in held.items() if slot.subs and is_changed(old, slot.value)
        ]
        if not changed:
            return
        if len(changed) > 1:
            rank = self.state._slot_ranks()
            changed.sort(key=lambda item: rank.get(item[0].path, 0))
        # Each callback fires once, at the position of the last of its variables.
        plan: dict[Any, tuple[Slot, Any, Subscription]] = {}
        for slot, old in changed:
            slot.n_events += 1
            subs = slot.order if slot.order_version == self.version else self.state._reorder(slot)
            for sub in subs:
                if sub.filtered and not sub.passes(slot.value):
                    continue
                key = callback_key(sub.callback)
                dropped = plan.pop(key, None)
                if dropped is not None and not dropped[2].filtered:
                    dropped[2].events_base += 1  # merged into a later call: not fired
                plan[key] = (slot, old, sub)
        calling: Subscription | None = None
        try:
            for slot, old, sub in plan.values():
                calling = sub
                if not sub.removed:
                    self.notify(slot, old, slot.value, (sub,))
        except BaseException:
            _uncount_after([entry[2] for entry in plan.values()], calling)
            raise


def _uncount_after(subs: Iterable[Subscription], failed: Subscription | None) -> None:
    """Take back the event an unfiltered subscription counted (``fired`` is the
    variable's events since it subscribed) for each one after ``failed`` that an
    exception kept from being called."""
    after = False
    for sub in subs:
        if after and not sub.filtered:
            sub.events_base += 1
        elif sub is failed:
            after = True


_NOTIFY = Runtime.notify.__code__
_FLUSH = Runtime.flush_held.__code__


def _check_frame_locals(read: dict[Any, tuple[str, ...]]) -> None:
    """Fail at import if a function no longer has the locals ``Runtime._levels``
    reads from its frames (``read`` maps a code object to those names)."""
    for code, names in read.items():
        missing = set(names) - set(code.co_varnames)
        if missing:
            raise AssertionError(
                f"{code.co_qualname} has no local {sorted(missing)}, which "
                "Runtime._levels reads from its frames; rename them in both places"
            )


#: The locals of notify and flush_held that Runtime._levels reads.
_READ_LOCALS = {
    _NOTIFY: ("self", "slot", "old", "new", "sub", "only", "subs", "prev"),
    _FLUSH: ("plan",),
}
_check_frame_locals(_READ_LOCALS)
