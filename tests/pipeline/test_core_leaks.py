"""Memory: removed subscriptions and finished traces keep nothing alive
(in the spirit of ignite's test_memory_leaks.py)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

from core_toys import Counter

from pipeline import State


class Payload:
    """Something a callback captures; weak-referenceable."""


def capture(payload: Payload) -> Any:
    """A callback whose closure holds ``payload``."""

    def cb(event: Any) -> None:
        payload.last = event.new  # type: ignore[attr-defined]

    return cb


class TestHandleLeaks:
    def test_removed_callback_and_capture_are_freed(self, state: State) -> None:
        """After remove() and del, the callback and what it captured are garbage."""
        payload = Payload()
        cb = capture(payload)
        h = state.configs.x_ref.subscribe(cb, every=2, when=lambda v: v > 0)
        state.configs.x = 2
        state.configs.lr = 0.3  # an unrelated set after the fire
        key = state.subscribers_of("configs.x")[0]
        cb_ref, payload_ref = weakref.ref(cb), weakref.ref(payload)
        h.remove()
        del cb, payload
        gc.collect()
        assert cb_ref() is None and payload_ref() is None
        assert key not in state.graph
        assert state.subscribers_of("configs.x") == []

    def test_callback_that_wrote_is_freed(self, state: State) -> None:
        """A removed callback with observed writes leaves no writes edge and no reference."""
        state.configs.y = 0

        def cb() -> None:
            state.configs.y += 1

        with state.configs.x_ref.subscribe(cb):
            state.configs.x = 1
            key = state.writers_of("configs.y")[0]
        cb_ref = weakref.ref(cb)
        del cb
        gc.collect()
        assert cb_ref() is None
        assert key not in state.graph and state.writers_of("configs.y") == []

    def test_callback_on_several_variables(self, state: State) -> None:
        """A callback leaves the graph only when its last subscription is removed."""

        def cb() -> None:
            pass

        h1 = state.configs.x_ref.subscribe(cb)
        h2 = state.configs.lr_ref.subscribe(cb)
        key = state.subscribers_of("configs.x")[0]
        h1.remove()
        assert key in state.graph
        h2.remove()
        cb_ref = weakref.ref(cb)
        del cb
        gc.collect()
        assert cb_ref() is None and key not in state.graph

    def test_unsubscribe_frees(self, state: State) -> None:
        """Ref.unsubscribe frees the callback even though the handle is kept."""

        def cb() -> None:
            pass

        handle = state.configs.x_ref.subscribe(cb)
        state.configs.x_ref.unsubscribe(cb)
        cb_ref = weakref.ref(cb)
        del cb
        gc.collect()
        assert cb_ref() is None and not handle.active

    def test_removed_inside_hold(self, state: State) -> None:
        """A subscription removed inside a hold block is neither fired nor kept."""
        calls: list[int] = []

        def cb() -> None:
            calls.append(1)

        h = state.configs.x_ref.subscribe(cb)
        with state.hold():
            state.configs.x = 1
            h.remove()
        cb_ref = weakref.ref(cb)
        del cb
        gc.collect()
        assert calls == [] and cb_ref() is None

    def test_many_subscriptions_do_not_grow_the_state(self, state: State) -> None:
        """Subscribing and removing many times leaves the graph and the slot as they were."""
        n_nodes = state.graph.number_of_nodes()
        slot = state.configs.x_ref._slot
        for i in range(200):
            with state.configs.x_ref.subscribe(lambda: None, every=3):
                state.configs.x = i + 1
        assert state.graph.number_of_nodes() == n_nodes
        assert not slot.subs and not slot.groups and slot.order == [] and not slot.watch
        assert state._callbacks == {}

    def test_node_unaffected(self, state: State, counter: Counter) -> None:
        """Removing a node method's subscription keeps the node in the graph."""
        h = state.configs.x_ref.subscribe(counter.step)
        h.remove()
        assert "handlers.counter" in state.graph
        assert state.subscribers_of("configs.x") == []


class TestTraceLeaks:
    def test_finished_trace_does_not_keep_state(self) -> None:
        """A finished trace holds no reference to the state."""
        state = State()
        state.configs.x = 0
        with state.trace() as t:
            state.configs.x = 1
        state_ref = weakref.ref(state)
        del state
        gc.collect()
        assert state_ref() is None
        assert t.n_sets == 1 and "configs.x: 0 -> 1" in str(t)

    def test_trace_does_not_keep_values(self, state: State) -> None:
        """Values set during a trace are not kept alive by it."""
        big = Payload()
        with state.trace() as t:
            state.configs.blob = None
            state.configs.blob = big
            state.configs.blob = None
        big_ref = weakref.ref(big)
        del big
        gc.collect()
        assert big_ref() is None
        assert [e.new for e in t.entries][-2:] == ["<Payload>", "None"]

    def test_event_not_kept(self, state: State) -> None:
        """The Event passed to a callback is not kept by the state after propagation."""
        seen: list[weakref.ref[Any]] = []
        state.configs.blob = None
        state.configs.blob_ref.subscribe(
            lambda e: seen.append(weakref.ref(e.new)), when=lambda v: v is not None
        )
        value = Payload()
        state.configs.blob = value
        state.configs.blob = None
        del value
        gc.collect()
        assert seen[0]() is None
