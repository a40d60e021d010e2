"""``engine.ignite``: ignite's handlers, metrics and filters on statefire engines, compared
with the same handlers on ignite's own engines (same values, files, stopping epoch, counts)."""

from __future__ import annotations

import io
import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from ignite.engine import Engine as IgniteEngine
from ignite.engine import EventEnum, Events
from torch import nn

from nodes import Engine
from pipeline import State
from tests.nodes.ignite_pairs import Pair, both, same_weights, statefire_pair

FILTERS = {
    "plain": lambda e: e,
    "every2": lambda e: e(every=2),
    "once3": lambda e: e(once=3),
    "once_list": lambda e: e(once=[1, 4]),
    "before5": lambda e: e(before=5),
    "after2": lambda e: e(after=2),
    "every2_after3": lambda e: e(every=2, after=3),
    "event_filter": lambda e: e(event_filter=lambda engine, value: value in (2, 3, 7)),
}
EVENTS = [
    "STARTED",
    "EPOCH_STARTED",
    "GET_BATCH_STARTED",
    "GET_BATCH_COMPLETED",
    "ITERATION_STARTED",
    "ITERATION_COMPLETED",
    "EPOCH_COMPLETED",
    "COMPLETED",
]


class TestEvents:
    """Events, filters and the state fire as on an ignite Engine."""

    def test_is_an_ignite_engine(self) -> None:
        """engine.ignite passes isinstance checks and is made once."""
        pair = statefire_pair()
        assert isinstance(pair.trainer, IgniteEngine)
        assert pair.trainer.engine.ignite is pair.trainer

    def test_counts_under_every_filter(self) -> None:
        """Each event under each filter fires as often, with the same epoch and iteration."""

        def attach(pair: Pair) -> list[tuple[str, str, int, int]]:
            log: list[tuple[str, str, int, int]] = []
            for event in EVENTS:
                for label, make in FILTERS.items():

                    def record(engine: Any, event: str = event, label: str = label) -> None:
                        log.append((event, label, engine.state.epoch, engine.state.iteration))

                    pair.trainer.add_event_handler(make(getattr(Events, event)), record)
            return log

        (_, ours), (_, theirs) = both(attach, max_epochs=3)
        # GET_BATCH_* fire after ITERATION_STARTED here: state.iteration is one more.
        batch = ("GET_BATCH_STARTED", "GET_BATCH_COMPLETED")
        shifted = [(e, f, ep, it - (e in batch)) for e, f, ep, it in ours]
        assert Counter(shifted) == Counter(theirs)
        assert len(ours) > 100
        assert [r for r in ours if r[0] not in batch] == [r for r in theirs if r[0] not in batch]

    def test_events_list(self) -> None:
        """`|` attaches one handler to several events, each with its filter."""

        def attach(pair: Pair) -> list[tuple[int, int]]:
            log: list[tuple[int, int]] = []
            events = (
                Events.EPOCH_COMPLETED(once=2)
                | Events.ITERATION_COMPLETED(every=4)
                | Events.COMPLETED
            )
            pair.trainer.add_event_handler(
                events, lambda engine: log.append((engine.state.epoch, engine.state.iteration))
            )
            return log

        (_, ours), (_, theirs) = both(attach)
        assert ours == theirs == [(2, 4), (2, 6), (3, 8), (3, 9)]

    def test_state_mirrors_the_variables(self) -> None:
        """state.* reads the engine's variables at each event, as ignite's state holds them."""
        keys = ("epoch", "iteration", "max_epochs", "epoch_length")

        def attach(pair: Pair) -> list[Any]:
            seen: list[Any] = []
            for event in (Events.STARTED, Events.ITERATION_COMPLETED, Events.COMPLETED):
                pair.trainer.add_event_handler(
                    event,
                    lambda engine: seen.append(
                        [getattr(engine.state, k) for k in keys]
                        + [
                            float(engine.state.output) if engine.state.output is not None else None,
                            engine.state.batch[0].shape if engine.state.batch else None,
                            engine.state.dataloader is pair.train_data,
                            sorted(engine.state.times),
                        ]
                    ),
                )
            return seen

        (_, ours), (_, theirs) = both(attach, max_epochs=2)
        assert ours[1:] == theirs[1:]  # at STARTED ignite's output/batch are still None
        assert ours[0][:4] == theirs[0][:4] == [0, 0, 2, 3]

    def test_handler_in_graph_and_trace(self) -> None:
        """A handler is a subscription of the variable, shown under its own name."""
        pair = statefire_pair()

        def log_loss(engine: Any) -> None:
            engine.state.metrics["seen"] = engine.state.iteration

        pair.trainer.add_event_handler(Events.ITERATION_COMPLETED(every=2), log_loss)
        assert pair.state is not None
        subscribers = pair.state.subscribers_of("engines.trainer.n_iteration_completed")
        assert any(
            s.startswith("TestEvents.test_handler_in_graph_and_trace.log_loss") for s in subscribers
        )
        explained = str(
            pair.state.graph.edges["engines.trainer.n_iteration_completed", subscribers[0]]
        )
        assert "every=2" in explained
        with pair.state.trace() as trace:
            pair.run(1)
        assert (
            "metrics.trainer_seen: None -> 2  by TestEvents.test_handler_in_graph_and_trace.log_loss"
            in str(trace)
        )

    def test_nothing_attached_subscribes_nothing(self) -> None:
        """Reading engine.ignite (and its state) adds no subscription: no cost."""
        pair = statefire_pair()
        assert pair.state is not None
        before = {
            path: pair.state.subscribers_of(path)
            for path in ("engines.trainer.n_iteration_completed", "engines.trainer.batch")
        }
        _ = pair.trainer.state.iteration, dict(pair.trainer.state.metrics)
        after = {path: pair.state.subscribers_of(path) for path in before}
        assert before == after

    def test_remove_and_has_event_handler(self) -> None:
        """remove_event_handler, has_event_handler and the returned handle detach as in ignite."""
        pair = statefire_pair()
        calls: list[int] = []

        def count(engine: Any) -> None:
            calls.append(engine.state.iteration)

        handle = pair.trainer.add_event_handler(Events.ITERATION_COMPLETED, count)
        assert pair.trainer.has_event_handler(count)
        assert pair.trainer.has_event_handler(count, Events.ITERATION_COMPLETED)
        assert not pair.trainer.has_event_handler(count, Events.EPOCH_COMPLETED)
        pair.run(1)
        handle.remove()
        assert not pair.trainer.has_event_handler(count)
        pair.trainer.add_event_handler(Events.ITERATION_COMPLETED, count)
        pair.trainer.remove_event_handler(count, Events.ITERATION_COMPLETED)
        pair.run(1)
        assert calls == [1, 2, 3]
        with pytest.raises(ValueError, match="is not attached to"):
            pair.trainer.remove_event_handler(count, Events.ITERATION_COMPLETED)

    def test_exception_raised(self) -> None:
        """EXCEPTION_RAISED handlers get (engine, exception); the exception still propagates."""
        state = State()

        def fail(engine: Engine, batch: Any) -> None:
            if batch == 2:
                raise KeyError("boom")

        engine = Engine(state, "e", fail, [1, 2, 3])
        seen: list[Any] = []
        engine.ignite.add_event_handler(
            Events.EXCEPTION_RAISED, lambda e, exc: seen.append((e.state.iteration, exc))
        )
        with pytest.raises(KeyError, match="boom"):
            engine.run()
        assert len(seen) == 1 and seen[0][0] == 2 and isinstance(seen[0][1], KeyError)

    def test_face_run_lets_a_returning_handler_take_the_exception(self) -> None:
        """Run through the face, as in ignite: EXCEPTION_RAISED handlers that return take the
        exception (run returns); one that re-raises lets it out; without one it propagates."""

        def fail(engine: Engine, batch: Any) -> None:
            if batch == 2:
                raise KeyError("boom")

        def make(handler: Any) -> Engine:
            engine = Engine(State(), "e", fail, [1, 2, 3])
            if handler is not None:
                engine.ignite.add_event_handler(Events.EXCEPTION_RAISED, handler)
            return engine

        seen: list[Any] = []
        engine = make(lambda e, exc: seen.append(type(exc).__name__))
        state = engine.ignite.run()
        assert seen == ["KeyError"] and state.iteration == 2
        assert isinstance(engine.exception, KeyError) and engine.n_run_completed == 0

        def reraise(e: Any, exc: BaseException) -> None:
            raise exc

        for handler in (reraise, None):
            with pytest.raises(KeyError, match="boom"):
                make(handler).ignite.run()

    def test_terminate_and_terminate_epoch(self) -> None:
        """terminate() and terminate_epoch() on the face stop the statefire engine as in ignite."""

        def attach(pair: Pair) -> list[tuple[str, int, int]]:
            log: list[tuple[str, int, int]] = []
            pair.trainer.add_event_handler(
                Events.ITERATION_COMPLETED(once=2), lambda engine: engine.terminate_epoch()
            )
            pair.trainer.add_event_handler(
                Events.ITERATION_COMPLETED(once=7), lambda engine: engine.terminate()
            )
            for event in (Events.EPOCH_COMPLETED, Events.COMPLETED, Events.TERMINATE):
                pair.trainer.add_event_handler(
                    event,
                    lambda engine, name=event.name: log.append(
                        (name, engine.state.epoch, engine.state.iteration)
                    ),
                )
            return log

        (ours_pair, ours), (theirs_pair, theirs) = both(attach, max_epochs=5)
        assert [r for r in ours if r[0] != "TERMINATE"] == [
            r for r in theirs if r[0] != "TERMINATE"
        ]
        assert (
            [r[0] for r in ours].count("TERMINATE")
            == [r[0] for r in theirs].count("TERMINATE")
            == 1
        )
        assert same_weights(ours_pair.model, theirs_pair.model)

    def test_custom_events(self) -> None:
        """register_events/fire_event: each custom event is a counter variable; filters count it."""

        class Custom(EventEnum):
            FOO = "foo"

        pair = statefire_pair()
        assert pair.state is not None
        pair.trainer.register_events(*Custom, "bar_event")
        fired: list[str] = []
        pair.trainer.add_event_handler(Custom.FOO(every=2), lambda: fired.append("foo"))
        pair.trainer.add_event_handler("bar_event", lambda engine: fired.append("bar"))
        pair.trainer.add_event_handler(
            Events.ITERATION_COMPLETED, lambda engine: engine.fire_event(Custom.FOO)
        )
        pair.trainer.add_event_handler(
            Events.EPOCH_COMPLETED, lambda engine: engine.fire_event("bar_event")
        )
        pair.run(2)
        assert pair.state.events.trainer_foo == 6
        assert pair.state.events.trainer_bar_event == 2
        assert fired == ["foo", "bar", "foo", "foo", "bar"]
        assert pair.state.subscribers_of("events.trainer_foo")


class TestMetrics:
    """Metrics written either way appear in both places."""

    def test_statefire_metric_in_face_state(self) -> None:
        """A statefire Metric's value is also engine.ignite.state.metrics[name]."""
        pair = statefire_pair()
        pair.run(1)
        assert pair.state is not None
        assert pair.evaluator.state.metrics["acc"] == pair.state.metrics.val_acc
        assert dict(pair.evaluator.state.metrics) == {"acc": pair.state.metrics.val_acc}

    def test_accuracy_attach(self) -> None:
        """Accuracy().attach(evaluator.ignite, name) gives state.metrics.val_<name>, as ignite's."""
        from ignite.metrics import Accuracy

        def attach(pair: Pair) -> list[float]:
            Accuracy().attach(pair.evaluator, "acc2")
            values: list[float] = []
            pair.evaluator.add_event_handler(
                Events.COMPLETED, lambda engine: values.append(engine.state.metrics["acc2"])
            )
            return values

        (ours_pair, ours), (_, theirs) = both(attach)
        assert ours == theirs and len(ours) == 3
        assert ours_pair.state is not None
        assert ours_pair.state.metrics.val_acc2 == ours[-1]

    def test_running_average_default(self) -> None:
        """RunningAverage attached with its ignite default updates every iteration, as ignite's."""
        from ignite.metrics import RunningAverage

        def attach(pair: Pair) -> list[float]:
            RunningAverage(output_transform=lambda loss: loss).attach(pair.trainer, "loss")
            values: list[float] = []
            pair.trainer.add_event_handler(
                Events.ITERATION_COMPLETED,
                lambda engine: values.append(engine.state.metrics["loss"]),
            )
            return values

        (ours_pair, ours), (_, theirs) = both(attach)
        assert ours == theirs and len(ours) == 9
        assert ours_pair.state is not None and ours_pair.state.metrics.trainer_loss == ours[-1]


class TestHandlers:
    """ignite's handlers attached unchanged do what they do on an ignite Engine."""

    def test_model_checkpoint_with_score(self, tmp_path: Path) -> None:
        """ModelCheckpoint on an evaluator metric writes the same files with the same weights."""
        from ignite.handlers import ModelCheckpoint
        from ignite.handlers.checkpoint import CheckpointEvents

        def attach(pair: Pair) -> Path:
            side = tmp_path / ("ours" if pair.state is not None else "theirs")
            handler = ModelCheckpoint(
                side,
                "best",
                n_saved=2,
                score_function=lambda engine: engine.state.metrics["acc"],
                score_name="acc",
                global_step_transform=lambda engine, event: pair.trainer.state.epoch,
            )
            pair.evaluator.add_event_handler(Events.COMPLETED, handler, {"model": pair.model})
            pair.evaluator.register_events(*CheckpointEvents)
            saves: list[int] = []
            pair.evaluator.add_event_handler(
                CheckpointEvents.SAVED_CHECKPOINT, lambda: saves.append(pair.trainer.state.epoch)
            )
            return side, saves

        (ours_pair, (ours, our_saves)), (_, (theirs, their_saves)) = both(attach, max_epochs=4)
        files = sorted(p.name for p in ours.iterdir())
        assert files == sorted(p.name for p in theirs.iterdir()) and len(files) == 2
        for name in files:
            a = torch.load(ours / name, weights_only=True)
            b = torch.load(theirs / name, weights_only=True)
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
        # its SAVED_CHECKPOINT custom event is a variable of the state, fired as often
        assert ours_pair.state is not None
        assert our_saves == their_saves and len(our_saves) >= 2
        assert ours_pair.state.events.val_saved_checkpoint == len(our_saves)

    def test_early_stopping_stops_the_statefire_trainer(self) -> None:
        """ignite's EarlyStopping on an evaluator stops the trainer at the same epoch."""
        from ignite.handlers import EarlyStopping

        def attach(pair: Pair) -> EarlyStopping:
            handler = EarlyStopping(
                patience=1,
                score_function=lambda engine: -engine.state.metrics["acc"],
                trainer=pair.trainer,
            )
            pair.evaluator.add_event_handler(Events.COMPLETED, handler)
            return handler

        (ours_pair, ours), (theirs_pair, theirs) = both(attach, max_epochs=20)
        assert ours_pair.trainer.state.epoch == theirs_pair.trainer.state.epoch < 20
        assert ours.counter == theirs.counter
        assert same_weights(ours_pair.model, theirs_pair.model)

    def test_stateful_handler_saved_with_the_state(self) -> None:
        """A handler with a state_dict is saved and restored with the statefire state."""
        from ignite.handlers import EarlyStopping

        def make() -> tuple[Pair, EarlyStopping]:
            pair = statefire_pair()
            handler = EarlyStopping(
                patience=5,
                score_function=lambda engine: -engine.state.metrics["acc"],
                trainer=pair.trainer,
            )
            pair.evaluator.add_event_handler(Events.COMPLETED, handler)
            return pair, handler

        pair, handler = make()
        pair.run(3)
        assert pair.state is not None
        saved = pair.state.state_dict()
        assert saved["nodes"]["handlers.val_ignite"]["EarlyStopping"] == dict(handler.state_dict())
        fresh, fresh_handler = make()
        assert fresh.state is not None
        fresh.state.load_state_dict(saved)
        assert (fresh_handler.counter, fresh_handler.best_score) == (
            handler.counter,
            handler.best_score,
        )

    def test_metrics_saved_with_the_state(self) -> None:
        """ignite metrics attached to the face save their accumulators; one that cannot is left out."""
        from ignite.metrics import Accuracy, RunningAverage

        pair = statefire_pair()
        Accuracy().attach(pair.evaluator, "acc2")
        RunningAverage(output_transform=lambda loss: loss).attach(pair.trainer, "loss")
        pair.run(1)
        assert pair.state is not None
        nodes = pair.state.state_dict()["nodes"]
        saved = nodes["handlers.val_ignite"]["Accuracy"]["__metric_state_per_rank"]
        assert saved[0]["_num_examples"] == 48
        assert list(nodes["handlers.trainer_ignite"]) == ["RunningAverage"]

    def test_fresh_state_loads_strictly(self, tmp_path: Path) -> None:
        """What the face creates while running (metric values, custom event counters) is not
        saved, so the same script's fresh state loads the state dict strictly."""
        from ignite.handlers import ModelCheckpoint
        from ignite.metrics import Accuracy

        def make() -> Pair:
            pair = statefire_pair()
            Accuracy().attach(pair.evaluator, "acc2")
            pair.evaluator.add_event_handler(
                Events.COMPLETED,
                ModelCheckpoint(
                    tmp_path,
                    "m",
                    n_saved=None,
                    require_empty=False,
                    global_step_transform=lambda engine, event: pair.trainer.state.epoch,
                ),
                {"model": pair.model},
            )
            return pair

        pair = make()
        pair.run(2)
        assert pair.state is not None
        assert pair.state.events.val_saved_checkpoint == 2
        saved = pair.state.state_dict()
        fresh = make()
        assert fresh.state is not None
        fresh.state.load_state_dict(saved)  # strict
        fresh.run(3)
        assert fresh.trainer.state.epoch == 3
        assert sorted(p.name for p in tmp_path.iterdir()) == [f"m_model_{i}.pt" for i in (1, 2, 3)]

    def test_handler_that_cannot_save_is_left_out(self) -> None:
        """A handler whose state_dict() raises NotImplementedError does not break state_dict()."""

        class Opaque:
            def __call__(self, engine: Any) -> None:
                pass

            def state_dict(self) -> dict[str, Any]:
                raise NotImplementedError

            def load_state_dict(self, state_dict: dict[str, Any]) -> None:
                pass

        pair = statefire_pair()
        pair.trainer.add_event_handler(Events.EPOCH_COMPLETED, Opaque())
        assert pair.state is not None
        assert "handlers.trainer_ignite" not in pair.state.state_dict()["nodes"]

    @staticmethod
    def _counting(saved: Callable[[Any], dict[str, Any]]) -> tuple[State, Engine, Any]:
        """An engine with one face handler whose state_dict() returns ``saved(handler)``."""

        class Counting:
            def __init__(self) -> None:
                self.n = 0

            def __call__(self, engine: Any) -> None:
                self.n += 1

            def state_dict(self) -> dict[str, Any]:
                return saved(self)

            def load_state_dict(self, state_dict: dict[str, Any]) -> None:
                self.n = state_dict["n"]

        state = State()
        engine = Engine(state, "t", lambda e, b: b, [1, 2, 3])
        handler = Counting()
        engine.ignite.add_event_handler(Events.ITERATION_COMPLETED, handler)
        return state, engine, handler

    def test_a_bug_in_a_handlers_state_dict_is_warned_about(self) -> None:
        """An error other than NotImplementedError inside state_dict() is not silent."""
        state, engine, _ = self._counting(lambda h: {"n": h.missing})
        engine.run()
        with pytest.warns(
            RuntimeWarning,
            match=r"handlers.t_ignite: Counting.state_dict\(\) raised AttributeError: .*'missing'",
        ):
            nodes = state.state_dict()["nodes"]
        assert "handlers.t_ignite" not in nodes

    def test_a_handler_state_a_safe_load_cannot_read_is_refused_at_save(self) -> None:
        """The handler class and the key are named when the state dict is built."""
        state, engine, _ = self._counting(lambda h: {"n": h.n, "obj": object()})
        engine.run()
        with pytest.raises(TypeError, match=r"Counting.state_dict\(\)\['obj'\] is <object>"):
            state.state_dict()

    def test_numpy_numbers_and_mappings_in_a_handler_state_are_saved_as_plain_data(self) -> None:
        """NumPy scalars become Python numbers, mappings dicts: the file loads weights_only."""
        from collections import OrderedDict

        import numpy as np

        state, engine, _ = self._counting(
            lambda h: {"n": np.int64(h.n), "best": OrderedDict(score=np.float32(0.5))}
        )
        engine.run()
        buffer = io.BytesIO()
        torch.save(state.state_dict(), buffer)
        buffer.seek(0)
        saved = torch.load(buffer, weights_only=True)["nodes"]["handlers.t_ignite"]["Counting"]
        assert saved == {"n": 3, "best": {"score": 0.5}}
        assert type(saved["n"]) is int and type(saved["best"]["score"]) is float

    def test_loading_without_an_attached_handlers_state_warns(self) -> None:
        """An attached stateful handler with no saved entry keeps its state, with a warning."""
        state, engine, handler = self._counting(lambda h: {"n": h.n})
        engine.run()
        saved = state.state_dict()
        saved["nodes"]["handlers.t_ignite"] = {}
        with pytest.warns(
            RuntimeWarning, match=r"attached handlers \['Counting'\] have no saved state"
        ):
            state.load_state_dict(saved)
        assert handler.n == 3

    def test_timer(self) -> None:
        """Timer counts the same steps and measures time through the face."""
        from ignite.handlers import Timer

        def attach(pair: Pair) -> Timer:
            return Timer(average=True).attach(
                pair.trainer,
                start=Events.STARTED,
                resume=Events.ITERATION_STARTED,
                pause=Events.ITERATION_COMPLETED,
                step=Events.ITERATION_COMPLETED,
            )

        (_, ours), (_, theirs) = both(attach)
        assert ours.step_count == theirs.step_count == 9
        assert 0 < ours.value() < 1

    def test_progress_bar(self) -> None:
        """ignite's ProgressBar shows the same epochs and counts."""
        from ignite.handlers import ProgressBar

        def attach(pair: Pair) -> io.StringIO:
            out = io.StringIO()
            ProgressBar(file=out, persist=True).attach(
                pair.trainer, output_transform=lambda loss: {"loss": loss}
            )
            return out

        (_, ours), (_, theirs) = both(attach)

        def shown(text: str) -> list[str]:
            return re.findall(r"Epoch \[\d/3\]: \[\d/3\]", text)

        assert shown(ours.getvalue()) == shown(theirs.getvalue())
        assert "Epoch [3/3]: [3/3]" in shown(ours.getvalue())

    def test_terminate_on_nan(self) -> None:
        """TerminateOnNan stops the statefire trainer at the first non-finite loss, as ignite's."""
        from ignite.handlers import TerminateOnNan

        calls = {"n": 0}

        def loss_fn(y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            calls["n"] += 1
            loss = nn.functional.cross_entropy(y_pred, y)
            return loss * float("nan") if calls["n"] % 100 == 5 else loss

        def attach(pair: Pair) -> None:
            calls["n"] = 0
            pair.trainer.add_event_handler(Events.ITERATION_COMPLETED, TerminateOnNan())

        (ours_pair, _), (theirs_pair, _) = both(attach, max_epochs=5, loss_fn=loss_fn)
        assert ours_pair.trainer.state.iteration == theirs_pair.trainer.state.iteration == 5

    def test_param_scheduler_with_history(self) -> None:
        """A ParamScheduler with save_history writes the same history and learning rates."""
        from ignite.handlers import LinearCyclicalScheduler

        def attach(pair: Pair) -> list[float]:
            scheduler = LinearCyclicalScheduler(
                pair.optimizer, "lr", 0.01, 0.1, cycle_size=4, save_history=True
            )
            pair.trainer.add_event_handler(Events.ITERATION_STARTED, scheduler)
            lrs: list[float] = []
            pair.trainer.add_event_handler(
                Events.ITERATION_COMPLETED, lambda: lrs.append(pair.optimizer.param_groups[0]["lr"])
            )
            return lrs

        (ours_pair, ours), (theirs_pair, theirs) = both(attach)
        assert ours == theirs and len(set(ours)) > 2
        assert ours_pair.trainer.state.param_history == theirs_pair.trainer.state.param_history
        assert same_weights(ours_pair.model, theirs_pair.model)

    def test_fastai_lr_finder(self) -> None:
        """FastaiLRFinder finds the same learning rates and losses, and restores the model."""
        from ignite.handlers import FastaiLRFinder

        def attach(pair: Pair) -> tuple[dict[str, list[float]], dict[str, torch.Tensor]]:
            finder = FastaiLRFinder()
            start = {k: v.clone() for k, v in pair.model.state_dict().items()}
            to_save = {"model": pair.model, "optimizer": pair.optimizer}
            with finder.attach(pair.trainer, to_save, num_iter=6, end_lr=10.0) as with_finder:
                with_finder.run(pair.train_data, max_epochs=3)
            return finder.get_results(), start

        ours_pair = statefire_pair()
        ours, ours_start = attach(ours_pair)
        from tests.nodes.ignite_pairs import ignite_pair

        theirs_pair = ignite_pair()
        theirs, _ = attach(theirs_pair)
        assert (
            ours["lr"] == theirs["lr"] and len(ours["lr"]) == 7
        )  # ignite stops after num_iter + 1
        assert ours["loss"] == pytest.approx(theirs["loss"], rel=0, abs=0)
        assert all(torch.equal(v, ours_start[k]) for k, v in ours_pair.model.state_dict().items())


class TestMessages:
    """ignite habits on statefire objects get a message saying where to go."""

    @pytest.fixture
    def engine(self) -> Engine:
        return Engine(State(), "trainer", lambda engine, batch: batch, [1, 2, 3])

    def test_run_with_data(self, engine: Engine) -> None:
        """trainer.run(loader), the ignite habit, says where the data goes."""
        with pytest.raises(TypeError, match=r"run\(\) takes no data.*set_dataloader.*ignite\.run"):
            engine.run([4, 5])  # type: ignore[arg-type]

    def test_face_run_with_data(self, engine: Engine) -> None:
        """engine.ignite.run(data, max_epochs) runs the statefire engine on that data."""
        seen: list[int] = []
        engine.output_ref.subscribe(lambda event: seen.append(event.new))
        state = engine.ignite.run([4, 5], max_epochs=2)
        assert seen == [4, 5, 4, 5] and state.epoch == 2 and engine.n_epoch_completed == 2
        with pytest.raises(
            TypeError, match=r"takes data, max_epochs and epoch_length; got \['max_iters'\]"
        ):
            engine.ignite.run([4, 5], max_iters=3)

    def test_state_times_cannot_be_replaced(self, engine: Engine) -> None:
        """Assigning state.times is refused (it reads the engine's variables), not ignored."""
        engine.run()
        with pytest.raises(AttributeError, match=r"trainer\.ignite\.state\.times is read from"):
            engine.ignite.state.times = {"COMPLETED": 1.0}
        assert engine.ignite.state.times["COMPLETED"] == engine.run_time

    def test_deleting_a_metric_not_written_there_lists_the_names_held(self, engine: Engine) -> None:
        """del state.metrics[name] of an unknown name lists the names that can be deleted."""
        metrics = engine.ignite.state.metrics
        metrics["acc"] = 0.5
        metrics["top-5"] = 0.9
        with pytest.raises(KeyError, match=r"'ac' was not written .* \['acc', 'top-5'\].*'acc'"):
            del metrics["ac"]
        del metrics["acc"]
        assert list(metrics) == ["top-5"]  # the variable stays, the name is forgotten

    def test_add_event_handler_on_a_statefire_engine(self, engine: Engine) -> None:
        """trainer.add_event_handler points to engine.ignite and to the variables."""
        with pytest.raises(AttributeError, match=r"trainer\.ignite\.add_event_handler"):
            engine.add_event_handler(Events.EPOCH_COMPLETED, lambda engine: None)

    def test_ignite_handler_subscribed_to_a_variable(self, engine: Engine) -> None:
        """def h(engine): engine.state.epoch, subscribed to a variable, gets a note pointing the way."""

        def h(engine: Any) -> None:
            engine.state.epoch

        engine.n_epoch_completed_ref.subscribe(h)
        with pytest.raises(AttributeError) as info:
            engine.run()
        note = "\n".join(info.value.__notes__)
        assert "engine.state.epoch is the variable engines.trainer.n_epoch_started" in note
        assert "state.trainer.ignite.add_event_handler" in note

    @pytest.mark.parametrize(
        ("event", "match"),
        [
            (Events.DATALOADER_STOP_ITERATION, "is not supported: a new data iterator"),
            (Events.INTERRUPT, "is not supported: statefire does not interrupt"),
            ("nope", "is not an event of this engine.*register_events"),
        ],
    )
    def test_unknown_events(self, engine: Engine, event: Any, match: str) -> None:
        """Events without a variable, and unregistered ones, are refused with the reason."""
        with pytest.raises(ValueError, match=match):
            engine.ignite.add_event_handler(event, lambda: None)

    def test_fire_a_standard_event(self, engine: Engine) -> None:
        """fire_event of a loop event is refused: it is a variable the loop writes."""
        with pytest.raises(
            ValueError, match=r"is the variable engines\.trainer\.n_epoch_completed"
        ):
            engine.ignite.fire_event(Events.EPOCH_COMPLETED)

    def test_counters_are_read_only(self, engine: Engine) -> None:
        """state.iteration/epoch mirror counters and refuse writes, saying how to resume."""
        with pytest.raises(
            AttributeError, match=r"mirrors engines\.trainer\.n_iteration_started.*load"
        ):
            engine.ignite.state.iteration = 5

    def test_unsupported_terminate_flags(self, engine: Engine) -> None:
        """terminate(skip_completed=True) and terminate_epoch(skip_epoch_completed=True) are refused."""
        with pytest.raises(ValueError, match="skip_completed=True"):
            engine.ignite.terminate(skip_completed=True)
        with pytest.raises(ValueError, match="skip_epoch_completed=True"):
            engine.ignite.terminate_epoch(skip_epoch_completed=True)

    def test_face_load_state_dict(self, engine: Engine) -> None:
        """ignite's Engine.state_dict() loads into the face: the run continues from there."""
        engine.run(max_epochs=4)
        saved = engine.ignite.state_dict()
        assert dict(saved) == {"iteration": 12, "epoch_length": 3, "max_epochs": 4}
        other = Engine(State(), "trainer", lambda engine, batch: batch, [1, 2, 3])
        other.ignite.load_state_dict({"iteration": 6, "epoch_length": 3, "max_epochs": 4})
        other.run()
        assert (other.n_iteration_completed, other.n_epoch_completed) == (12, 4)
        with pytest.raises(ValueError, match="needs 'iteration' or 'epoch'"):
            other.ignite.load_state_dict({"max_epochs": 2})

    def test_removed_handler_state_refused(self) -> None:
        """A saved handler state with no such handler attached now is refused with both lists."""
        from ignite.handlers import EarlyStopping

        pair = statefire_pair()
        pair.evaluator.add_event_handler(
            Events.COMPLETED,
            EarlyStopping(1, lambda engine: engine.state.metrics["acc"], pair.trainer),
        )
        assert pair.state is not None
        with pytest.raises(ValueError, match=r"saved handlers \['Timer'\] are not attached now"):
            pair.state.load_state_dict(
                {**pair.state.state_dict(), "nodes": {"handlers.val_ignite": {"Timer": {}}}},
                strict=False,
            )


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (
            lambda: __import__("nodes").EarlyStopping(
                patience=2, score_function=lambda engine: 0.0, trainer=None
            ),
            r"score_function= is ignite's spelling.*score_ref=.*attach it to the engine's ignite face",
        ),
        (
            lambda: __import__("nodes").Checkpoint({"model": nn.Linear(1, 1)}, "/tmp"),
            r"Checkpoint needs a pipeline.State as first argument, got dict.*Checkpoint\(state, dirname, trigger\)",
        ),
        (
            lambda: __import__("nodes").Checkpoint(State(), "/tmp", None, filename_prefix="x"),
            r"filename_prefix= -> prefix=",
        ),
        (
            lambda: __import__("nodes").LRScheduler(lr_scheduler=None),
            r"lr_scheduler= -> torch_scheduler=",
        ),
        (
            lambda: __import__("nodes").ProgressBar(persist=True),
            r"engine must be a statefire Engine, got NoneType.*ProgressBar\(persist=True\)\.attach\(trainer\.ignite\)",
        ),
    ],
)
def test_ignite_arguments_on_same_named_classes(make: Any, match: str) -> None:
    """ignite's arguments to EarlyStopping, Checkpoint, LRScheduler, ProgressBar name the statefire spelling."""
    with pytest.raises(TypeError, match=match):
        make()


class TestMoreHandlers:
    """ignite handlers the migration page lists as running on the face do their job."""

    def test_ema_handler(self) -> None:
        """EMAHandler keeps an EMA model and writes its momentum into the state."""
        from ignite.handlers import EMAHandler

        pair = statefire_pair()
        ema = EMAHandler(pair.model, momentum=0.5)
        ema.attach(pair.trainer, name="ema_momentum")
        pair.run(1)
        assert pair.trainer.state.ema_momentum == 0.5
        assert not same_weights(ema.ema_model, pair.model)

    def test_epoch_output_store(self) -> None:
        """EpochOutputStore keeps each iteration's output of the epoch."""
        from ignite.handlers import EpochOutputStore

        pair = statefire_pair()
        EpochOutputStore().attach(pair.trainer, "outputs")
        pair.run(2)
        assert len(pair.trainer.state.outputs) == 3

    def test_state_param_scheduler(self) -> None:
        """A StateParamScheduler writes its parameter into the face's state."""
        from ignite.handlers import PiecewiseLinearStateScheduler

        pair = statefire_pair()
        PiecewiseLinearStateScheduler(
            param_name="alpha", milestones_values=[(0, 1.0), (6, 0.0)]
        ).attach(pair.trainer, Events.ITERATION_COMPLETED)
        pair.run(1)
        assert pair.trainer.state.alpha == pytest.approx(0.5)

    def test_reduce_lr_on_plateau(self) -> None:
        """ReduceLROnPlateauScheduler on an evaluator's metric lowers the lr as on ignite."""
        from ignite.handlers import ReduceLROnPlateauScheduler

        def attach(pair: Pair) -> list[float]:
            scheduler = ReduceLROnPlateauScheduler(
                pair.optimizer, metric_name="acc", trainer=pair.trainer, patience=0, factor=0.5
            )
            pair.evaluator.add_event_handler(Events.COMPLETED, scheduler)
            lrs: list[float] = []
            pair.trainer.add_event_handler(
                Events.EPOCH_COMPLETED, lambda: lrs.append(pair.optimizer.param_groups[0]["lr"])
            )
            return lrs

        (ours_pair, ours), (theirs_pair, theirs) = both(attach, max_epochs=5)
        assert ours == theirs and min(ours) < 0.1  # lowered at least once
        assert same_weights(ours_pair.model, theirs_pair.model)

    def test_time_limit(self) -> None:
        """TimeLimit terminates the statefire trainer once its time is up."""
        from ignite.handlers import TimeLimit

        pair = statefire_pair()
        limit = TimeLimit(limit_sec=1)
        limit.start_time -= 10  # started ten seconds ago: the limit is reached
        pair.trainer.add_event_handler(Events.ITERATION_COMPLETED, limit)
        pair.run(5)
        assert pair.trainer.state.iteration == 1
