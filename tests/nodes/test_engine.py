"""Tests of ``nodes.Engine``: the order of its variable changes, counters across runs,
terminate, run_on, epoch lengths, exceptions, validation, and its argument errors."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from nodes import Engine, batch_size
from pipeline import GraphError, State

ROOT = Path(__file__).resolve().parents[2]


def echo(engine: Engine, batch: Any) -> Any:
    """A process function that returns its batch."""
    return batch


def ones(*sizes: int) -> list[torch.Tensor]:
    """One batch of ``torch.ones(n)`` per size."""
    return [torch.ones(n) for n in sizes]


def record_all(engine: Engine) -> list[tuple[str, Any]]:
    """Subscribe to every variable of ``engine``; the list fills with (name, value) per change.

    Tensors are recorded by their first dimension, timings as the string ``"time"``.
    """
    log: list[tuple[str, Any]] = []
    for name in engine.variables():

        def record(event: Any, name: str = name) -> None:
            value = event.new
            if isinstance(value, torch.Tensor):
                value = int(value.shape[0])
            elif name in ("epoch_time", "run_time"):
                value = "time"
            log.append((name, value))

        engine.ref(name).subscribe(record)
    return log


def iteration(i: int, size: int, output: int, n_samples: int) -> list[tuple[str, Any]]:
    """The changes of one iteration, in order."""
    return [
        ("n_iteration_started", i),
        ("batch", size),
        ("output", output),
        ("n_samples", n_samples),
        ("n_iteration_completed", i),
    ]


class LyingLen:
    """A list of batches whose ``len()`` says ``stated``."""

    def __init__(self, batches: list[torch.Tensor], stated: int) -> None:
        self.batches, self.stated = batches, stated

    def __len__(self) -> int:
        return self.stated

    def __iter__(self) -> Iterator[torch.Tensor]:
        return iter(self.batches)


class Countdown:
    """An iterable without ``__len__``: ``__iter__`` is a generator function."""

    def __init__(self, n: int) -> None:
        self.n = n

    def __iter__(self) -> Iterator[torch.Tensor]:
        for i in range(self.n):
            yield torch.ones(self.n - i)


class TestOrder:
    """The variables change in the documented order."""

    def test_order_of_one_run(self, state: State) -> None:
        """Run, epochs and iterations write their variables in the documented order."""
        engine = Engine(state, "e", lambda e, b: int(b.shape[0]) * 10, ones(2, 3), max_epochs=2)
        log = record_all(engine)
        engine.run()
        assert log == [
            ("n_run_started", 1),
            ("n_epoch_started", 1),
            *iteration(1, 2, 20, 2),
            *iteration(2, 3, 30, 5),
            ("epoch_time", "time"),
            ("n_epoch_completed", 1),
            ("n_epoch_started", 2),
            *iteration(3, 2, 20, 7),
            *iteration(4, 3, 30, 10),
            ("epoch_time", "time"),
            ("n_epoch_completed", 2),
            ("run_time", "time"),
            ("n_run_completed", 1),
        ]

    def test_second_run_restarts_counters_and_keeps_n_samples(self, state: State) -> None:
        """A new run restarts the epoch and iteration counters silently; n_samples goes on."""
        engine = Engine(state, "e", lambda e, b: int(b.shape[0]) * 10, ones(2, 3))
        engine.run()
        log = record_all(engine)
        engine.run()
        assert log == [
            ("n_run_started", 2),
            ("n_epoch_started", 1),
            *iteration(1, 2, 20, 7),
            *iteration(2, 3, 30, 10),
            ("epoch_time", "time"),
            ("n_epoch_completed", 1),
            ("run_time", "time"),
            ("n_run_completed", 2),
        ]
        assert (engine.n_samples, engine.n_iteration_completed, engine.n_epoch_completed) == (
            10,
            2,
            1,
        )

    def test_unchanged_output_fires_nothing(self, state: State) -> None:
        """An output equal to the previous scalar output is not an event."""
        engine = Engine(state, "e", lambda e, b: 7, ones(1, 1, 1))
        outputs = []
        engine.output_ref.subscribe(lambda event: outputs.append(event.new))
        engine.run()
        assert outputs == [7]
        assert engine.n_iteration_completed == 3


class TestSamples:
    """n_samples counts the first dimension of the first tensor of each batch."""

    @pytest.mark.parametrize(
        ("batch", "expected"),
        [
            (torch.zeros(5, 3), 5),
            ((torch.zeros(4, 2), torch.zeros(4)), 4),
            ([7, torch.zeros(3)], 3),
            ({"x": torch.zeros(6, 1), "y": torch.zeros(2)}, 6),
            (torch.tensor(1.0), 1),
            ("text", 0),
        ],
    )
    def test_batch_size(self, batch: Any, expected: int) -> None:
        """batch_size reads the first dimension of the first tensor found."""
        assert batch_size(batch) == expected

    def test_n_samples_over_runs(self, state: State) -> None:
        """n_samples sums the batch sizes over every run of the engine."""
        data = [(torch.zeros(4, 2), torch.zeros(4)), (torch.zeros(3, 2), torch.zeros(3))]
        engine = Engine(state, "e", echo, data, max_epochs=2)
        engine.run()
        assert engine.n_samples == 14
        engine.run(max_epochs=1)
        assert engine.n_samples == 21


class TestEvaluatorRestart:
    """An engine run again restarts its counters without firing events, as in ignite."""

    def test_reset_fires_no_event(self, state: State) -> None:
        """A subscriber with every=2 does not fire when the counter is reset to 0."""
        engine = Engine(state, "evaluator", echo, ones(1, 1, 1))
        fired: list[int] = []
        engine.n_iteration_completed_ref.subscribe(lambda ev: fired.append(ev.new), every=2)
        seen: list[int] = []
        engine.n_iteration_completed_ref.subscribe(lambda ev: seen.append(ev.new))
        epochs: list[int] = []
        engine.n_epoch_completed_ref.subscribe(lambda ev: epochs.append(ev.new))
        for _ in range(3):
            engine.run()
        assert fired == [2, 2, 2]
        assert seen == [1, 2, 3] * 3
        assert epochs == [1, 1, 1]
        assert (engine.n_run_started, engine.n_run_completed, engine.n_samples) == (3, 3, 9)


class TestContinuation:
    def test_more_epochs_than_a_finished_run_continue_it(self, state: State) -> None:
        """run(max_epochs=3) after a finished 2-epoch run does epoch 3 only, as ignite does."""
        engine = Engine(state, "e", echo, ones(2, 2, 2))
        epochs: list[int] = []
        engine.n_epoch_completed_ref.subscribe(lambda ev: epochs.append(ev.new))
        engine.run(max_epochs=2)
        engine.run(max_epochs=3)
        assert epochs == [1, 2, 3]
        assert (engine.n_iteration_completed, engine.n_run_completed) == (9, 2)

    def test_no_more_epochs_start_a_new_run(self, state: State) -> None:
        """run() or run(max_epochs=2) after a finished 2-epoch run starts again from epoch 0."""
        engine = Engine(state, "e", echo, ones(2, 2))
        engine.run(max_epochs=2)
        engine.run(max_epochs=2)
        assert (engine.n_epoch_completed, engine.n_iteration_completed) == (2, 4)
        engine.run()
        assert (engine.n_epoch_completed, engine.max_epochs, engine.n_samples) == (1, 1, 20)


class TestTerminate:
    """terminate() ends the run after the current iteration; the run completes."""

    def test_terminate_mid_epoch_then_continue(self, state: State) -> None:
        """A terminated run completes; the next run() continues with the next batch."""
        data = ones(1, 2, 3, 4)
        engine = Engine(state, "e", lambda e, b: int(b.shape[0]), data, max_epochs=2)
        engine.n_iteration_completed_ref.subscribe(lambda: engine.terminate(), once=3)
        processed: list[int] = []
        engine.output_ref.subscribe(lambda ev: processed.append(ev.new))
        engine.run()
        assert processed == [1, 2, 3]
        assert engine.variables() | {"batch": None, "epoch_time": 0, "run_time": 0} == {
            "n_run_started": 1,
            "n_epoch_started": 1,
            "n_iteration_started": 3,
            "batch": None,
            "output": 3,
            "n_samples": 6,
            "n_iteration_completed": 3,
            "n_epoch_completed": 0,
            "n_run_completed": 1,
            "max_epochs": 2,
            "epoch_length": 4,
            "should_terminate": True,
            "exception": None,
            "epoch_time": 0,
            "run_time": 0,
        }
        engine.run()
        assert processed == [1, 2, 3, 4, 1, 2, 3, 4]
        assert (engine.n_iteration_completed, engine.n_epoch_completed) == (8, 2)
        assert (engine.n_run_started, engine.n_run_completed) == (2, 2)
        assert engine.should_terminate is False

    @pytest.mark.parametrize("stops", [[3], [3, 9], [8]])
    def test_terminate_mid_epoch_then_continue_a_shuffled_dataloader(
        self, stops: list[int]
    ) -> None:
        """A shuffled DataLoader continues its epoch's order after terminate(), as without a stop."""

        def batches(stops: list[int]) -> list[list[int]]:
            state = State()
            seen: list[list[int]] = []
            loader = torch.utils.data.DataLoader(
                torch.arange(12),
                batch_size=2,
                shuffle=True,
                generator=torch.Generator().manual_seed(0),
            )
            engine = Engine(state, "e", lambda e, b: seen.append(b.tolist()), loader)
            for stop in stops:
                engine.n_iteration_completed_ref.subscribe(engine.terminate, once=stop)
            for _ in range(len(stops) + 1):
                engine.run(max_epochs=2)
            assert (engine.n_epoch_completed, engine.n_iteration_completed) == (2, 12)
            return seen

        assert batches(stops) == batches([])

    def test_terminate_on_last_iteration_completes_the_epoch(self, state: State) -> None:
        """Terminating on an epoch's last iteration counts that epoch; the next run goes on."""
        engine = Engine(state, "e", echo, ones(1, 1), max_epochs=3)
        engine.n_iteration_completed_ref.subscribe(lambda: engine.terminate(), once=2)
        engine.run()
        assert (engine.n_epoch_completed, engine.n_run_completed) == (1, 1)
        engine.run()
        assert (engine.n_epoch_completed, engine.n_iteration_completed) == (3, 6)
        assert engine.n_run_completed == 2

    def test_terminate_from_epoch_subscriber(self, state: State) -> None:
        """terminate() on n_epoch_completed stops before the next epoch starts."""
        engine = Engine(state, "e", echo, ones(1, 1), max_epochs=5)
        engine.n_epoch_completed_ref.subscribe(lambda: engine.terminate(), once=2)
        started: list[int] = []
        engine.n_epoch_started_ref.subscribe(lambda ev: started.append(ev.new))
        engine.run()
        assert started == [1, 2]
        assert (engine.n_epoch_completed, engine.n_run_completed) == (2, 1)

    def test_bound_terminate_as_subscriber(self, state: State) -> None:
        """engine.terminate subscribed directly to the engine's own counter ends the run."""
        engine = Engine(state, "e", echo, ones(1, 1, 1))
        engine.n_iteration_completed_ref.subscribe(engine.terminate, once=2)
        engine.run()
        assert (engine.n_iteration_completed, engine.n_run_completed) == (2, 1)

    def test_terminate_at_iteration_started_skips_its_batch_and_resumes_on_it(
        self, state: State
    ) -> None:
        """As ignite: no process call after terminate() at n_iteration_started; the next run,
        here from a state dict, processes that batch first."""

        def build(state: State) -> tuple[Engine, list[int]]:
            seen: list[int] = []
            engine = Engine(
                state,
                "e",
                lambda e, b: seen.append(int(b.shape[0])),
                ones(1, 2, 3, 4),
                max_epochs=2,
            )
            return engine, seen

        engine, seen = build(state)
        stops = [3]  # once: iteration 3 starts again in the next run

        def stop(ev: Any) -> None:
            if ev.new in stops:
                stops.remove(ev.new)
                engine.terminate()

        engine.n_iteration_started_ref.subscribe(stop)
        engine.run()
        assert seen == [1, 2]
        assert (engine.n_iteration_started, engine.n_iteration_completed, engine.n_samples) == (
            3,
            2,
            3,
        )
        assert engine.n_batches_drawn == 2
        other, rest = build(State())
        other.state.load_state_dict(state.state_dict(), strict=False)
        started: list[int] = []
        other.n_iteration_started_ref.subscribe(lambda ev: started.append(ev.new))
        other.run()
        assert rest == [3, 4, 1, 2, 3, 4]
        assert started == [3, 4, 5, 6, 7, 8]
        engine.run()  # the same engine goes on from the same batch
        assert seen == [1, 2, 3, 4, 1, 2, 3, 4]
        assert (engine.n_iteration_completed, engine.n_epoch_completed) == (8, 2)

    def test_terminate_at_epoch_started_runs_no_iteration(self, state: State) -> None:
        """As ignite: terminate() at n_epoch_started ends the run before the epoch's first batch."""
        seen: list[int] = []
        engine = Engine(state, "e", lambda e, b: seen.append(int(b.shape[0])), ones(1, 2))
        engine.n_epoch_started_ref.subscribe(engine.terminate, once=2)
        engine.run(max_epochs=3)
        assert seen == [1, 2]
        assert (engine.n_epoch_started, engine.n_epoch_completed, engine.n_run_completed) == (
            2,
            1,
            1,
        )
        engine.run()
        assert seen == [1, 2, 1, 2, 1, 2]

    def test_continued_run_with_larger_max_epochs(self, state: State) -> None:
        """run(max_epochs=n) on a terminated run extends it to n epochs."""
        engine = Engine(state, "e", echo, ones(1, 1), max_epochs=2)
        engine.n_iteration_completed_ref.subscribe(lambda: engine.terminate(), once=1)
        engine.run()
        engine.run(max_epochs=4)
        assert (engine.n_epoch_completed, engine.n_iteration_completed, engine.max_epochs) == (
            4,
            8,
            4,
        )


class TestRunOn:
    """run_on runs an engine exactly on the events it names."""

    def runs_of(self, state: State, max_epochs: int = 5, **filters: Any) -> list[int]:
        trainer = Engine(state, "trainer", echo, ones(2, 2), max_epochs=max_epochs)
        evaluator = Engine(
            state, "evaluator", echo, ones(3), run_on=trainer.n_epoch_completed_ref, **filters
        )
        runs: list[int] = []
        evaluator.n_run_completed_ref.subscribe(lambda: runs.append(trainer.n_epoch_completed))
        trainer.run()
        assert evaluator.n_run_completed == len(runs)
        return runs

    def test_every(self, state: State) -> None:
        """every=2 over 5 epochs runs the evaluator after epochs 2 and 4."""
        assert self.runs_of(state, every=2) == [2, 4]

    def test_once(self, state: State) -> None:
        """once=3 runs it after epoch 3 only."""
        assert self.runs_of(state, once=3) == [3]

    def test_when(self, state: State) -> None:
        """when= runs it where the predicate of the epoch holds."""
        assert self.runs_of(state, when=lambda epoch: epoch in (1, 5)) == [1, 5]

    def test_no_filter(self, state: State) -> None:
        """Without a filter it runs after every epoch."""
        assert self.runs_of(state, max_epochs=3) == [1, 2, 3]

    def test_evaluator_runs_inside_the_trainer_epoch_end(self, state: State) -> None:
        """The evaluator's whole run happens before the trainer's next epoch starts."""
        trainer = Engine(state, "trainer", echo, ones(2), max_epochs=2)
        evaluator = Engine(
            state, "evaluator", echo, ones(1, 1), run_on=trainer.n_epoch_completed_ref
        )
        order: list[str] = []
        trainer.n_epoch_started_ref.subscribe(lambda ev: order.append(f"trainer epoch {ev.new}"))
        evaluator.n_iteration_completed_ref.subscribe(lambda ev: order.append(f"eval it {ev.new}"))
        trainer.run()
        assert order == [
            "trainer epoch 1",
            "eval it 1",
            "eval it 2",
            "trainer epoch 2",
            "eval it 1",
            "eval it 2",
        ]
        assert evaluator.n_samples == 4


class TestEpochLength:
    """epoch_length, given or learned from the data."""

    def test_shorter_than_data(self, state: State) -> None:
        """epoch_length=2 over 5 batches: the iterator carries over to the next epoch, as in ignite."""
        engine = Engine(state, "e", lambda e, b: int(b.shape[0]), ones(1, 2, 3, 4, 5))
        outputs: list[int] = []
        engine.output_ref.subscribe(lambda ev: outputs.append(ev.new))
        engine.run(max_epochs=3, epoch_length=2)
        assert outputs == [1, 2, 3, 4, 5, 1]  # ignite's Engine gives the same
        assert (engine.epoch_length, engine.n_iteration_completed, engine.n_samples) == (2, 6, 16)

    def test_longer_than_data(self, state: State) -> None:
        """Data shorter than epoch_length starts again within the epoch and carries over."""
        seen: list[int] = []
        engine = Engine(state, "e", lambda e, b: seen.append(int(b.shape[0])), ones(1, 2))
        engine.run(max_epochs=2, epoch_length=3)
        assert seen == [1, 2, 1, 2, 1, 2]  # ignite's Engine gives the same
        assert (engine.n_epoch_completed, engine.n_iteration_completed) == (2, 6)

    def test_carried_iterator_resumes_after_terminate(self, state: State) -> None:
        """A run stopped between epochs of a carried iterator goes on with the next batch."""
        seen: list[int] = []
        engine = Engine(state, "e", lambda e, b: seen.append(int(b.shape[0])), ones(1, 2, 3, 4, 5))
        engine.n_epoch_completed_ref.subscribe(engine.terminate, once=1)
        engine.run(max_epochs=3, epoch_length=2)
        engine.run()
        assert seen == [1, 2, 3, 4, 5, 1]

    @pytest.mark.parametrize(
        ("stated", "yielded", "expected", "match"),
        [
            (
                3,
                5,
                [1, 2, 3, 4, 5, 1],
                "len\\(dataloader\\) is 3 but its iterator yielded 5 batches",
            ),
            (
                4,
                2,
                [1, 2, 1, 2, 1, 2, 1, 2],
                "len\\(dataloader\\) is 4 but its iterator yielded 2 batches",
            ),
        ],
    )
    def test_len_that_lies(
        self, state: State, stated: int, yielded: int, expected: list[int], match: str
    ) -> None:
        """A len() other than the batches yielded is reported; the data carries over as in ignite."""
        seen: list[int] = []
        data = LyingLen(ones(*range(1, yielded + 1)), stated)
        engine = Engine(state, "e", lambda e, b: seen.append(int(b.shape[0])), data)
        with pytest.warns(RuntimeWarning, match=match) as record:
            engine.run(max_epochs=2)
        assert len(record) == 1  # once per run
        assert seen == expected

    def test_true_len_gives_no_warning(self, state: State) -> None:
        """A len() that tells the truth, over several epochs, warns of nothing."""
        import warnings

        engine = Engine(state, "e", echo, LyingLen(ones(1, 2, 3), 3))
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            engine.run(max_epochs=3)
        assert engine.n_iteration_completed == 9

    def test_length_from_len(self, state: State) -> None:
        """Without epoch_length, a sized loader's len() is the epoch length before the run."""
        engine = Engine(state, "e", echo, ones(1, 1, 1))
        lengths: list[int] = []
        engine.n_run_started_ref.subscribe(lambda: lengths.append(engine.epoch_length))
        engine.run()
        assert lengths == [3]

    def test_data_without_len(self, state: State) -> None:
        """Data without __len__ ends its first epoch at StopIteration and sets epoch_length."""
        engine = Engine(state, "e", lambda e, b: int(b.shape[0]), Countdown(3), max_epochs=2)
        changes: list[tuple[Any, Any]] = []
        engine.epoch_length_ref.subscribe(lambda ev: changes.append((ev.old, ev.new)))
        outputs: list[int] = []
        engine.output_ref.subscribe(lambda ev: outputs.append(ev.new))
        engine.run()
        assert changes == [(None, 3)]
        assert outputs == [3, 2, 1, 3, 2, 1]
        assert (engine.n_epoch_completed, engine.n_iteration_completed, engine.n_samples) == (
            2,
            6,
            12,
        )

    def test_data_without_len_and_epoch_length(self, state: State) -> None:
        """Data without __len__ with epoch_length=2 runs two batches per epoch."""
        engine = Engine(state, "e", lambda e, b: int(b.shape[0]), Countdown(3))
        outputs: list[int] = []
        engine.output_ref.subscribe(lambda ev: outputs.append(ev.new))
        engine.run(max_epochs=2, epoch_length=2)
        assert outputs == [3, 2, 1, 3]  # carried over, as in ignite

    def test_data_without_len_that_yields_nothing(self, state: State) -> None:
        """An iterable without __len__ that yields no batch fails at run time."""
        engine = Engine(state, "e", echo, Countdown(0))
        with pytest.raises(ValueError, match="the dataloader yielded no batch"):
            engine.run()


class TestExceptions:
    """Exceptions keep their type, are stored, and the run does not complete."""

    def test_exception_in_process_fn(self, state: State) -> None:
        """An exception in process_fn is stored in engine.exception and reaches the caller."""

        def process(engine: Engine, batch: Any) -> Any:
            if engine.n_iteration_started == 2:
                raise KeyError("bad batch")
            return batch

        engine = Engine(state, "e", process, ones(1, 1, 1))
        completed: list[int] = []
        engine.n_run_completed_ref.subscribe(lambda ev: completed.append(ev.new))
        with pytest.raises(KeyError, match="bad batch") as info:
            engine.run()
        assert engine.exception is info.value
        assert (engine.n_iteration_completed, engine.n_run_completed, completed) == (1, 0, [])

    def test_exception_in_subscriber_has_chain_note(self, state: State) -> None:
        """An exception in a subscriber reaches run()'s caller with a note naming the chain."""
        engine = Engine(state, "e", echo, ones(1, 1, 1))

        def explode() -> None:
            raise RuntimeError("boom")

        state.on(engine.n_iteration_completed_ref, once=2)(explode)
        with pytest.raises(RuntimeError, match="boom") as info:
            engine.run()
        assert engine.exception is info.value
        assert engine.n_run_completed == 0
        notes = info.value.__notes__
        assert len(notes) == 1
        assert re.fullmatch(
            r"while engines\.e\.n_iteration_completed = 2 -> "
            r"\S*explode \(tests/nodes/test_engine\.py:\d+\)",
            notes[0],
        )

    def test_exception_in_triggered_evaluator(self, state: State) -> None:
        """An evaluator failing inside the trainer's epoch end stops both; the note names both."""
        trainer = Engine(state, "trainer", echo, ones(1), max_epochs=3)

        def fail(engine: Engine, batch: Any) -> Any:
            raise ZeroDivisionError("eval failed")

        evaluator = Engine(state, "evaluator", fail, ones(1), run_on=trainer.n_epoch_completed_ref)
        with pytest.raises(ZeroDivisionError) as info:
            trainer.run()
        assert evaluator.exception is info.value
        assert trainer.exception is info.value
        assert (trainer.n_epoch_completed, trainer.n_run_completed) == (1, 0)
        assert info.value.__notes__ == [
            "while engines.trainer.n_epoch_completed = 1 -> evaluator (Engine)"
        ]

    def test_next_run_clears_exception(self, state: State) -> None:
        """A run after a failed one clears engine.exception and continues the failed run."""
        fail = [True]

        def process(engine: Engine, batch: Any) -> Any:
            if fail[0] and engine.n_iteration_started == 2:
                raise RuntimeError("once")
            return batch

        engine = Engine(state, "e", process, ones(1, 1, 1))
        with pytest.raises(RuntimeError):
            engine.run()
        fail[0] = False
        engine.run()
        assert engine.exception is None
        assert (engine.n_iteration_completed, engine.n_run_completed, engine.n_samples) == (3, 1, 3)


class TestValidation:
    """The engine validates the state graph before its first iteration."""

    def test_trigger_cycle_raises_graph_error(self, state: State) -> None:
        """A trigger cycle in the state makes run() raise GraphError before any iteration."""
        state.configs.a = 0
        state.configs.b = 0

        @state.on("configs.a", writes=["configs.b"])
        def a_to_b() -> None:
            state.configs.b += 1

        @state.on("configs.b", writes=["configs.a"])
        def b_to_a() -> None:
            state.configs.a += 1

        engine = Engine(state, "e", echo, ones(1))
        with pytest.raises(GraphError, match="trigger cycle that can loop forever"):
            engine.run()
        assert (engine.n_run_started, engine.n_iteration_completed) == (0, 0)


class TestArguments:
    """Bad arguments fail at construction or at run() with a message that says how to fix them."""

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            (
                {"process_fn": 3},
                TypeError,
                r"process_fn must be callable as process_fn\(engine, batch\)",
            ),
            (
                {"process_fn": lambda batch: batch},
                TypeError,
                r"must accept two arguments \(engine, batch\)",
            ),
            ({"process_fn": lambda a, b, c: a}, TypeError, "must accept two arguments"),
            ({"dataloader": iter([1, 2])}, TypeError, "an iterator is exhausted after one epoch"),
            ({"dataloader": 5}, TypeError, "dataloader must be re-iterable"),
            ({"dataloader": []}, ValueError, r"the dataloader is empty \(len 0\)"),
            ({"max_epochs": 0}, ValueError, "max_epochs must be a positive integer, got 0"),
            ({"max_epochs": 1.5}, ValueError, "max_epochs must be a positive integer"),
            ({"run_on": "engines.t.n_epoch_completed"}, TypeError, "run_on must be a Ref"),
            ({"name": "not valid"}, ValueError, "identifier"),
        ],
    )
    def test_bad_constructor_arguments(
        self, state: State, kwargs: dict[str, Any], error: type[Exception], match: str
    ) -> None:
        """A bad constructor argument raises at once."""
        args = {"name": "e", "process_fn": echo, "dataloader": [1]} | kwargs
        with pytest.raises(error, match=match):
            Engine(state, **args)

    def test_process_fn_with_defaults_and_builtins(self, state: State) -> None:
        """A process_fn with extra defaulted arguments or *args is accepted."""
        Engine(state, "a", lambda engine, batch, scale=2: batch, [1])
        Engine(state, "b", lambda *args: args[1], [1])

    def test_name_taken(self, state: State) -> None:
        """A second engine with the same name is refused."""
        Engine(state, "trainer", echo, [1])
        with pytest.raises(ValueError, match="trainer"):
            Engine(state, "trainer", echo, [2])

    def test_name_taken_leaves_the_trigger_unsubscribed(self, state: State) -> None:
        """A refused engine does not subscribe its run_on trigger."""
        trainer = Engine(state, "trainer", echo, [1], max_epochs=2)
        Engine(state, "evaluator", echo, [1])
        with pytest.raises(ValueError):
            Engine(state, "evaluator", echo, [1], run_on=trainer.n_epoch_completed_ref)
        trainer.run()
        assert state.engines.evaluator.n_run_started == 0

    @pytest.mark.parametrize(
        ("kwargs", "match"),
        [
            ({"max_epochs": 0}, "max_epochs must be a positive integer or None, got 0"),
            ({"epoch_length": -1}, "epoch_length must be a positive integer or None, got -1"),
            ({"max_epochs": True}, "max_epochs must be a positive integer"),
        ],
    )
    def test_bad_run_arguments(self, state: State, kwargs: dict[str, Any], match: str) -> None:
        """run() refuses non-positive max_epochs and epoch_length."""
        engine = Engine(state, "e", echo, [1])
        with pytest.raises(ValueError, match=match):
            engine.run(**kwargs)

    def test_max_epochs_below_epochs_done(self, state: State) -> None:
        """A continued run refuses max_epochs smaller than the epochs it already completed."""
        engine = Engine(state, "e", echo, [1, 2], max_epochs=4)
        engine.n_iteration_completed_ref.subscribe(lambda: engine.terminate(), once=5)
        engine.run()
        assert engine.n_epoch_completed == 2
        with pytest.raises(ValueError, match="max_epochs=1 is less than the 2 epochs already"):
            engine.run(max_epochs=1)

    def test_epoch_length_change_mid_run(self, state: State) -> None:
        """A continued run refuses a different epoch_length."""
        engine = Engine(state, "e", echo, [1, 2, 3], max_epochs=2)
        engine.n_iteration_completed_ref.subscribe(lambda: engine.terminate(), once=1)
        engine.run()
        with pytest.raises(ValueError, match="cannot change epoch_length from 3 to 2"):
            engine.run(epoch_length=2)


class TestImports:
    """``import nodes`` stays light."""

    def test_import_nodes_does_not_import_ignite(self) -> None:
        """Importing nodes loads torch and pipeline but not ignite."""
        code = (
            "import sys, nodes; "
            "print(sorted(m for m in sys.modules if m == 'ignite' or m.startswith('ignite.')))"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == "[]"


class TestTerminateEpoch:
    """terminate_epoch() ends the epoch early; the next starts a new iterator, as in ignite."""

    def test_same_batches_as_ignite(self, state: State) -> None:
        """Epoch 1 cut after 2 iterations: the same batches, epochs and iterations as ignite's."""
        from ignite.engine import Engine as IgniteEngine
        from ignite.engine import Events

        ours: list[int] = []
        engine = Engine(state, "e", lambda e, b: ours.append(int(b.shape[0])), ones(1, 2, 3))
        engine.n_iteration_completed_ref.subscribe(engine.terminate_epoch, once=2)
        engine.run(max_epochs=3)

        theirs: list[int] = []
        ignite = IgniteEngine(lambda e, b: theirs.append(int(b.shape[0])))
        ignite.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.terminate_epoch())
        ignite.run(ones(1, 2, 3), max_epochs=3)
        assert ours == theirs == [1, 2, 1, 2, 3, 1, 2, 3]
        assert (engine.n_epoch_completed, engine.n_iteration_completed) == (3, 8)

    def test_at_iteration_started_as_ignite(self, state: State) -> None:
        """terminate_epoch() at n_iteration_started: that batch is not processed, the iteration
        counts (as ignite's), and the next epoch starts from the first batch."""
        from ignite.engine import Engine as IgniteEngine
        from ignite.engine import Events

        ours: list[int] = []
        engine = Engine(state, "e", lambda e, b: ours.append(int(b.shape[0])), ones(1, 2, 3))
        completed: list[int] = []
        engine.n_iteration_completed_ref.subscribe(lambda ev: completed.append(ev.new))
        engine.n_iteration_started_ref.subscribe(engine.terminate_epoch, once=2)
        engine.run(max_epochs=2)

        theirs: list[int] = []
        ignite = IgniteEngine(lambda e, b: theirs.append(int(b.shape[0])))
        ignite.add_event_handler(Events.ITERATION_STARTED(once=2), lambda e: e.terminate_epoch())
        ignite.run(ones(1, 2, 3), max_epochs=2)
        assert ours == theirs == [1, 1, 2, 3]
        assert completed == [1, 3, 4, 5]
        assert (engine.n_iteration_completed, engine.n_samples) == (ignite.state.iteration, 7)

    def test_before_the_first_iteration_is_refused_as_by_ignite(self, state: State) -> None:
        """terminate_epoch() at n_epoch_started raises, as ignite's does at EPOCH_STARTED."""
        engine = Engine(state, "e", echo, ones(1, 2))
        engine.n_epoch_started_ref.subscribe(engine.terminate_epoch, once=2)
        with pytest.raises(RuntimeError, match=r"e: terminate_epoch\(\) was called before"):
            engine.run(max_epochs=3)
        assert (engine.n_epoch_completed, engine.n_iteration_completed) == (1, 2)

    def test_resume_after_a_cut_epoch(self, state: State) -> None:
        """A state dict saved mid-epoch after a cut epoch resumes with the same batches."""

        def build(state: State) -> tuple[Engine, list[int]]:
            seen: list[int] = []
            engine = Engine(state, "e", lambda e, b: seen.append(int(b.shape[0])), ones(1, 2, 3))
            engine.n_iteration_completed_ref.subscribe(engine.terminate_epoch, once=1)
            return engine, seen

        engine, seen = build(state)
        engine.n_iteration_completed_ref.subscribe(engine.terminate, once=3)
        engine.run(max_epochs=3)
        assert engine.n_iteration_in_epoch == 2 and engine.state_dict()["cut"] == 2
        saved = state.state_dict()
        other, rest = build(State())
        other.state.load_state_dict(saved, strict=False)
        other.run()
        assert seen + rest == [1, 1, 2, 3, 1, 2, 3]
        with pytest.raises(ValueError, match="cut must be a non-negative int, got -1"):
            other.load_state_dict({"cut": -1})


class TestReentrance:
    """run() inside the engine's own run is refused, naming the engine and the caller."""

    def test_from_own_subscriber(self, state: State) -> None:
        """A subscriber of the engine's counter calling run(): RuntimeError, no batch repeated."""
        seen: list[int] = []
        engine = Engine(state, "e", lambda e, b: seen.append(b), [1, 2, 3, 4])

        @state.on(engine.n_iteration_completed_ref, once=2)
        def again() -> None:
            engine.run()

        with pytest.raises(
            RuntimeError,
            match=r"engines\.e\.run\(\) was called by .*again .*, while e is running "
            r"\(epoch 1, iteration 2\); a run inside its own run would repeat its batches",
        ) as info:
            engine.run()
        assert seen == [1, 2]
        assert engine.exception is info.value
        engine.run()  # the flag is cleared: a later run works
        assert seen == [1, 2, 3, 4]

    def test_from_a_step_that_sets_its_run_on_variable(self, state: State) -> None:
        """A step that changes the engine's own trigger: refused, naming the trigger."""
        state.configs.go = 0
        seen: list[int] = []

        def step(engine: Engine, batch: int) -> None:
            seen.append(batch)
            state.configs.go += 1

        engine = Engine(state, "e", step, [1, 2, 3, 4], run_on=state.configs.go_ref)
        with pytest.raises(
            RuntimeError,
            match=r"engines\.e\.run\(\) was called by its run_on trigger configs\.go, which "
            r"changed during its own run, while e is running \(epoch 1, iteration 1\)",
        ):
            engine.run()
        assert seen == [1]
        assert engine.max_epochs == 1  # the check came before the trigger's reset

    def test_evaluator_step_calling_the_trainer(self, state: State) -> None:
        """An evaluator's step that runs the trainer which triggered it: refused, naming both."""
        seen: list[int] = []
        trainer = Engine(state, "trainer", lambda e, b: seen.append(b), [1, 2, 3, 4])
        Engine(
            state,
            "evaluator",
            lambda e, b: trainer.run(),
            [0],
            run_on=trainer.n_iteration_completed_ref,
            every=2,
        )
        with pytest.raises(
            RuntimeError,
            match=r"engines\.trainer\.run\(\) was called by evaluator \(Engine\), while "
            r"trainer is running \(epoch 1, iteration 2\)",
        ):
            trainer.run()
        assert seen == [1, 2]

    def test_inside_hold(self, state: State) -> None:
        """run() inside state.hold() is refused before anything runs."""
        engine = Engine(state, "e", echo, [1, 2, 3])
        fired: list[int] = []
        engine.n_iteration_completed_ref.subscribe(lambda: fired.append(1))
        refused = pytest.raises(RuntimeError, match=r"inside a state\.hold\(\) block: every event")
        with refused, state.hold():
            engine.run()
        assert (engine.n_run_started, fired) == (0, [])
        engine.run()
        assert fired == [1, 1, 1]


class TestCounters:
    """Only the engine writes its counters; the graph is validated again when it changed."""

    @pytest.mark.parametrize(
        "name", ["n_iteration_completed", "n_epoch_completed", "n_samples", "n_run_started"]
    )
    def test_assigned_from_outside(self, state: State, name: str) -> None:
        """A counter set by user code between runs: refused at that line, the value kept."""
        engine = Engine(state, "e", echo, [1, 2, 3])
        engine.run()
        before = getattr(engine, name)
        with pytest.raises(
            AttributeError,
            match=rf"engines\.e\.{name} is written only by e \(Engine\) itself; code at "
            rf"test_engine\.py:\d+ set it to 100, refused \(it keeps {before}\)",
        ):
            setattr(engine, name, 100)
        assert getattr(engine, name) == before
        engine.run(max_epochs=2)
        assert (engine.n_iteration_completed, engine.n_epoch_completed) == (6, 2)

    def test_assigned_before_the_first_run(self, state: State) -> None:
        """Also before the engine ever ran (no subscriber watching the counter)."""
        engine = Engine(state, "e", echo, [1, 2, 3])
        with pytest.raises(AttributeError, match="refused"):
            engine.n_iteration_completed = 100
        engine.run(max_epochs=2)
        assert engine.n_iteration_completed == 6

    def test_written_by_a_callback(self, state: State) -> None:
        """A subscriber moving the engine's counter is named in the refusal."""
        engine = Engine(state, "e", echo, [1, 2, 3])

        @state.on(engine.n_iteration_completed_ref, once=2)
        def skip() -> None:
            engine.n_iteration_completed += 1

        with pytest.raises(
            AttributeError, match=r"is written only by e \(Engine\) itself; .*\.skip \(tests"
        ):
            engine.run()
        assert engine.n_iteration_completed == 2

    def test_loading_is_not_a_write(self, state: State) -> None:
        """load_state_dict restores counters without being refused."""
        engine = Engine(state, "e", echo, [1, 2, 3])
        engine.run(max_epochs=2)
        saved = state.state_dict()
        other = State()
        loaded = Engine(other, "e", echo, [1, 2, 3])
        other.load_state_dict(saved)
        assert loaded.n_iteration_completed == 6
        loaded.run(max_epochs=3)
        assert loaded.n_iteration_completed == 9

    def test_graph_changed_since_the_last_run_is_validated_again(self, state: State) -> None:
        """A trigger cycle added after the first run fails the next run before any iteration."""
        engine = Engine(state, "e", echo, [1, 2, 3])
        engine.run()
        state.configs.a = 0
        state.configs.b = 0
        state.on("configs.a", writes=["configs.b"])(lambda: None)
        state.on("configs.b", writes=["configs.a"])(lambda: None)
        with pytest.raises(GraphError, match="trigger cycle that can loop forever"):
            engine.run()
        assert engine.n_run_started == 1
