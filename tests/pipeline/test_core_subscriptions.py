"""Events are changes; subscriptions, their filters, handles and callback signatures."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import pytest
from core_toys import Counter

import pipeline
from pipeline import Event, Handle, State


def recorder(log: list[Any]) -> Any:
    """A one-argument callback that logs the new value."""

    def cb(event: Event) -> None:
        log.append(event.new)

    return cb


class TestChangeSemantics:
    @pytest.mark.parametrize(
        ("first", "second", "fires"),
        [
            (1, 1, False),
            (1, 2, True),
            (0.5, 0.5, False),
            ("a", "a", False),
            ("a", "b", True),
            (True, True, False),
            (None, None, False),
            (None, 0, True),
            (1, 1.0, False),  # scalars compare by value, whatever the type
            (b"x", b"x", False),
        ],
    )
    def test_scalars_compare_by_value(self, first: Any, second: Any, fires: bool) -> None:
        """Plain scalars and strings fire only when new != old."""
        state = State()
        state.configs.v = first
        log: list[Any] = []
        state.configs.v_ref.subscribe(recorder(log))
        state.configs.v = second
        assert log == ([second] if fires else [])

    def test_equal_objects_are_changes(self) -> None:
        """Any other object is a change when it is a new object, even if equal."""
        state = State()
        state.configs.v = [1, 2]
        log: list[Any] = []
        state.configs.v_ref.subscribe(recorder(log))
        state.configs.v = [1, 2]
        assert len(log) == 1

    def test_same_object_is_not_a_change(self) -> None:
        """Setting the very same object again fires nothing."""
        state = State()
        box = [1]
        state.configs.v = box
        log: list[Any] = []
        state.configs.v_ref.subscribe(recorder(log))
        box.append(2)
        state.configs.v = box
        assert log == []

    def test_counter_set_to_same_value(self, counter: Counter) -> None:
        """Setting a counter to the value it holds fires nothing; incrementing fires."""
        log: list[Any] = []
        counter.n_ref.subscribe(recorder(log))
        counter.n = 0
        counter.n += 1
        counter.n = 1
        assert log == [1]


class TestFilters:
    def test_every_on_int_is_value_based(self, counter: Counter) -> None:
        """every=n on an int fires when the new value is a multiple of n."""
        log: list[Any] = []
        counter.n_ref.subscribe(recorder(log), every=3)
        for v in (1, 2, 3, 4, 6, 7, 9, 10):
            counter.n = v
        assert log == [3, 6, 9]

    def test_once_on_int_is_value_based(self, counter: Counter) -> None:
        """once=n on an int fires when the new value equals n."""
        log: list[Any] = []
        counter.n_ref.subscribe(recorder(log), once=2)
        for v in range(1, 6):
            counter.n = v
        assert log == [2]

    def test_every_on_other_counts_changes(self, state: State) -> None:
        """every=n on a non-int variable fires on every n-th change."""
        state.configs.batch = None
        log: list[Any] = []
        state.configs.batch_ref.subscribe(recorder(log), every=2)
        values = [f"b{i}" for i in range(1, 6)]
        for v in values:
            state.configs.batch = v
        assert log == ["b2", "b4"]

    def test_unchanged_sets_do_not_count(self, state: State) -> None:
        """A set to the same value is not a change and does not advance the counter."""
        state.configs.s = "a"
        log: list[Any] = []
        state.configs.s_ref.subscribe(recorder(log), every=2)
        for v in ("b", "b", "b", "c"):
            state.configs.s = v
        assert log == ["c"]

    def test_once_on_other_fires_on_nth_change_only(self, state: State) -> None:
        """once=n on a non-int variable fires on the n-th change and never again."""
        state.configs.s = 0.0
        log: list[Any] = []
        state.configs.s_ref.subscribe(recorder(log), once=2)
        for v in (0.1, 0.2, 0.3, 0.4):
            state.configs.s = v
        assert log == [0.2]

    def test_when_predicate(self, counter: Counter) -> None:
        """when= fires only when the predicate of the new value is true."""
        log: list[Any] = []
        counter.n_ref.subscribe(recorder(log), when=lambda v: v > 2)
        for v in range(1, 5):
            counter.n = v
        assert log == [3, 4]

    def test_when_and_every_combined(self, counter: Counter) -> None:
        """when= and every= must both pass."""
        log: list[Any] = []
        counter.n_ref.subscribe(recorder(log), every=2, when=lambda v: v > 3)
        for v in range(1, 9):
            counter.n = v
        assert log == [4, 6, 8]

    def test_when_and_once_combined(self, counter: Counter) -> None:
        """when= and once= must both pass."""
        log: list[Any] = []
        counter.n_ref.subscribe(recorder(log), once=3, when=lambda v: v % 2 == 0)
        for v in range(1, 5):
            counter.n = v
        assert log == []

    def test_filters_per_subscription(self, counter: Counter) -> None:
        """Each subscription has its own filters and counters."""
        a: list[Any] = []
        b: list[Any] = []
        counter.n_ref.subscribe(recorder(a), every=2)
        counter.n_ref.subscribe(recorder(b))
        for v in range(1, 5):
            counter.n = v
        assert (a, b) == ([2, 4], [1, 2, 3, 4])


class TestHandles:
    def test_remove_detaches(self, counter: Counter) -> None:
        """After handle.remove() the callback no longer fires; removing twice is harmless."""
        log: list[Any] = []
        h = counter.n_ref.subscribe(recorder(log))
        assert isinstance(h, Handle) and h.active and h.path == "handlers.counter.n"
        counter.n = 1
        h.remove()
        h.remove()
        counter.n = 2
        assert log == [1] and not h.active and h.path is None
        assert repr(h) == "<Handle removed, fired 1 of 1>"

    def test_with_handle(self, counter: Counter) -> None:
        """A handle used as a context manager detaches at the end of the block."""
        log: list[Any] = []
        with counter.n_ref.subscribe(recorder(log)) as h:
            counter.n = 1
            assert h.active
        counter.n = 2
        assert log == [1]

    def test_remove_during_propagation(self, counter: Counter) -> None:
        """A subscriber removed by an earlier one in the same propagation does not run."""
        log: list[str] = []
        handles: list[Handle] = []

        def first() -> None:
            log.append("first")
            handles[0].remove()

        def second() -> None:
            log.append("second")

        counter.n_ref.subscribe(first)
        handles.append(counter.n_ref.subscribe(second))
        counter.n = 1
        counter.n = 2
        assert log == ["first", "first"]

    def test_unsubscribe_by_callback(self, counter: Counter) -> None:
        """Ref.unsubscribe removes every subscription of a callback and counts them."""
        calls: list[int] = []

        def cb() -> None:
            calls.append(1)

        counter.n_ref.subscribe(cb)
        counter.n_ref.subscribe(cb, every=2)
        assert counter.n_ref.unsubscribe(cb) == 2
        assert counter.n_ref.unsubscribe(cb) == 0
        counter.n = 2
        assert calls == []


class TestOnDecorator:
    def test_on_with_path(self, state: State) -> None:
        """@state.on(path) subscribes and returns the function unchanged."""
        log: list[Any] = []

        def cb(event: Event) -> None:
            log.append(event.new)

        assert state.on("configs.x", every=2)(cb) is cb
        for v in range(1, 5):
            state.configs.x = v
        assert log == [2, 4]

    def test_on_with_ref(self, state: State, counter: Counter) -> None:
        """@state.on(ref) works like a path."""
        log: list[Any] = []

        @state.on(counter.n_ref, once=1)
        def cb() -> None:
            log.append("fired")

        counter.n = 1
        assert log == ["fired"]

    def test_on_missing_path_raises_at_decoration(self, state: State) -> None:
        """A missing path fails at the decorator, not later."""
        with pytest.raises(AttributeError, match="did you mean 'lr'"):
            state.on("configs.lrr")


class TestSignatures:
    def test_zero_argument_callback(self, state: State) -> None:
        """A callback with no argument is called with nothing."""
        calls: list[tuple[Any, ...]] = []

        def none() -> None:
            calls.append(("none",))

        state.configs.x_ref.subscribe(none)
        state.configs.x = 1
        assert calls == [("none",)]

    def test_one_argument_callback_gets_event(self, state: State) -> None:
        """A callback with one positional argument (or *args) gets the Event."""
        got: list[Any] = []

        def star(*args: Any) -> None:
            got.append(args)

        def optional(event: Event, extra: int = 0) -> None:
            got.append(event)

        state.configs.x_ref.subscribe(star)
        state.configs.x_ref.subscribe(optional)
        state.configs.x = 1
        assert isinstance(got[0][0], Event) and len(got[0]) == 1
        assert isinstance(got[1], Event)

    def test_defaulted_parameters_get_no_event(self, state: State) -> None:
        """The `lambda i=i:` idiom: a callback whose positional parameters all have defaults
        is called with no argument, so its defaults keep the values it was given."""
        got: list[Any] = []
        for i in range(3):
            state.configs.x_ref.subscribe(lambda i=i: got.append(i))

        def report(prefix: str = "x", scale: int = 2) -> None:
            got.append((prefix, scale))

        state.configs.x_ref.subscribe(report)
        state.configs.x = 1
        assert got == [0, 1, 2, ("x", 2)]

    def test_one_required_parameter_with_defaulted_ones_gets_event(self, state: State) -> None:
        """A required parameter asks for the Event; the defaulted ones after it keep theirs."""
        got: list[Any] = []
        for i in range(2):
            state.configs.x_ref.subscribe(lambda e, i=i: got.append((e.new, i)))
        state.configs.x = 5
        assert got == [(5, 0), (5, 1)]

    @pytest.mark.parametrize(
        "callback",
        [lambda x=1, *rest: None, lambda x=1, *rest, flag=False: None],
    )
    def test_ambiguous_signature_refused(self, state: State, callback: Any) -> None:
        """Defaulted parameters plus *args: whether it wants the Event cannot be told."""
        with pytest.raises(
            TypeError,
            match=r"callback TestSignatures\.lambda \(.*\) has defaulted parameters \['x'\] and \*args, so "
            r"whether it wants the Event cannot be told; give it one required parameter",
        ):
            state.configs.x_ref.subscribe(callback)
        assert state.subscribers_of("configs.x") == []

    def test_bound_method_callback(self, state: State, counter: Counter) -> None:
        """A node's bound method subscribes with the node as subscriber."""
        state.configs.x_ref.subscribe(counter.step)
        state.configs.x = 1
        assert counter.n == 1
        assert state.subscribers_of("configs.x") == ["handlers.counter"]

    @pytest.mark.parametrize(
        ("callback", "match"),
        [
            (lambda a, b: None, "takes 2 required arguments"),
            (lambda *, k: None, "required keyword-only arguments"),
            (42, "must be callable"),
        ],
    )
    def test_bad_signature_refused_at_subscription(
        self, state: State, callback: Any, match: str
    ) -> None:
        """A callback needing two arguments is refused when it subscribes."""
        with pytest.raises(TypeError, match=match):
            state.configs.x_ref.subscribe(callback)
        assert state.subscribers_of("configs.x") == []


def _core_lines(action: Callable[[], Any]) -> int:
    """How many lines of pipeline/ run during ``action()`` (a count of work, not a timing)."""
    core = os.path.dirname(pipeline.__file__) + os.sep
    n = 0

    def tracer(frame: Any, event: str, arg: Any) -> Any:
        nonlocal n
        if not frame.f_code.co_filename.startswith(core):
            return None
        if event == "line":
            n += 1
        return tracer

    previous = sys.gettrace()  # a coverage tracer, when coverage runs
    sys.settrace(tracer)
    try:
        action()
    finally:
        sys.settrace(previous)
    return n


class TestFanOut:
    @staticmethod
    def work_per_subscriber(n: int) -> tuple[int, int]:
        """Core lines run to add one more subscriber to n others, and to remove one of them."""
        state = State()
        state.configs.x = 0
        ref = state.configs.x_ref
        handles = [ref.subscribe(lambda i=i: None) for i in range(n)]
        added = _core_lines(lambda: handles.append(ref.subscribe(lambda: None)))
        removed = _core_lines(handles[n // 2].remove)
        return added, removed

    def test_adding_and_removing_one_subscriber_does_not_depend_on_how_many(self) -> None:
        """Adding or removing one of N subscribers of a variable does the same work for
        N = 10 and N = 1000 (so N of them cost O(N), not O(N^2))."""
        assert self.work_per_subscriber(1000) == self.work_per_subscriber(10)

    def test_all_subscribers_still_fire_after_removals(self, state: State) -> None:
        """After removing every other one of many subscribers, the rest fire, in order."""
        got: list[int] = []
        handles = [state.configs.x_ref.subscribe(lambda i=i: got.append(i)) for i in range(300)]
        state.configs.x = 1
        for h in handles[::2]:
            h.remove()
        state.configs.x = 2
        assert got == list(range(300)) + list(range(1, 300, 2))


class TestCounts:
    def test_subscriber_after_a_failing_one_is_not_counted(self, state: State) -> None:
        """When a subscriber raises, the unfiltered ones after it were not called
        and do not count a call; the ones before it do."""
        state.configs.a = 0
        calls: list[str] = []

        def boom() -> None:
            raise ValueError("boom")

        before = state.configs.a_ref.subscribe(lambda: calls.append("before"))
        state.configs.a_ref.subscribe(boom)
        after = state.configs.a_ref.subscribe(lambda: calls.append("after"))
        with pytest.raises(ValueError, match="boom"):
            state.configs.a = 1
        assert calls == ["before"]
        assert (before.n_fired, after.n_fired, after.n_seen) == (1, 0, 0)
        with pytest.raises(ValueError, match="boom"):  # and again: no count drifts
            state.configs.a = 2
        assert (before.n_fired, after.n_fired) == (2, 0)
        assert "fired 0 of 0" in state.explain("configs.a").splitlines()[-1]

    def test_hold_merges_a_callback_into_one_counted_call(self, state: State) -> None:
        """One callback subscribed (unfiltered) to two variables set in one hold()
        block is called once, and counted once: on the variable it fired for."""
        state.configs.a = 0
        state.configs.b = 0
        calls: list[int] = []

        def cb() -> None:
            calls.append(1)

        on_a = state.configs.a_ref.subscribe(cb)
        on_b = state.configs.b_ref.subscribe(cb)
        with state.hold():
            state.configs.a = 1
            state.configs.b = 1
        assert len(calls) == 1
        assert (on_a.n_fired + on_b.n_fired, on_b.n_fired) == (1, 1)
        state.configs.a = 2
        assert (len(calls), on_a.n_fired, on_b.n_fired) == (2, 1, 1)

    def test_hold_call_after_a_failing_one_is_not_counted(self, state: State) -> None:
        """A callback a hold() block had still to call when another raised counts no call."""
        state.configs.a = 0
        state.configs.b = 0

        def boom() -> None:
            raise ValueError("boom")

        state.configs.a_ref.subscribe(boom)
        later = state.configs.b_ref.subscribe(lambda: None)
        with pytest.raises(ValueError, match="boom"), state.hold():
            state.configs.a = 1
            state.configs.b = 1
        assert (later.n_fired, later.n_seen) == (0, 0)
