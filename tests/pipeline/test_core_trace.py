"""trace() over long runs: counts past the buffer, nested traces, and summaries
of tensor-like values made once per value (the recording stays cheap)."""

from __future__ import annotations

import gc
import weakref
from typing import Any

import pytest
from core_toys import Counter, Loop

from pipeline import State


class FakeTensor:
    """Looks like a torch tensor to ``pipeline.values.is_tensor`` (no torch in core tests)."""

    __module__ = "torch.fake"

    def __init__(self, *shape: int) -> None:
        self.shape = shape
        self.dtype = "torch.float32"
        self.device = "cpu"


class TestLongTraces:
    def test_counts_cover_everything_past_the_buffer(self, state: State, counter: Counter) -> None:
        """With many more sets than maxlen, counts, n_sets and seq stay exact."""
        state.configs.x_ref.subscribe(counter.step, every=2)
        with state.trace(maxlen=5) as t:
            for v in range(1, 10_001):
                state.configs.x = v
            assert t.n_sets == 15_000 and len(t) == 5
            assert t.set_counts == {"configs.x": 10_000, "handlers.counter.n": 5_000}
            assert t.fire_counts == {("configs.x", "handlers.counter"): 5_000}
        assert t.n_sets == 15_000
        assert [e.seq for e in t.entries] == list(range(14_996, 15_001))
        assert [e.path for e in t.entries][-2:] == ["configs.x", "handlers.counter.n"]
        assert t.entries[-1].new == "5000" and t.entries[-1].depth == 1
        assert t.set_counts["configs.x"] == 10_000
        assert t.fire_counts[("configs.x", "handlers.counter")] == 5_000

    def test_outer_trace_keeps_its_own_maxlen(self, state: State) -> None:
        """A short inner trace does not shorten what an outer trace keeps."""
        with state.trace(maxlen=20_000) as outer:
            state.configs.x = -1
            with state.trace(maxlen=2) as inner:
                for v in range(10_000):
                    state.configs.x = v
            state.configs.x = -2
        assert (inner.n_sets, len(inner)) == (10_000, 2)
        assert [e.new for e in inner.entries] == ["9998", "9999"]
        assert (outer.n_sets, len(outer)) == (10_002, 10_002)
        assert [e.new for e in outer.entries][:3] == ["-1", "0", "1"]
        assert outer.entries[-1].new == "-2" and outer.entries[-1].seq == 10_002

    def test_node_sets_reach_the_outer_trace(self, state: State) -> None:
        """Numbers a node sets (appended by the runtime itself) reach an outer trace too."""
        loop = Loop(state, "loop")
        with state.trace() as outer:
            loop.run(1)
            with state.trace(maxlen=1) as inner:
                loop.run(2)
        assert inner.n_sets == 4 and [e.new for e in inner.entries] == ["3"]
        assert outer.n_sets == 6
        assert [e.new for e in outer.entries if e.path.endswith("completed")] == ["1", "2", "3"]
        assert {e.writer for e in outer.entries} == {"loop (Loop)"}

    def test_inner_fires_counted_by_outer(self, state: State, counter: Counter) -> None:
        """Fired subscriptions recorded while an inner trace runs count in the outer too."""
        state.configs.x_ref.subscribe(counter.step)
        with state.trace() as outer:
            state.configs.x = 1
            with state.trace() as inner:
                state.configs.x = 2
                state.configs.x = 3
        assert inner.fire_counts == {("configs.x", "handlers.counter"): 2}
        assert outer.fire_counts == {("configs.x", "handlers.counter"): 3}

    def test_entries_of_an_active_trace_follow_it(self, state: State) -> None:
        """Reading entries while recording shows what was recorded up to then."""
        with state.trace() as t:
            state.configs.x = 1
            first = [e.new for e in t.entries]
            state.configs.x = 2
            assert str(t).startswith("trace: 2 sets")
        assert first == ["1"] and [e.new for e in t.entries] == ["1", "2"]


class TestSummaries:
    def test_tensor_old_and_new(self, state: State) -> None:
        """Tensor-like values show shape and dtype, old and new."""
        state.configs.batch = FakeTensor(2, 3)
        with state.trace() as t:
            state.configs.batch = FakeTensor(4)
            state.configs.batch = FakeTensor(5, 1)
        assert [(e.old, e.new) for e in t.entries] == [
            ("Tensor[2x3] float32", "Tensor[4] float32"),
            ("Tensor[4] float32", "Tensor[5x1] float32"),
        ]

    def test_old_value_replaced_quietly(self, state: State) -> None:
        """A value stored without an event between two sets is summarised as it is."""
        state.configs.batch = FakeTensor(1)
        with state.trace() as t:
            state.configs.batch = FakeTensor(2)
            state.ref("configs.batch")._slot.store_quietly(FakeTensor(3))
            state.configs.batch = FakeTensor(4)
        assert [(e.old, e.new) for e in t.entries][-1] == ("Tensor[3] float32", "Tensor[4] float32")

    def test_mutable_value_summarised_when_set(self, state: State) -> None:
        """A list set again after changing in place shows its contents at that set."""
        items: list[Any] = [1]
        state.configs.items = items
        with state.trace() as t:
            items.append(2)
            state.configs.items = items
        (entry,) = t.entries
        assert (entry.old, entry.new, entry.changed) == ("[1, 2]", "[1, 2]", False)

    def test_one_tensor_set_in_two_variables(self, state: State) -> None:
        """The same tensor set in a second variable gets the same summary."""
        state.configs.batch = None
        state.configs.output = None
        with state.trace() as t:
            batch = FakeTensor(3, 2)
            state.configs.batch = batch
            state.configs.output = batch
            state.configs.output = FakeTensor(1)
        assert [(e.path, e.old, e.new) for e in t.entries] == [
            ("configs.batch", "None", "Tensor[3x2] float32"),
            ("configs.output", "None", "Tensor[3x2] float32"),
            ("configs.output", "Tensor[3x2] float32", "Tensor[1] float32"),
        ]

    def test_tensors_released(self, state: State) -> None:
        """While recording only the current and the last summarised tensor are held; none after."""
        state.configs.batch = None
        with state.trace():
            first = FakeTensor(1)
            state.configs.batch = first
            state.configs.batch = FakeTensor(2)
            state.configs.batch = FakeTensor(3)
            first_ref = weakref.ref(first)
            del first
            gc.collect()
            assert first_ref() is None
            last_ref = weakref.ref(state.configs.batch)
            state.configs.batch = None
        gc.collect()
        assert last_ref() is None

    def test_device_shown(self, state: State) -> None:
        """A tensor off the CPU names its device; one on the CPU does not."""
        gpu = FakeTensor(2)
        gpu.device = "cuda:0"
        state.configs.batch = None
        with state.trace() as t:
            state.configs.batch = gpu
            state.configs.batch = FakeTensor(2)
        assert [e.new for e in t.entries] == ["Tensor[2] float32 cuda:0", "Tensor[2] float32"]


class TestTraceNesting:
    def test_entered_twice_refused(self, state: State) -> None:
        """A trace entered again while it records is refused; it still ends cleanly."""
        state.configs.x = 0
        trace = state.trace()
        with trace:
            with pytest.raises(RuntimeError, match="this trace is already recording"), trace:
                pass
            state.configs.x = 1
        assert (state._rt.tracer, state._rt.slow, trace.active, trace.n_sets) == (
            None,
            False,
            False,
            1,
        )
        state.configs.x = 2
        assert (trace.log, trace.n_sets) == ([], 1)

    def test_out_of_order_exit_refused(self, state: State) -> None:
        """Ending an outer trace while an inner one records is refused, naming the
        inner one; ended in order, nothing is left recording."""
        state.configs.x = 0
        outer, inner = state.trace(), state.trace()
        outer.__enter__()
        inner.__enter__()
        with pytest.raises(RuntimeError, match=r"not the innermost one recording \(<Trace rec"):
            outer.__exit__(None, None, None)
        assert state._rt.tracer is inner and outer.active
        state.configs.x = 1
        inner.__exit__(None, None, None)
        outer.__exit__(None, None, None)
        assert (state._rt.tracer, state._rt.slow) == (None, False)
        assert (inner.n_sets, outer.n_sets) == (1, 1)
        for i in range(5):
            state.configs.x = i + 2
        assert (outer.log, outer.n_sets) == ([], 1)
        with pytest.raises(RuntimeError, match="this trace has already ended; it is ended once"):
            outer.__exit__(None, None, None)

    def test_exit_without_enter_refused(self, state: State) -> None:
        """Ending a trace that never began is refused, not taken as the innermost."""
        with pytest.raises(RuntimeError, match=r"not the innermost one recording: traces end"):
            state.trace().__exit__(None, None, None)
