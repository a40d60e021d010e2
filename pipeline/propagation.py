"""Propagation: what happens after a variable is set.

This is the hot path of the framework. ``Runtime.on_set`` runs for a set that
somebody may care about (a subscriber, a trace, a ``hold`` block or a new
writer); ``Runtime.notify`` calls the subscribers synchronously and depth
first, in dependency order, and annotates an exception with the chain of
changes that led to it. Ordering itself is computed in ``graph.py`` and only
when the graph changed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pipeline._hooks import RuntimeBase
from pipeline.subscription import callback_key
from pipeline.values import SCALAR_TYPES, is_changed, summarize
from pipeline.variable import Event

if TYPE_CHECKING:
    from pipeline.state import State
    from pipeline.subscription import Subscription
    from pipeline.trace import Trace
    from pipeline.variable import Slot

__all__ = ["Runtime"]

_CHAIN_ATTR = "_statefire_chain"


#: ignite's ``engine.state.<name>`` -> the engine variable that holds it.
_ENGINE_STATE = {
    "epoch": "n_epoch_started",
    "iteration": "n_iteration_started",
    "output": "output",
    "batch": "batch",
    "max_epochs": "max_epochs",
    "epoch_length": "epoch_length",
    "metrics": "",
    "dataloader": "dataloader",
    "times": "epoch_time",
}


def _engine_state_habit(exc: BaseException, slot: Slot) -> str:
    """A hint for a callback written for an ignite engine (``def h(engine): engine.state.epoch``),
    which receives an Event whose ``state`` is the whole State."""
    from pipeline.state import State

    name = getattr(exc, "name", None)
    if not isinstance(exc, AttributeError) or not isinstance(getattr(exc, "obj", None), State):
        return ""
    if name not in _ENGINE_STATE:
        return ""
    owner = slot.path.rsplit(".", 1)[0]
    engine = owner.split(".", 1)[1] if owner.startswith("engines.") else "<engine>"
    where = (
        f"state.metrics.{engine}_<name>"
        if name == "metrics"
        else f"engines.{engine}.{_ENGINE_STATE[name]}"
    )
    return (
        f"a callback gets an Event (ref, old, new, state), not an ignite engine: event.state is "
        f"the whole State. ignite's engine.state.{name} is the variable {where}; or attach an "
        f"ignite-style handler to the engine's ignite face: "
        f"state.{engine}.ignite.add_event_handler(Events..., handler)"
    )


class Runtime(RuntimeBase):
    """The mutable propagation state of one :class:`~pipeline.State` (framework internal).

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
            slot.last_writer = writer
            if writer is not None and writer.key not in slot.writer_keys:
                self.state._observe_write(writer, slot)
        if new is old or (type(new) in SCALAR_TYPES and type(old) in SCALAR_TYPES and new == old):
            if self.tracer is not None:
                self.tracer.record_set(slot, old, new, writer, self.depth, False)
            return
        if self.tracer is not None:
            self.tracer.record_set(slot, old, new, writer, self.depth, True)
        if self.hold_depth:
            self.held.setdefault(slot, old)
            return
        if slot.subs:
            self.notify(slot, old, new, None)

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
        self.depth += 1
        sub = None
        try:
            for sub in subs:
                if only is None and sub.filtered and not sub.passes(new):
                    continue
                self.writer = sub.subscriber
                if self.tracer is not None:
                    self.tracer.record_fire(slot, sub)
                if sub.pass_event:
                    sub.callback(event)
                else:
                    sub.callback()
        except BaseException as exc:
            self._annotate(exc, slot, new, sub)
            raise
        finally:
            self.writer = prev
            self.depth -= 1

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
            exc.add_note("while " + " -> ".join(chain))
            delattr(exc, _CHAIN_ATTR)
            habit = _engine_state_habit(exc, slot)
            if habit:
                exc.add_note(habit)

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
            subs = slot.order if slot.order_version == self.version else self.state._reorder(slot)
            for sub in subs:
                if sub.filtered and not sub.passes(slot.value):
                    continue
                key = callback_key(sub.callback)
                plan.pop(key, None)
                plan[key] = (slot, old, sub)
        for slot, old, sub in plan.values():
            if not sub.removed:
                self.notify(slot, old, slot.value, (sub,))
