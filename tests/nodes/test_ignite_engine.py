"""Tests of ``nodes.IgniteEngine``: ignite's ``Engine`` whose events are variables of a
statefire engine and whose handlers are subscriptions. (ignite's own test suite runs on it
in ``make peer``; these tests check the statefire side.)"""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import torch
from ignite.engine import Engine as PlainEngine
from ignite.engine import EventEnum, Events

from nodes import IgniteEngine
from nodes.ignite_engine import IgniteLoop
from pipeline import State


def echo(engine: Any, batch: Any) -> Any:
    return batch


class Custom(EventEnum):
    BACKWARD_DONE = "backward_done"


class TestConstruction:
    def test_is_an_ignite_engine_on_a_new_state(self) -> None:
        """``IgniteEngine(fn)`` is an ignite Engine; its statefire engine is ``engines.engine``."""
        engine = IgniteEngine(echo)
        assert isinstance(engine, PlainEngine)
        loop = engine.statefire_engine
        assert isinstance(loop, IgniteLoop)
        assert loop.key == "engines.engine"
        assert loop.ignite is engine

    def test_joins_a_given_state_under_its_name(self, state: State) -> None:
        """Two engines on one state are two statefire engines of it."""
        trainer = IgniteEngine(echo, state=state, name="trainer")
        evaluator = IgniteEngine(echo, state=state, name="evaluator")
        assert state.engines.trainer is trainer.statefire_engine
        assert state.engines.evaluator is evaluator.statefire_engine

    def test_refuses_a_process_function_as_ignite_does(self) -> None:
        """A process function with the wrong signature gets ignite's own error."""
        with pytest.raises(ValueError, match="process_function"):
            IgniteEngine(lambda: None)

    def test_nodes_names_it_without_importing_ignite_first(self) -> None:
        """``nodes.IgniteEngine`` is the class of ``nodes.ignite_engine``; a typo raises."""
        import nodes
        from nodes import ignite_engine

        assert nodes.IgniteEngine is ignite_engine.IgniteEngine
        with pytest.raises(AttributeError, match="IgniteEngin"):
            nodes.IgniteEngin


class TestEventsAreVariables:
    def test_a_run_writes_the_statefire_engine_variables_in_order(self) -> None:
        """statefire subscribers see the run as on any statefire engine."""
        engine = IgniteEngine(echo)
        loop = engine.statefire_engine
        log: list[tuple[str, Any]] = []
        names = [
            "n_run_started",
            "n_epoch_started",
            "n_iteration_started",
            "batch",
            "output",
            "n_samples",
            "n_iteration_completed",
            "n_epoch_completed",
            "n_run_completed",
        ]
        for name in names:
            loop.ref(name).subscribe(lambda event, name=name: log.append((name, event.new)))
        data = [torch.ones(2), torch.ones(3)]
        engine.run(data, max_epochs=1)
        assert [(n, v.shape[0] if isinstance(v, torch.Tensor) else v) for n, v in log] == [
            ("n_run_started", 1),
            ("n_epoch_started", 1),
            ("n_iteration_started", 1),
            ("batch", 2),
            ("output", 2),
            ("n_samples", 2),
            ("n_iteration_completed", 1),
            ("n_iteration_started", 2),
            ("batch", 3),
            ("output", 3),
            ("n_samples", 5),
            ("n_iteration_completed", 2),
            ("n_epoch_completed", 1),
            ("n_run_completed", 1),
        ]
        assert (loop.max_epochs, loop.epoch_length, loop.n_get_batch_completed) == (1, 2, 2)

    def test_an_event_fires_even_when_its_counter_holds_the_value(self) -> None:
        """A handler that sets ``state.iteration`` back does not hide the next iteration's event."""
        engine = IgniteEngine(echo)
        seen: list[int] = []
        engine.statefire_engine.n_iteration_completed_ref.subscribe(
            lambda event: seen.append(event.new)
        )

        @engine.on(Events.ITERATION_COMPLETED)
        def rewind(e: Any) -> None:
            e.state.iteration = 0

        engine.run([1, 2, 3])
        assert seen == [1, 1, 1]

    def test_custom_event_is_a_variable_of_the_events_container(self) -> None:
        """A registered event counts in ``events.<engine>_<event>``; fire_event sets it."""
        engine = IgniteEngine(echo, name="trainer")
        engine.register_events(*Custom)
        ref = engine.statefire_engine.state.ref("events.trainer_backward_done")
        calls: list[int] = []
        engine.add_event_handler(Custom.BACKWARD_DONE, lambda: calls.append(ref.value))
        engine.add_event_handler(
            Events.ITERATION_COMPLETED, lambda e: e.fire_event(Custom.BACKWARD_DONE)
        )
        engine.run([1, 2])
        assert calls == [1, 2]
        assert "engines.trainer" in engine.statefire_engine.state.writers_of(ref)

    def test_an_equal_event_fires_the_registered_one(self) -> None:
        """A string event fired through an equal, not identical, string counts in its variable."""
        engine = IgniteEngine(echo)
        engine.register_events("my_event")
        calls: list[str] = []
        engine.add_event_handler("my_event", lambda: calls.append("called"))
        engine.fire_event("".join(["my_", "event"]))
        assert calls == ["called"]
        assert engine.statefire_engine.state.events.engine_my_event == 1

    def test_an_event_fired_inside_a_handler_gets_its_own_arguments(self) -> None:
        """A custom event fired by an EXCEPTION_RAISED handler does not pass the exception on."""
        engine = IgniteEngine(lambda e, b: 1 / 0)
        engine.register_events(*Custom)
        got: list[tuple[Any, ...]] = []
        engine.add_event_handler(Custom.BACKWARD_DONE, lambda e, *args: got.append(args))

        @engine.on(Events.EXCEPTION_RAISED)
        def on_error(e: Any, exc: BaseException) -> None:
            e.fire_event(Custom.BACKWARD_DONE)
            got.append((type(exc).__name__,))

        engine.run([1])
        assert got == [(), ("ZeroDivisionError",)]

    def test_exception_raised_passes_the_exception_and_sets_the_variable(self) -> None:
        """EXCEPTION_RAISED handlers get the exception, and ``exception`` holds it."""

        def fail(engine: Any, batch: Any) -> None:
            raise RuntimeError("boom")

        engine = IgniteEngine(fail)
        caught: list[BaseException] = []
        engine.add_event_handler(Events.EXCEPTION_RAISED, lambda e, exc: caught.append(exc))
        engine.run([1])
        assert [str(e) for e in caught] == ["boom"]
        assert engine.statefire_engine.exception is caught[0]

    @pytest.mark.parametrize("cls", [PlainEngine, IgniteEngine])
    def test_an_exception_re_raised_by_the_handler_propagates_as_in_ignite(self, cls: Any) -> None:
        """ignite fires EXCEPTION_RAISED at both loop levels: a handler's re-raise ends run()."""

        def fail(engine: Any) -> None:
            raise KeyError("x")

        engine = cls(echo)
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=3), fail)
        calls: list[tuple[int, str]] = []

        @engine.on(Events.EXCEPTION_RAISED)
        def reraise(e: Any, exc: BaseException) -> None:
            calls.append((e.state.iteration, type(exc).__name__))
            raise exc

        with pytest.raises(KeyError, match="x"):
            engine.run(list(range(5)), max_epochs=3)
        assert calls == [(3, "KeyError"), (3, "KeyError")]
        assert (engine.state.iteration, engine.state.epoch) == (3, 1)


class TestHandlersAreSubscriptions:
    def test_a_handler_is_a_subscriber_named_after_it(self) -> None:
        """The graph names the handler; ignite's filter still decides when it runs."""
        engine = IgniteEngine(echo)
        outputs: list[int] = []

        def keep_output(e: Any) -> None:
            outputs.append(e.state.output)

        handle = engine.add_event_handler(Events.ITERATION_COMPLETED(every=2), keep_output)
        state = engine.statefire_engine.state
        (subscriber,) = state.subscribers_of("engines.engine.n_iteration_completed")
        assert subscriber.startswith("TestHandlersAreSubscriptions.test_a_handler_is_a_subscriber")
        assert "keep_output (" in subscriber and "test_ignite_engine.py:" in subscriber
        engine.run([1, 2, 3, 4, 5])
        assert outputs == [2, 4]
        handle.remove()
        assert state.subscribers_of("engines.engine.n_iteration_completed") == []
        engine.run([1, 2, 3, 4, 5])
        assert outputs == [2, 4]

    def test_ignite_filters_label_the_subscriptions(self) -> None:
        """``every`` on an iteration or epoch event is statefire's ``every``; other filters
        are a ``when=`` predicate named after them; each runs the handler when ignite would."""
        engine = IgniteEngine(echo)
        calls: dict[str, list[int]] = {"every": [], "once": [], "batch": []}
        for key, event in (
            ("every", Events.ITERATION_COMPLETED(every=2)),
            ("once", Events.ITERATION_COMPLETED(once=3)),
            ("batch", Events.GET_BATCH_STARTED(every=3)),
        ):
            engine.add_event_handler(event, lambda e, key=key: calls[key].append(e.state.iteration))
        labels = sorted(
            (source, data["label"])
            for source, _, data in engine.statefire_engine.state.graph.edges(data=True)
            if data["kind"] == "triggers"
        )
        assert labels == [
            ("engines.engine.n_get_batch_started", "when=every=3"),
            ("engines.engine.n_iteration_completed", "every=2"),
            ("engines.engine.n_iteration_completed", "when=once=[3]"),
        ]
        engine.run(range(7))
        # as ignite: GET_BATCH_STARTED sees the iteration before it starts (0, 3 and 6)
        assert calls == {"every": [2, 4, 6], "once": [3], "batch": [0, 3, 6]}

    def test_removing_one_handler_keeps_the_others(self) -> None:
        """remove_event_handler removes only that handler's subscription."""
        engine = IgniteEngine(echo)
        calls: list[str] = []

        def make(name: str) -> Any:
            return lambda: calls.append(name)

        handlers = {name: make(name) for name in "abc"}
        for handler in handlers.values():
            engine.add_event_handler(Events.EPOCH_COMPLETED, handler)
        engine.remove_event_handler(handlers["b"], Events.EPOCH_COMPLETED)
        engine.remove_event_handler(handlers["a"], Events.EPOCH_COMPLETED)
        engine.run([1])
        assert calls == ["c"]
        assert len(engine.statefire_engine.state.subscribers_of("engine.n_epoch_completed")) == 1

    def test_an_evaluator_runs_inside_the_trainer_on_one_state(self, state: State) -> None:
        """An evaluator run from a trainer's handler: both engines count on the shared state."""
        trainer = IgniteEngine(echo, state=state, name="trainer")
        evaluator = IgniteEngine(echo, state=state, name="evaluator")
        trainer.add_event_handler(Events.EPOCH_COMPLETED, lambda: evaluator.run([1, 2, 3]))
        trainer.run([1, 2], max_epochs=3)
        assert (state.trainer.n_iteration_completed, state.trainer.n_epoch_completed) == (6, 3)
        assert (state.evaluator.n_run_completed, state.evaluator.n_samples) == (3, 0)
        state.validate()


class TestControl:
    def test_terminate_sets_should_terminate(self) -> None:
        """ignite's terminate() also sets the statefire engine's should_terminate."""
        engine = IgniteEngine(echo)
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.terminate())
        state = engine.run([1, 2, 3, 4], max_epochs=2)
        assert (state.iteration, engine.statefire_engine.should_terminate) == (2, True)
        assert engine.statefire_engine.n_terminate == 1

    def test_the_statefire_engine_runs_and_terminates_the_ignite_engine(self) -> None:
        """``statefire_engine.run()`` runs on the last data; its terminate() stops the run."""
        engine = IgniteEngine(echo)
        loop = engine.statefire_engine
        loop.n_iteration_completed_ref.subscribe(loop.terminate, once=3)
        engine.run([1, 2], max_epochs=4)
        assert engine.state.iteration == 3
        loop.run()  # as ignite: the terminated run goes on from the next epoch, to its 4 epochs
        assert (engine.state.iteration, engine.state.epoch, loop.n_run_completed) == (7, 4, 2)

    def test_the_statefire_engine_ends_epochs_and_switches_data_of_the_ignite_engine(
        self,
    ) -> None:
        """terminate_epoch() and set_dataloader() on the statefire engine act on the ignite one."""
        engine = IgniteEngine(echo)
        loop = engine.statefire_engine
        batches: list[int] = []
        engine.add_event_handler(
            Events.ITERATION_COMPLETED, lambda e: batches.append(e.state.batch)
        )
        loop.n_iteration_completed_ref.subscribe(loop.terminate_epoch, once=2)
        loop.n_iteration_completed_ref.subscribe(lambda: loop.set_dataloader([7, 8, 9]), once=4)
        engine.run([1, 2, 3], max_epochs=2)
        assert batches == [1, 2, 1, 2, 7]  # as ignite: the new data, from its start, next
        assert loop.dataloader == [7, 8, 9]

    def test_statefire_engine_run_without_data_refuses_as_ignite(self) -> None:
        """Before any run there is no data: ignite's message says what to give."""
        with pytest.raises(ValueError, match="epoch_length should be provided if data is None"):
            IgniteEngine(echo).statefire_engine.run()


class TestPersistence:
    def test_the_state_dict_resumes_the_ignite_run(self, tmp_path: Any) -> None:
        """A statefire checkpoint of an IgniteEngine's state resumes its run as ignite would."""
        data = [torch.ones(2)] * 5
        engine = IgniteEngine(echo)
        engine.run(data, max_epochs=2)
        path = tmp_path / "state.pt"
        torch.save(engine.statefire_engine.state.state_dict(), path)
        again = IgniteEngine(echo)
        again.statefire_engine.state.load_state_dict(torch.load(path, weights_only=True))
        assert (again.state.epoch, again.state.iteration, again.state.max_epochs) == (2, 10, 2)
        seen: list[int] = []
        again.add_event_handler(
            Events.ITERATION_COMPLETED, lambda e: seen.append(e.state.iteration)
        )
        again.run(data, max_epochs=3)
        assert seen == [11, 12, 13, 14, 15]

    def test_a_handler_with_a_state_dict_is_saved_with_the_state(self) -> None:
        """A stateful handler is saved under handlers.<engine>_ignite and loaded back."""

        class Count:
            def __init__(self) -> None:
                self.n = 0

            def __call__(self, engine: Any) -> None:
                self.n += 1

            def state_dict(self) -> dict[str, int]:
                return {"n": self.n}

            def load_state_dict(self, state_dict: dict[str, int]) -> None:
                self.n = state_dict["n"]

        engine = IgniteEngine(echo)
        engine.add_event_handler(Events.ITERATION_COMPLETED, Count())
        engine.run([1, 2, 3])
        saved = engine.statefire_engine.state.state_dict()
        assert saved["nodes"]["handlers.engine_ignite"] == {"Count": {"n": 3}}
        again = IgniteEngine(echo)
        count = Count()
        again.add_event_handler(Events.ITERATION_COMPLETED, count)
        again.statefire_engine.state.load_state_dict(saved)
        assert count.n == 3

    def test_loading_without_the_ignite_entry_is_refused(self) -> None:
        """A node state without the ignite engine's entry says what it expected."""
        with pytest.raises(ValueError, match="expected the ignite engine's state under 'ignite'"):
            IgniteEngine(echo).statefire_engine.load_state_dict({"epoch_rng": None})


class TestMemory:
    def test_an_engine_and_its_state_are_collected_after_a_run(self) -> None:
        """Nothing outside keeps an IgniteEngine, its state or its handlers alive."""
        import gc
        import weakref

        from ignite.metrics import Average, RunningAverage

        def run_one() -> tuple[Any, Any]:
            engine = IgniteEngine(lambda e, b: float(b))
            engine.add_event_handler(Events.ITERATION_COMPLETED(every=2), lambda e: None)
            Average().attach(engine, "avg")  # metrics are variables of the state
            RunningAverage(output_transform=lambda x: x).attach(engine, "running")
            engine.run([1, 2, 3])
            assert engine.statefire_engine.state.metrics.engine_avg == 2.0
            return weakref.ref(engine), weakref.ref(engine.statefire_engine.state)

        engine_ref, state_ref = run_one()
        gc.collect()
        assert engine_ref() is None and state_ref() is None


def _record(engine: Any) -> list[tuple[int, int, str]]:
    """Every built-in event ``engine`` fires, as (epoch, iteration, event name)."""
    log: list[tuple[int, int, str]] = []
    for event in Events:
        engine.add_event_handler(
            event,
            lambda e, *args, name=event.name, **kwargs: log.append(
                (e.state.epoch, e.state.iteration, name)
            ),
        )
    return log


def _scenario(name: str, cls: Any) -> tuple[list[tuple[int, int, str]], tuple[int, int]]:
    """Run scenario ``name`` on an engine of class ``cls``; its events and end position."""
    fail_at = {"swallowed": 3}

    def step(engine: Any, batch: Any) -> Any:
        if name == "swallowed" and engine.state.iteration == fail_at["swallowed"]:
            raise ValueError("bad batch")
        return batch

    engine = cls(step)
    log = _record(engine)
    data: Any = list(range(4))
    kwargs: dict[str, Any] = {"max_epochs": 3}
    if name == "terminate at GET_BATCH_COMPLETED":
        engine.add_event_handler(Events.GET_BATCH_COMPLETED(once=6), lambda e: e.terminate())
    elif name == "terminate, skip COMPLETED":
        engine.add_event_handler(Events.EPOCH_COMPLETED(once=2), lambda e: e.terminate(True))
    elif name == "terminate_epoch at ITERATION_STARTED":
        engine.add_event_handler(Events.ITERATION_STARTED(once=2), lambda e: e.terminate_epoch())
    elif name == "terminate_epoch, skip EPOCH_COMPLETED":
        engine.add_event_handler(
            Events.ITERATION_COMPLETED(once=5), lambda e: e.terminate_epoch(True)
        )
    elif name == "interrupt and resume":
        engine.add_event_handler(Events.ITERATION_COMPLETED(every=5), lambda e: e.interrupt())
    elif name == "swallowed":
        engine.add_event_handler(Events.EXCEPTION_RAISED, lambda e, exc: None)
    elif name == "iterator, max_iters":
        data, kwargs = iter(range(5)), {"max_iters": 5}
    elif name == "iterator runs out":
        data, kwargs = iter(range(5)), {"max_epochs": 2, "epoch_length": 4}
    elif name == "no data":
        data, kwargs = None, {"max_epochs": 2, "epoch_length": 3}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "iterator runs out" warns on both
        state = engine.run(data, **kwargs)
        while name == "interrupt and resume" and state.iteration < 12:
            state = engine.run(data, **kwargs)
    return log, (state.epoch, state.iteration)


SCENARIOS = [
    "plain",
    "terminate at GET_BATCH_COMPLETED",
    "terminate, skip COMPLETED",
    "terminate_epoch at ITERATION_STARTED",
    "terminate_epoch, skip EPOCH_COMPLETED",
    "interrupt and resume",
    "swallowed",
    "iterator, max_iters",
    "iterator runs out",
    "no data",
]


class TestTheStatefireLoop:
    """``IgniteEngine.run`` runs ``IgniteLoop``'s loop, with ignite's events in ignite's order."""

    @pytest.mark.parametrize("scenario", SCENARIOS)
    def test_the_events_are_ignites_event_for_event(self, scenario: str) -> None:
        """The same (epoch, iteration, event) sequence as ignite's own Engine."""
        expected, expected_end = _scenario(scenario, PlainEngine)
        got, end = _scenario(scenario, IgniteEngine)
        assert got == expected
        assert end == expected_end
        assert len(got) > 8  # each scenario runs batches

    @pytest.mark.parametrize("resumable", [True, False])
    def test_ignites_own_loop_is_never_called(
        self, resumable: bool, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        def refuse(self: Any, *args: Any) -> Any:
            raise AssertionError("ignite's own loop ran")

        for name in (
            "_internal_run_as_gen",
            "_run_once_on_dataset_as_gen",
            "_run_once_on_dataset_legacy",
            "_maybe_terminate_or_interrupt",
        ):
            monkeypatch.setattr(PlainEngine, name, refuse)
        monkeypatch.setattr(IgniteEngine, "interrupt_resume_enabled", resumable)
        engine = IgniteEngine(echo)
        state = engine.run([1, 2, 3], max_epochs=2)
        assert (state.epoch, state.iteration, state.output) == (2, 6, 3)
        assert engine.statefire_engine.n_iteration_completed == 6

    def test_a_run_inside_its_own_handler_is_refused_by_the_statefire_guard(self) -> None:
        engine = IgniteEngine(echo)
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.run([5]))
        with pytest.raises(
            RuntimeError, match=r"engines\.engine\.run\(\) was called by .* while engine is running"
        ):
            engine.run([1, 2, 3])

    def test_a_run_inside_hold_is_refused_before_any_event(self) -> None:
        engine = IgniteEngine(echo)
        log = _record(engine)
        hold = engine.statefire_engine.state.hold()
        with pytest.raises(RuntimeError, match=r"inside a state\.hold"), hold:
            engine.run([1, 2])
        assert log == []

    def test_interrupt_counts_in_its_variable_and_the_next_run_resumes(self) -> None:
        engine = IgniteEngine(echo)
        loop = engine.statefire_engine
        interrupts: list[int] = []
        loop.n_interrupt_ref.subscribe(lambda: interrupts.append(engine.state.iteration))
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=3), lambda e: e.interrupt())
        state = engine.run(list(range(4)), max_epochs=2)
        assert (state.iteration, loop.n_iteration_completed, loop.n_run_completed) == (3, 3, 0)
        assert engine._internal_run_generator is not None
        state = engine.run(list(range(4)), max_epochs=2)
        assert (state.iteration, loop.n_iteration_completed) == (8, 8)
        assert (interrupts, loop.n_run_started, loop.n_run_completed) == ([3], 1, 1)
        assert engine._internal_run_generator is None

    def test_terminate_counts_and_skip_completed_leaves_n_run_completed(self) -> None:
        engine = IgniteEngine(echo)
        loop = engine.statefire_engine
        engine.add_event_handler(Events.ITERATION_COMPLETED(once=2), lambda e: e.terminate(True))
        engine.run([1, 2, 3], max_epochs=2)
        assert (loop.n_terminate, loop.n_run_completed, loop.n_iteration_completed) == (1, 0, 2)
        assert loop.should_terminate

    def test_max_iters_is_a_variable_of_the_run(self) -> None:
        engine = IgniteEngine(echo)
        state = engine.run([1, 2, 3], max_iters=5)
        loop = engine.statefire_engine
        assert (state.iteration, state.epoch, loop.max_iters) == (5, 2, 5)
        assert (loop.n_iteration_completed, loop.n_terminate, loop.n_run_completed) == (5, 1, 1)

    def test_an_exception_without_handler_propagates_and_is_recorded(self) -> None:
        def fail(engine: Any, batch: Any) -> None:
            raise ZeroDivisionError("step")

        engine = IgniteEngine(fail)
        with pytest.raises(ZeroDivisionError, match="step"):
            engine.run([1, 2])
        assert isinstance(engine.statefire_engine.exception, ZeroDivisionError)
        assert engine._dataloader_iter is None

    def test_an_unknown_event_names_the_known_ones(self) -> None:
        engine = IgniteEngine(echo)
        with pytest.raises(
            ValueError, match=r"not a valid event for this Engine .*ITERATION_COMPLETED"
        ):
            engine.add_event_handler("ITERATION_COMPLETE", lambda e: None)


class TestMetricsAreVariables:
    def test_an_attached_metric_is_a_variable_before_and_after_its_run(self) -> None:
        """Attaching makes metrics.<engine>_<name> (None, not in state.metrics yet); each
        run's value is an event of it; a statefire subscriber sees every value."""
        from ignite.metrics import Accuracy

        batches = [
            (torch.tensor([[0.1, 0.9], [0.8, 0.2]]), torch.tensor([1, 0])),
            (torch.tensor([[0.1, 0.9], [0.3, 0.7]]), torch.tensor([1, 0])),
        ]
        engine = IgniteEngine(lambda e, batch: batch, name="val")
        Accuracy().attach(engine, "accuracy")
        box = engine.statefire_engine.state.metrics
        assert "val_accuracy" in box and box.val_accuracy is None
        assert "accuracy" not in engine.state.metrics
        seen: list[float] = []
        box.val_accuracy_ref.subscribe(lambda event: seen.append(event.new))
        engine.run(batches[:1])
        engine.run(batches)
        assert seen == [1.0, 0.75]
        assert dict(engine.state.metrics) == {"accuracy": 0.75}
        writers = engine.statefire_engine.state.writers_of("metrics.val_accuracy")
        assert any("Accuracy.completed" in w for w in writers)

    def test_a_name_that_is_no_identifier_stays_in_the_mapping(self) -> None:
        engine = IgniteEngine(echo)
        engine.state.metrics["top-5"] = 0.5
        assert engine.state.metrics["top-5"] == 0.5
        assert "engine_top_5" not in engine.statefire_engine.state.metrics


class TestIgniteFactories:
    def test_supervised_steps_train_as_create_supervised_trainer(self) -> None:
        """``IgniteEngine(supervised_training_step(...))`` on a state trains to the same
        weights and the same evaluator accuracy as ignite's ``create_supervised_*``."""
        from ignite.engine import (
            create_supervised_evaluator,
            create_supervised_trainer,
            supervised_evaluation_step,
            supervised_training_step,
        )
        from ignite.metrics import Accuracy
        from torch import nn

        gen = torch.Generator().manual_seed(0)
        x, y = torch.randn(40, 4, generator=gen), torch.randint(0, 3, (40,), generator=gen)
        batches = [(x[i : i + 8], y[i : i + 8]) for i in range(0, 40, 8)]

        def setup() -> tuple[nn.Module, torch.optim.Optimizer]:
            torch.manual_seed(1)
            model = nn.Linear(4, 3)
            return model, torch.optim.SGD(model.parameters(), lr=0.1)

        results = []
        for ours in (False, True):
            model, optimizer = setup()
            loss = nn.CrossEntropyLoss()
            if ours:
                state = State()
                trainer = IgniteEngine(
                    supervised_training_step(model, optimizer, loss), state=state, name="trainer"
                )
                evaluator = IgniteEngine(supervised_evaluation_step(model), state=state, name="val")
                Accuracy().attach(evaluator, "accuracy")
            else:
                trainer = create_supervised_trainer(model, optimizer, loss)
                evaluator = create_supervised_evaluator(model, metrics={"accuracy": Accuracy()})
            trainer.add_event_handler(
                Events.EPOCH_COMPLETED, lambda e, ev=evaluator: ev.run(batches)
            )
            trainer.run(batches, max_epochs=3)
            results.append((model.weight.detach().clone(), evaluator.state.metrics["accuracy"]))
        assert torch.equal(results[0][0], results[1][0])
        assert results[0][1] == results[1][1]
        assert state.metrics.val_accuracy == results[1][1]
        assert (state.trainer.n_epoch_completed, state.val.n_run_completed) == (3, 3)


class TestReviewedEdges:
    @pytest.mark.parametrize("cls", [PlainEngine, IgniteEngine])
    def test_a_handler_raising_another_exception_is_called_once(self, cls: Any) -> None:
        engine = cls(echo)
        calls: list[str] = []

        @engine.on(Events.STARTED)
        def bad(e: Any) -> None:
            raise ValueError("boom")

        @engine.on(Events.EXCEPTION_RAISED)
        def wrap(e: Any, exc: BaseException) -> None:
            calls.append(type(exc).__name__)
            raise RuntimeError("wrapped") from exc

        with pytest.raises(RuntimeError, match="wrapped"):
            engine.run([1, 2])
        assert calls == ["ValueError"]
        if cls is IgniteEngine:
            assert isinstance(engine.statefire_engine.exception, RuntimeError)

    def test_metrics_copy_deepcopy_pickle_and_or_give_dicts_in_written_order(self) -> None:
        import copy
        import pickle

        engine = IgniteEngine(echo)
        engine.state.metrics["d"] = 1.0
        engine.state.metrics["top-5"] = 0.5
        engine.state.metrics["a"] = 2.0
        expected = {"d": 1.0, "top-5": 0.5, "a": 2.0}
        assert list(engine.state.metrics) == ["d", "top-5", "a"]
        assert engine.state.metrics.copy() == expected
        assert copy.deepcopy(engine.state.metrics) == expected
        assert pickle.loads(pickle.dumps(engine.state.metrics)) == expected
        assert engine.state.metrics | {"z": 0} == {**expected, "z": 0}
        assert {"z": 0} | engine.state.metrics == {"z": 0, **expected}

    def test_a_metric_variable_of_another_engine_is_not_shared(self) -> None:
        from ignite.metrics import Average

        state = State()
        first = IgniteEngine(lambda e, b: float(b), state=state, name="a")
        second = IgniteEngine(lambda e, b: float(b) * 100, state=state, name="a_b")
        Average().attach(first, "b_c")
        with pytest.warns(UserWarning, match=r"metrics\.a_b_c, which a metric of engines\.a"):
            Average().attach(second, "c")
        first.run([1.0, 3.0])
        second.run([1.0, 3.0])
        assert dict(first.state.metrics) == {"b_c": 2.0}
        assert dict(second.state.metrics) == {"c": 200.0}
        assert state.metrics.a_b_c == 2.0

    def test_a_metric_named_like_a_ref_stays_in_the_mapping(self) -> None:
        from ignite.metrics import Average

        engine = IgniteEngine(lambda e, b: float(b))
        Average().attach(engine, "loss_ref")
        engine.run([1.0, 3.0])
        assert dict(engine.state.metrics) == {"loss_ref": 2.0}

    def test_assigning_a_dict_to_metrics_keeps_them_variables(self) -> None:
        engine = IgniteEngine(echo)
        seen: list[Any] = []
        engine.state.metrics["avg"] = 1.0
        engine.statefire_engine.state.metrics.engine_avg_ref.subscribe(
            lambda event: seen.append(event.new)
        )
        engine.state.metrics = {"avg": 6.0}
        assert dict(engine.state.metrics) == {"avg": 6.0}
        assert engine.statefire_engine.state.metrics.engine_avg == 6.0
        assert seen == [6.0]


def test_a_metric_nodes_variable_of_another_engine_is_not_overwritten() -> None:
    """engine ``a``'s statefire Metric ``b_c`` is metrics.a_b_c: an ignite metric ``c`` of an
    IgniteEngine ``a_b`` on the same state stays in its mapping, with a warning."""
    from ignite.metrics import Average

    from nodes import Engine, Metric

    state = State()
    a = Engine(state, "a", lambda e, b: float(b), [1.0, 2.0])
    Metric(a, Average(), "b_c")
    ab = IgniteEngine(lambda e, b: float(b) * 10, state=state, name="a_b")
    with pytest.warns(UserWarning, match=r"metrics\.a_b_c, which a metric of engines\.a "):
        Average().attach(ab, "c")
    a.run()
    ab.run([1.0, 3.0])
    assert state.metrics.a_b_c == 1.5
    assert dict(ab.state.metrics) == {"c": 20.0}


def test_reattaching_with_another_usage_changes_the_tag_kind() -> None:
    """A metric attached per epoch, then detached and attached batch-wise: per iteration."""
    from ignite.metrics import Average
    from ignite.metrics.metric import BatchWise

    engine = IgniteEngine(lambda e, b: float(b))
    average = Average()
    average.attach(engine, "avg")
    assert "engine_avg" not in engine.state.metrics.per_iteration
    average.detach(engine)
    average.attach(engine, "avg", usage=BatchWise())
    assert "engine_avg" in engine.state.metrics.per_iteration


class TestLiveHandlerLists:
    """ignite's handler lists of an IgniteEngine are its subscriptions, however changed."""

    @staticmethod
    def _scenario(cls: Any) -> list[tuple[str, int]]:
        import weakref

        engine = cls(echo)
        log: list[tuple[str, int]] = []

        def a(e: Any) -> None:
            log.append(("a", e.state.iteration))
            if e.state.iteration == 2:  # removes itself while its event fires
                e.remove_event_handler(a, Events.ITERATION_COMPLETED)

        def b(e: Any) -> None:
            log.append(("b", e.state.iteration))

        def c(e: Any) -> None:
            log.append(("c", e.state.iteration))

        def insert_first(e: Any) -> None:  # by hand, as ignite's profilers do
            if e.state.iteration == 1:
                entry = (c, (weakref.ref(e),), {})
                e._event_handlers[Events.ITERATION_COMPLETED].insert(0, entry)

        engine.add_event_handler(Events.ITERATION_COMPLETED, a)
        engine.add_event_handler(Events.ITERATION_COMPLETED, b)
        engine.add_event_handler(Events.ITERATION_STARTED, insert_first)
        engine.run([1, 2, 3])
        return log

    def test_removed_and_inserted_entries_fire_as_in_ignite(self) -> None:
        expected = self._scenario(PlainEngine)
        assert self._scenario(IgniteEngine) == expected
        assert ("b", 2) in expected and expected[0] == ("c", 1)

    def test_an_entry_appended_by_hand_is_a_subscription(self) -> None:
        import weakref

        engine = IgniteEngine(echo)
        calls: list[int] = []

        def by_hand(e: Any) -> None:
            calls.append(e.state.iteration)

        engine._event_handlers[Events.ITERATION_COMPLETED].append(
            (by_hand, (weakref.ref(engine),), {})
        )
        engine.run([1, 2])
        assert calls == [1, 2]
        subscribers = engine.statefire_engine.state.subscribers_of("engine.n_iteration_completed")
        assert any(
            s.startswith("TestLiveHandlerLists.test_an_entry_appended_by_hand") for s in subscribers
        )

    @pytest.mark.parametrize("cls", [PlainEngine, IgniteEngine])
    def test_entries_reordered_or_deleted_by_hand_follow(self, cls: Any) -> None:
        """reverse() puts the subscriptions in the new order; del drops an event's handlers."""
        engine = cls(echo)
        log: list[str] = []
        engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: log.append("first"))
        engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: log.append("second"))
        engine.add_event_handler(Events.EPOCH_COMPLETED, lambda e: log.append("epoch"))
        engine._event_handlers[Events.ITERATION_COMPLETED].reverse()
        del engine._event_handlers[Events.EPOCH_COMPLETED]
        engine.run([1])
        assert log == ["second", "first"]

    @pytest.mark.parametrize("profiler", ["BasicTimeProfiler", "HandlersTimeProfiler"])
    def test_ignites_profilers_report_as_on_ignite(self, profiler: str) -> None:
        import ignite.handlers

        def report(cls: Any) -> Any:
            engine = cls(echo)
            engine.add_event_handler(Events.ITERATION_COMPLETED, lambda e: None)
            timer = getattr(ignite.handlers, profiler)()
            timer.attach(engine)
            engine.run(list(range(10)), max_epochs=2)
            return timer.get_results()

        theirs, ours = report(PlainEngine), report(IgniteEngine)
        if profiler == "BasicTimeProfiler":
            assert ours.keys() == theirs.keys()
            assert ours["processing_stats"].keys() == theirs["processing_stats"].keys()
            assert ours["processing_stats"]["total"] > 0
            events = ours["event_handlers_stats"]
            assert events.keys() == theirs["event_handlers_stats"].keys()
        else:  # rows: one per handler, then Total, Processing, Dataflow
            assert [row[:2] for row in ours] == [row[:2] for row in theirs]
            assert ours[-2][0] == "Processing" and ours[-2][2] != "not triggered"


class TestChangesWhileAnEventFires:
    """Handlers of an event changed while that event fires take effect at its next firing
    (statefire notifies the subscribers a firing started with); ignite follows its live
    list. docs/from-ignite.md lists this difference."""

    @staticmethod
    def _log(cls: Any, change: str) -> list[tuple[str, int]]:
        engine = cls(echo)
        log: list[tuple[str, int]] = []

        def later(e: Any) -> None:
            log.append(("later", e.state.iteration))

        def first(e: Any) -> None:
            log.append(("first", e.state.iteration))
            if e.state.iteration == 1 and change == "remove":
                e.remove_event_handler(later, Events.ITERATION_COMPLETED)
            if e.state.iteration == 1 and change == "add":
                e.add_event_handler(Events.ITERATION_COMPLETED, later)

        engine.add_event_handler(Events.ITERATION_COMPLETED, first)
        if change == "remove":
            engine.add_event_handler(Events.ITERATION_COMPLETED, later)
        engine.run([0, 0])
        return log

    def test_a_later_handler_removed_is_not_called_in_that_firing(self) -> None:
        assert self._log(PlainEngine, "remove") == [("first", 1), ("later", 1), ("first", 2)]
        assert self._log(IgniteEngine, "remove") == [("first", 1), ("first", 2)]

    def test_a_handler_added_is_first_called_at_the_next_firing(self) -> None:
        expected = [("first", 1), ("later", 1), ("first", 2), ("later", 2)]
        assert self._log(PlainEngine, "add") == expected
        assert self._log(IgniteEngine, "add") == [("first", 1), ("first", 2), ("later", 2)]

    def test_an_entry_put_by_hand_before_its_event_is_registered(self) -> None:
        import weakref

        engine = IgniteEngine(echo)
        calls: list[int] = []
        engine._event_handlers["custom"].append(
            (lambda e: calls.append(e.state.iteration), (weakref.ref(engine),), {})
        )
        engine.register_events("custom")
        engine.fire_event("custom")
        assert calls == [0]
