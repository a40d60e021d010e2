"""Propagation: synchronous depth-first order, dependency order, observed writes,
hold blocks, and exception notes naming the chain of changes."""

from __future__ import annotations

import re
from typing import Any

import pytest
from core_toys import Counter, Loop

from pipeline import Event, State


class TestOrder:
    def test_synchronous_depth_first(self, state: State) -> None:
        """Subscribers run before the set returns, depth first, like function calls."""
        state.configs.a = 0
        state.configs.b = 0
        log: list[str] = []

        def a1() -> None:
            log.append("a1 start")
            state.configs.b = 1
            log.append("a1 end")

        def a2() -> None:
            log.append("a2")

        def b1() -> None:
            log.append("b1")

        state.configs.a_ref.subscribe(a1)
        state.configs.a_ref.subscribe(a2)
        state.configs.b_ref.subscribe(b1)
        state.configs.a = 1
        log.append("after set")
        assert log == ["a1 start", "b1", "a1 end", "a2", "after set"]

    def test_ties_in_subscription_order(self, state: State) -> None:
        """Without dependencies, subscribers run in the order they subscribed."""
        log: list[int] = []

        def make(i: int) -> Any:
            return lambda: log.append(i)

        for i in range(5):
            state.configs.x_ref.subscribe(make(i))
        state.configs.x = 1
        assert log == [0, 1, 2, 3, 4]

    def test_dependency_order(self, state: State) -> None:
        """A subscriber that reads what another writes runs after it, even if subscribed first."""
        state.configs.mean = 0.0
        log: list[tuple[str, Any]] = []

        def report() -> None:
            log.append(("report", state.configs.mean))

        def update(event: Event) -> None:
            log.append(("update", event.new))
            state.configs.mean = event.new / 2

        def other() -> None:
            log.append(("other", None))

        state.configs.x_ref.subscribe(report, reads=["configs.mean"])
        state.configs.x_ref.subscribe(other)
        state.configs.x_ref.subscribe(update, writes=[state.configs.mean_ref])
        state.configs.x = 4
        assert log == [("other", None), ("update", 4), ("report", 2.0)]

    def test_dependency_through_a_chain(self, state: State) -> None:
        """Order follows writes transitively: A writes y, y triggers B, B writes z, C reads z."""
        state.configs.y = 0
        state.configs.z = 0
        log: list[str] = []

        def reader() -> None:
            log.append(f"reader z={state.configs.z}")

        def writer() -> None:
            log.append("writer")
            state.configs.y = 1

        def relay() -> None:
            state.configs.z = 2

        state.configs.x_ref.subscribe(reader, reads=["configs.z"])
        state.configs.x_ref.subscribe(writer, writes=["configs.y"])
        state.configs.y_ref.subscribe(relay, writes=["configs.z"])
        state.configs.x = 1
        assert log == ["writer", "reader z=2"]

    def test_read_write_loop_keeps_subscription_order(self, state: State) -> None:
        """Two subscribers that each read what the other writes keep subscription order."""
        state.configs.p = 0
        state.configs.q = 0
        log: list[str] = []

        def a() -> None:
            log.append("a")

        def b() -> None:
            log.append("b")

        state.configs.x_ref.subscribe(a, reads=["configs.q"], writes=["configs.p"])
        state.configs.x_ref.subscribe(b, reads=["configs.p"], writes=["configs.q"])
        state.configs.x = 1
        assert log == ["a", "b"]

    def test_observed_write_appears_in_graph(self, state: State) -> None:
        """A callback that writes at run time gains an observed writes edge."""
        state.configs.y = 0

        def cb() -> None:
            state.configs.y = 5

        state.configs.x_ref.subscribe(cb)
        (key,) = state.subscribers_of("configs.x")
        assert state.writers_of("configs.y") == []
        state.configs.x = 1
        assert state.writers_of("configs.y") == [key]
        assert state.graph.edges[key, "configs.y"] == {"kind": "writes", "observed": True}

    def test_observed_write_orders_later_propagation(self, state: State) -> None:
        """An observed write is used for ordering from then on."""
        state.configs.y = 0
        log: list[str] = []

        def reader() -> None:
            log.append(f"reader {state.configs.y}")

        def writer(event: Event) -> None:
            state.configs.y = event.new

        state.configs.x_ref.subscribe(reader, reads=["configs.y"])
        state.configs.x_ref.subscribe(writer)
        state.configs.x = 1  # not yet known to write configs.y: subscription order
        state.configs.x = 2
        assert log == ["reader 0", "reader 2"]

    def test_node_writes_attributed(self, state: State, loop: Loop, counter: Counter) -> None:
        """A node subscribed to a variable writes its own variables under its own key."""
        loop.n_iteration_completed_ref.subscribe(counter.step)
        loop.run(3)
        assert counter.n == 3
        assert state.writers_of(counter.n_ref) == ["handlers.counter"]


class TestHold:
    def test_values_visible_notifications_deferred(self, state: State) -> None:
        """Inside hold the value changes at once; subscribers run at the end."""
        log: list[Any] = []
        state.configs.x_ref.subscribe(lambda e: log.append((e.old, e.new)))
        with state.hold():
            state.configs.x = 1
            assert state.configs.x == 1 and state.configs.x_ref.value == 1
            state.configs.x = 2
            state.configs.x = 3
            assert log == []
        assert log == [(0, 3)]

    def test_back_to_old_value_fires_nothing(self, state: State) -> None:
        """A variable set and set back inside hold is not a change."""
        log: list[Any] = []
        state.configs.x_ref.subscribe(lambda: log.append(1))
        with state.hold():
            state.configs.x = 1
            state.configs.x = 0
        assert log == []

    def test_multi_variable_subscriber_fires_once_after_all(self, state: State) -> None:
        """A callback subscribed to several changed variables fires once, after all changed."""
        state.params.w = 0.0
        state.params.b = 0.0
        seen: list[tuple[float, float]] = []

        def both() -> None:
            seen.append((state.params.w, state.params.b))

        state.params.w_ref.subscribe(both)
        state.params.b_ref.subscribe(both)
        with state.hold():
            state.params.w = 1.0
            state.params.b = 2.0
        assert seen == [(1.0, 2.0)]

    def test_each_variable_notified_once_in_topological_order(self, state: State) -> None:
        """Held variables are notified once each, upstream before downstream."""
        state.configs.up = 0
        state.configs.down = 0
        log: list[str] = []

        def relay(event: Event) -> None:
            log.append(f"up={event.new}")

        state.configs.down_ref.subscribe(lambda e: log.append(f"down={e.new}"))
        state.configs.up_ref.subscribe(relay, writes=["configs.down"])
        with state.hold():
            state.configs.down = 5
            state.configs.up = 1
            state.configs.up = 2
        assert log == ["up=2", "down=5"]

    def test_nested_holds_flush_at_outermost(self, state: State) -> None:
        """Nested hold blocks notify only when the outermost one ends."""
        log: list[Any] = []
        state.configs.x_ref.subscribe(lambda e: log.append(e.new))
        with state.hold():
            with state.hold():
                state.configs.x = 1
            assert log == []
            state.configs.x = 2
        assert log == [2]

    def test_exception_drops_notifications(self, state: State) -> None:
        """When the block raises, the values stay and the notifications are dropped."""
        log: list[Any] = []
        state.configs.x_ref.subscribe(lambda e: log.append(e.new))
        with pytest.raises(RuntimeError), state.hold():
            state.configs.x = 1
            raise RuntimeError("boom")
        assert state.configs.x == 1 and log == []
        state.configs.x = 2
        assert log == [2]

    def test_dropped_notifications_named_in_a_note(self, state: State) -> None:
        """The exception out of a failed outermost block names the variables left unnotified."""
        state.configs.y = 0
        state.configs.quiet = 0  # changed, but nobody subscribes: nothing was missed
        state.configs.x_ref.subscribe(lambda: None)
        state.configs.y_ref.subscribe(lambda: None)
        with pytest.raises(RuntimeError) as info, state.hold():
            state.configs.x = 1
            state.configs.y = 2
            state.configs.quiet = 3
            raise RuntimeError("boom")
        assert info.value.__notes__ == [
            "state.hold() dropped the notifications of 2 changed variables (configs.x, "
            "configs.y): their values changed but their subscribers did not run"
        ]

    def test_failed_inner_block_delivered_with_the_outer_one(self, state: State) -> None:
        """A nested block that raises inside an outer one that goes on: its values stay
        changed, so the outer block's end notifies them; no note is added."""
        log: list[Any] = []
        state.configs.x_ref.subscribe(lambda e: log.append(("x", e.old, e.new)))
        state.configs.y = 0
        state.configs.y_ref.subscribe(lambda e: log.append(("y", e.old, e.new)))
        with state.hold():
            state.configs.y = 5
            try:
                with state.hold():
                    state.configs.x = 1
                    raise KeyError("inner")
            except KeyError as exc:
                assert not getattr(exc, "__notes__", None)
            assert log == []
        assert log == [("x", 0, 1), ("y", 0, 5)]

    def test_filters_apply_to_final_value(self, counter: Counter) -> None:
        """Filters are checked against the value at the end of the block."""
        log: list[Any] = []
        counter.n_ref.subscribe(lambda e: log.append(e.new), every=2)
        with counter.state.hold():
            counter.n = 2
            counter.n = 3
        assert log == []

    def test_unhashable_callback(self, state: State) -> None:
        """A callable object that is not hashable is flushed like any other."""

        class Unhashable:
            __hash__ = None  # type: ignore[assignment]

            def __init__(self) -> None:
                self.calls = 0

            def __call__(self) -> None:
                self.calls += 1

        cb = Unhashable()
        state.configs.x_ref.subscribe(cb)
        with state.hold():
            state.configs.x = 1
        assert cb.calls == 1


class TestExceptionNotes:
    def test_nested_exception_keeps_type_and_gains_one_note(self, state: State) -> None:
        """An error in a nested subscriber keeps its type and gains the chain as one note."""
        state.configs.a = 0
        state.configs.b = 0

        def cb() -> None:
            state.configs.b = 2

        def cb2() -> None:
            raise KeyError("bad")

        state.configs.a_ref.subscribe(cb)
        state.configs.b_ref.subscribe(cb2)
        with pytest.raises(KeyError) as info:
            state.configs.a = 1
        notes = info.value.__notes__
        assert len(notes) == 1
        pattern = (
            r"while configs\.a = 1 -> .*cb \(.*test_core_propagation\.py:\d+\) "
            r"-> configs\.b = 2 -> .*cb2 \(.*test_core_propagation\.py:\d+\)"
        )
        assert re.fullmatch(pattern, notes[0]), notes[0]
        assert not hasattr(info.value, "_statefire_chain")

    def test_one_exception_raised_the_same_way_twice_gets_the_note_once(self, state: State) -> None:
        """An exception object re-raised through the same chain (an ignite handler that
        re-raises, called at two levels) carries that chain's note once."""
        exc = ValueError("again")

        def fail() -> None:
            raise exc

        state.configs.x_ref.subscribe(fail)
        for value in (1, 0, 1):
            with pytest.raises(ValueError):
                state.configs.x = value
        assert [n.split(" -> ")[0] for n in exc.__notes__] == [
            "while configs.x = 1",
            "while configs.x = 0",
        ]

    def test_node_subscriber_named_in_note(self, state: State, counter: Counter) -> None:
        """A node's method in the chain is named by the node's label."""

        def fail() -> None:
            raise ValueError("no")

        state.configs.x_ref.subscribe(counter.step)
        counter.n_ref.subscribe(fail)
        with pytest.raises(ValueError, match="no") as info:
            state.configs.x = 1
        assert info.value.__notes__[0].startswith(
            "while configs.x = 1 -> counter (Counter) -> handlers.counter.n = 1 -> "
        )

    def test_state_usable_after_exception(self, state: State) -> None:
        """After an exception propagates, the next set propagates normally."""
        log: list[Any] = []

        def flaky(event: Event) -> None:
            if event.new == 1:
                raise RuntimeError("once")
            log.append(event.new)

        state.configs.x_ref.subscribe(flaky)
        with pytest.raises(RuntimeError):
            state.configs.x = 1
        state.configs.x = 2
        assert log == [2]


class TestInProgress:
    """The notifications running now, or that an exception came out of, and resuming them."""

    def _chain(self, state: State) -> tuple[list[Any], list[str]]:
        """configs.a -> [outer, later_a]; outer sets configs.b -> [inner, later_b]."""
        state.configs.a = 0
        state.configs.b = 0
        seen: list[Any] = []
        log: list[str] = []

        @state.on("configs.a")
        def outer() -> None:
            state.configs.b = 1

        @state.on("configs.a")
        def later_a(event: Event) -> None:
            log.append(f"later_a {event.old}->{event.new}")

        @state.on("configs.b")
        def inner() -> None:
            seen.extend(state.in_progress())

        @state.on("configs.b", every=2)
        def later_b() -> None:
            log.append("later_b")

        return seen, log

    def test_levels_and_pending(self, state: State) -> None:
        """Outermost first: who set what, who runs, and who is still to run after it."""
        seen, log = self._chain(state)
        assert state.in_progress() == []
        state.configs.a = 5
        assert log == ["later_a 0->5"]  # later_b (every=2) does not pass on configs.b = 1
        first, second = seen
        assert (first.ref.path, first.old, first.new, first.setter) == ("configs.a", 0, 5, None)
        assert first.subscriber.label.startswith("TestInProgress._chain.outer")
        assert [(c.path, c.old, c.new, c.filtered) for c in first.pending] == [
            ("configs.a", 0, 5, False)
        ]
        assert first.pending[0].label.startswith("TestInProgress._chain.later_a")
        assert second.ref.path == "configs.b" and second.setter is first.subscriber
        assert [c.label.split(" ")[0] for c in second.pending] == ["TestInProgress._chain.later_b"]
        assert second.running is not None and second.running.filtered

    def test_call_pending_into_another_state(self, state: State) -> None:
        """A pending call made in a state built the same way fires with the saved event,
        after its filter (every=2 on configs.b = 1 does not pass; = 2 does)."""
        seen, _ = self._chain(state)
        state.configs.a = 5
        calls = [c for level in reversed(seen) for c in level.pending]
        other = State()
        _, log = self._chain(other)
        assert [other.call_pending(c) for c in calls] == [False, True]
        assert log == ["later_a 0->5"]
        assert other.call_pending(calls[1]._replace(new=2, filtered=False))
        with pytest.raises(
            LookupError, match=r"configs\.a has no subscription .* \(#3\) to resume"
        ):
            other.call_pending(calls[1]._replace(nth=2))

    def test_pending_of_a_hold_block(self, state: State) -> None:
        """Inside the notifications a hold() block deferred, the rest of its plan is pending,
        its filters already passed."""
        state.configs.x = 0
        state.configs.y = 0
        seen: list[Any] = []
        state.on("configs.x")(lambda: seen.extend(state.in_progress()))
        state.on("configs.y")(lambda: None)
        with state.hold():
            state.configs.x = 1
            state.configs.y = 1
        (level,) = seen
        assert [(c.path, c.new, c.filtered) for c in level.pending] == [("configs.y", 1, True)]

    def test_interrupted(self, state: State) -> None:
        """The levels an exception came out of; the subscriber it came from at each."""
        state.configs.a = 0

        @state.on("configs.a")
        def fail() -> None:
            raise KeyboardInterrupt

        state.on("configs.a")(lambda: None)
        with pytest.raises(KeyboardInterrupt) as info:
            state.configs.a = 1
        (level,) = state.interrupted(info.value)
        assert level.subscriber.label.startswith("TestInProgress.test_interrupted.fail")
        assert len(level.pending) == 1

    def test_holding_writer_and_graph_version(self, state: State) -> None:
        """state.holding, state.current_writer and state.graph_version say what they name."""
        state.configs.a = 0
        writers: list[Any] = []
        version = state.graph_version
        state.on("configs.a")(lambda: writers.append((state.current_writer, state.holding)))
        assert state.graph_version != version
        assert not state.holding and state.current_writer is None
        with state.hold():
            assert state.holding
            state.configs.a = 1
        ((writer, holding),) = writers
        assert writer.label.startswith("TestInProgress.test_holding_writer_and_graph_version")
        assert not holding


def test_frame_locals_checked_at_import() -> None:
    """The locals the notifications in progress are read from exist in notify and
    flush_held; a rename that drops one fails, naming it."""
    from pipeline import propagation

    propagation._check_frame_locals(propagation._READ_LOCALS)

    def flush_held(self: Any) -> None:
        steps = {}
        del steps

    with pytest.raises(AssertionError, match=r"flush_held has no local \['plan'\], which"):
        propagation._check_frame_locals({flush_held.__code__: ("plan",)})
