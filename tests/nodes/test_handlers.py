"""Tests of the handler nodes: EarlyStopping, LRScheduler, TerminateOnNan, and the
engine's timing variables."""

from __future__ import annotations

import io
import math
import random
import time
from collections.abc import Callable, Sequence
from typing import Any

import pytest
import torch
from cuda_checks import count_syncs, needs_cuda

from nodes import EarlyStopping, Engine, LRScheduler, Metric, TerminateOnNan, Trainer
from pipeline import State

# Helpers ---------------------------------------------------------------------------------


def scripted_scores(
    state: State, scores: Sequence[Any], patience: int, **kwargs: Any
) -> tuple[Engine, EarlyStopping]:
    """An engine whose iteration i publishes ``scores[i]`` as ``configs.score``, and an
    EarlyStopping on it that terminates that same engine."""
    state.configs.score = 0.0

    def evaluate(engine: Engine, score: Any) -> None:
        state.configs.score = score

    engine = Engine(state, "scores", evaluate, list(scores))
    stop = EarlyStopping(
        state,
        state.configs.score_ref,
        patience,
        engine,
        trigger_ref=engine.n_iteration_completed_ref,
        **kwargs,
    )
    return engine, stop


def stopped_at(scores: Sequence[float], patience: int, **kwargs: Any) -> int | None:
    """The evaluation (1-based) at which EarlyStopping stops, or None."""
    engine, stop = scripted_scores(State(), scores, patience, **kwargs)
    engine.run()
    return engine.n_iteration_completed if stop.stopped else None


def ignite_stopped_at(
    scores: Sequence[float], patience: int, min_delta: float, mode: str, cumulative: bool
) -> int | None:
    """The same with ignite's EarlyStopping, called by hand once per score."""
    from ignite.engine import Engine as IgniteEngine
    from ignite.handlers import EarlyStopping as IgniteEarlyStopping

    trainer = IgniteEngine(lambda engine, batch: None)
    it = iter(scores)
    handler = IgniteEarlyStopping(
        patience,
        lambda engine: next(it),
        trainer,
        threshold=min_delta,
        cumulative=cumulative,
        mode=mode,
    )
    for i in range(len(scores)):
        handler(trainer)
        if trainer.should_terminate:
            return i + 1
    return None


# EarlyStopping ---------------------------------------------------------------------------


class TestEarlyStopping:
    def test_stops_at_the_evaluation_that_exhausts_patience(self, state: State) -> None:
        """Two bad evaluations in a row with patience 2 stop the trainer at the second."""
        engine, stop = scripted_scores(state, [0.5, 0.6, 0.6, 0.55, 0.7, 0.8], patience=2)
        engine.run()
        assert engine.n_iteration_completed == 4
        assert engine.n_run_completed == 1
        assert (stop.stopped, stop.best_score, stop.n_bad_evaluations) == (True, 0.6, 2)

    def test_equal_scores_count_as_evaluations(self, state: State) -> None:
        """A plateau (the same value again, which fires no change) still uses up patience."""
        engine, stop = scripted_scores(state, [1.0, 1.0, 1.0, 1.0, 1.0], patience=3)
        engine.run()
        assert engine.n_iteration_completed == 4
        assert stop.stopped

    def test_an_improvement_resets_the_counter(self) -> None:
        """A better score in between resets the count of bad evaluations."""
        assert stopped_at([0.5, 0.4, 0.6, 0.5, 0.4, 0.3], patience=2) == 5

    def test_never_stops_while_improving(self, state: State) -> None:
        """Strictly better scores never stop the run, which completes its epoch."""
        engine, stop = scripted_scores(state, [0.1, 0.2, 0.3, 0.4], patience=1)
        engine.run()
        assert (engine.n_epoch_completed, stop.stopped, stop.best_score) == (1, False, 0.4)

    def test_min_delta(self) -> None:
        """A gain of at most min_delta is no improvement; the best still moves to the higher score."""
        scores = [1.0, 1.05, 1.2, 1.25, 1.28]
        assert stopped_at(scores, patience=2) is None
        assert stopped_at(scores, patience=2, min_delta=0.1) == 5

    def test_cumulative_delta(self) -> None:
        """Small gains add up to an improvement only with cumulative_delta."""
        creeping = [1.0, 1.06, 1.12, 1.18]
        assert stopped_at(creeping, patience=3, min_delta=0.1) == 4
        assert stopped_at(creeping, patience=3, min_delta=0.1, cumulative_delta=True) is None

    def test_mode_min(self, state: State) -> None:
        """With mode='min' a lower score is better."""
        engine, stop = scripted_scores(state, [1.0, 0.9, 0.95, 0.91, 0.85], patience=2, mode="min")
        engine.run()
        assert (engine.n_iteration_completed, stop.best_score) == (4, 0.9)

    def test_mode_min_with_min_delta(self) -> None:
        """With mode='min' a decrease of at most min_delta is no improvement."""
        assert stopped_at([1.0, 0.95, 0.8], patience=2, mode="min", min_delta=0.1) is None
        assert stopped_at([1.0, 0.95, 0.92], patience=2, mode="min", min_delta=0.1) == 3

    @pytest.mark.parametrize("mode", ["max", "min"])
    @pytest.mark.parametrize("cumulative", [False, True])
    @pytest.mark.parametrize("min_delta", [0.0, 0.15])
    def test_same_stops_as_ignite(self, mode: str, cumulative: bool, min_delta: float) -> None:
        """On random score sequences with ties it stops where ignite's EarlyStopping stops."""
        rng = random.Random(0)
        for _ in range(40):
            scores = [rng.choice([0.1, 0.2, 0.3, 0.35, 0.5]) for _ in range(12)]
            patience = rng.randint(1, 4)
            ours = stopped_at(
                scores, patience, min_delta=min_delta, mode=mode, cumulative_delta=cumulative
            )
            assert ours == ignite_stopped_at(scores, patience, min_delta, mode, cumulative), scores

    def test_nan_score_is_a_bad_evaluation(self) -> None:
        """A NaN score uses up patience and never becomes the best score."""
        assert stopped_at([0.5, math.nan, math.nan], patience=2) == 3
        assert stopped_at([math.nan, 0.5, 0.4], patience=1) == 3

    def test_tensor_scores(self, state: State) -> None:
        """0-d tensor scores are read as numbers; best_score is a float."""
        engine, stop = scripted_scores(
            state, [torch.tensor(0.5), torch.tensor(0.25), torch.tensor(0.75)], patience=5
        )
        engine.run()
        assert stop.best_score == 0.75 and type(stop.best_score) is float

    def test_metric_score_with_inferred_trigger(self, state: State) -> None:
        """On a Metric's value it triggers on the metric's engine, after all its metrics."""
        from ignite.metrics import Average

        scores = [0.5, 0.6, 0.6, 0.6, 0.9, 0.9]
        trainer = Engine(state, "trainer", lambda engine, batch: None, [0])
        evaluator = Engine(
            state,
            "val",
            lambda engine, batch: torch.tensor([scores[trainer.n_epoch_completed - 1]]),
            [0, 1],
            run_on=trainer.n_epoch_completed_ref,
        )
        Metric(evaluator, Average(), "score")
        Metric(evaluator, Average(output_transform=lambda out: out * 2), "double")
        stop = EarlyStopping(state, state.metrics.val_score_ref, patience=2, trainer=trainer)
        assert stop.trigger_ref == evaluator.n_epoch_completed_ref
        trainer.run(max_epochs=len(scores))
        assert trainer.n_epoch_completed == 4
        assert (stop.stopped, stop.best_score) == (True, pytest.approx(0.6))

    def test_patience_survives_a_state_dict(self) -> None:
        """n_bad_evaluations and best_score are saved and loaded with the state."""
        first = State()
        engine, stop = scripted_scores(first, [0.9, 0.5, 0.4], patience=3)
        engine.run()
        assert (stop.stopped, stop.n_bad_evaluations) == (False, 2)
        sd = first.state_dict()
        assert sd["variables"]["handlers.early_stopping.n_bad_evaluations"] == 2
        buffer = io.BytesIO()
        torch.save(sd, buffer)
        buffer.seek(0)

        second = State()
        engine2, stop2 = scripted_scores(second, [0.8], patience=3)
        second.load_state_dict(torch.load(buffer, weights_only=True))
        assert (stop2.best_score, stop2.n_bad_evaluations) == (0.9, 2)
        engine2.run()  # one more bad evaluation is the third
        assert stop2.stopped and engine2.n_iteration_completed == 1

    def test_graph_shows_reads_and_writes(self, state: State) -> None:
        """It declares that it reads the score and writes the trainer's should_terminate."""
        engine, stop = scripted_scores(state, [1.0], patience=1)
        assert stop.key in state.writers_of(engine.should_terminate_ref)
        assert stop.key in state.readers_of(state.configs.score_ref)
        assert stop.key in state.subscribers_of(engine.n_iteration_completed_ref)

    @pytest.mark.parametrize(
        ("change", "error", "match"),
        [
            ({"patience": 0}, ValueError, r"patience must be a positive integer .* got 0"),
            ({"patience": 1.5}, ValueError, r"patience must be a positive integer .* got 1\.5"),
            ({"mode": "avg"}, ValueError, r"mode must be 'max' .* or 'min' .* got 'avg'"),
            ({"mode": "maxi"}, ValueError, r"got 'maxi'.*did you mean 'max'"),
            ({"score_ref": 0.5}, TypeError, r"score_ref must be a Ref or a variable path .* float"),
            ({"score_ref": lambda engine: 1.0}, TypeError, r"a function is not accepted"),
            ({"score_ref": "configs.scor"}, AttributeError, r"did you mean 'score'"),
            ({"trainer": "trainer"}, TypeError, r"trainer must be a statefire Engine .* got str"),
            ({"min_delta": -0.1}, ValueError, r"min_delta must be >= 0, got -0\.1"),
            ({"min_delta": "0.1"}, TypeError, r"min_delta must be a number, got str"),
            ({"cumulative_delta": "yes"}, TypeError, r"cumulative_delta must be a bool, got 'yes'"),
            (
                {"trigger_ref": None},
                ValueError,
                r"cannot tell when an evaluation happens: configs\.score",
            ),
            ({"trigger_ref": 3}, TypeError, r"trigger_ref must be a Ref or a variable path"),
        ],
    )
    def test_bad_arguments(
        self, state: State, change: dict[str, Any], error: type[Exception], match: str
    ) -> None:
        """Each bad argument raises an error naming it, its value and what to pass instead."""
        state.configs.score = 0.0
        engine = Engine(state, "trainer", lambda engine, batch: None, [0])
        kwargs: dict[str, Any] = {
            "score_ref": state.configs.score_ref,
            "patience": 2,
            "trainer": engine,
            "trigger_ref": engine.n_iteration_completed_ref,
            **change,
        }
        with pytest.raises(error, match=match):
            EarlyStopping(state, **kwargs)
        assert "early_stopping" not in state.handlers  # nothing half-registered

    def test_not_a_state(self) -> None:
        """The first argument must be a State."""
        with pytest.raises(TypeError, match=r"needs a pipeline\.State .* got dict"):
            EarlyStopping({}, "configs.score", 2, None)  # type: ignore[arg-type]

    def test_score_of_another_state(self, state: State) -> None:
        """A Ref of another State is refused."""
        other = State()
        other.configs.score = 0.0
        engine = Engine(state, "trainer", lambda engine, batch: None, [0])
        with pytest.raises(ValueError, match=r"belongs to another State"):
            EarlyStopping(state, other.configs.score_ref, 2, engine)

    @pytest.mark.parametrize(
        ("score", "error", "match"),
        [
            (None, ValueError, r"the score configs\.score is None at an evaluation"),
            ("high", TypeError, r"must be a real number, got str 'high'"),
            (torch.ones(3), ValueError, r"tensor of shape \(3,\); it must hold one number"),
        ],
    )
    def test_bad_score_values(self, state: State, score: Any, error: type, match: str) -> None:
        """A score that is not one number fails at the evaluation, naming the variable."""
        engine, _ = scripted_scores(state, [score], patience=2)
        with pytest.raises(error, match=match):
            engine.run()


# LRScheduler -----------------------------------------------------------------------------


def make_optimizer(lrs: Sequence[float] = (0.1, 0.01)) -> torch.optim.SGD:
    """SGD with one param group per lr."""
    groups = [{"params": [torch.zeros(2, requires_grad=True)], "lr": lr} for lr in lrs]
    return torch.optim.SGD(groups, lr=lrs[0])


def stepping_engine(state: State, optimizer: torch.optim.Optimizer, n: int) -> Engine:
    """An engine of n iterations that steps the optimizer (as a trainer would)."""

    def step(engine: Engine, batch: Any) -> None:
        optimizer.step()

    return Engine(state, "trainer", step, list(range(n)))


def record(ref_owner: Any, trigger: Any) -> list[Any]:
    """The node's ``lrs`` after each change of ``trigger`` (subscribed after the node)."""
    seen: list[Any] = []
    trigger.subscribe(lambda: seen.append(list(ref_owner.lrs)))
    return seen


class TestLRScheduler:
    @pytest.mark.parametrize(
        "make_scheduler",
        [
            lambda opt: torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5),
            lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5),
            lambda opt: torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[1.0, 0.1], total_steps=9),
        ],
        ids=["StepLR", "CosineAnnealingLR", "OneCycleLR"],
    )
    def test_same_lrs_as_stepping_by_hand(
        self, state: State, make_scheduler: Callable[[Any], Any]
    ) -> None:
        """Per iteration, every group's lr equals that of the same scheduler stepped by hand."""
        opt = make_optimizer()
        engine = stepping_engine(state, opt, 8)
        node = LRScheduler(state, make_scheduler(opt), engine.n_iteration_completed_ref)
        seen = record(node, engine.n_iteration_completed_ref)
        engine.run()

        ref_opt = make_optimizer()
        ref_sched = make_scheduler(ref_opt)
        expected = []
        for _ in range(8):
            ref_opt.step()
            ref_sched.step()
            expected.append([g["lr"] for g in ref_opt.param_groups])
        assert seen == expected
        assert node.lr == expected[-1][0] and node.lrs == expected[-1]

    def test_lr_is_set_at_construction(self, state: State) -> None:
        """Before any step, lr and lrs hold the optimizer's current values."""
        opt = make_optimizer((0.3, 0.03))
        engine = stepping_engine(state, opt, 1)
        node = LRScheduler(
            state, torch.optim.lr_scheduler.StepLR(opt, 1), engine.n_iteration_completed_ref
        )
        assert (node.lr, node.lrs) == (0.3, [0.3, 0.03])

    def test_epoch_trigger_and_lr_events(self, state: State) -> None:
        """Stepped per epoch; each change of lr is an event subscribers see."""
        opt = make_optimizer((1.0,))
        engine = stepping_engine(state, opt, 3)
        node = LRScheduler(
            state,
            torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5),
            engine.n_epoch_completed_ref,
        )
        changes: list[float] = []
        node.lr_ref.subscribe(lambda event: changes.append(event.new))
        engine.run(max_epochs=3)
        assert changes == [0.5, 0.25, 0.125]
        assert opt.param_groups[0]["lr"] == 0.125

    def test_every_filter(self, state: State) -> None:
        """every=3 steps the scheduler on iterations 3 and 6 only."""
        opt = make_optimizer((1.0,))
        engine = stepping_engine(state, opt, 7)
        node = LRScheduler(
            state,
            torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.5),
            engine.n_iteration_completed_ref,
            every=3,
        )
        engine.run()
        assert node.lr == 0.25

    def test_state_dict_round_trip_resumes_the_schedule(self) -> None:
        """Saved and loaded mid-run, the schedule continues as if uninterrupted."""

        def build(n: int) -> tuple[State, Engine, LRScheduler]:
            state = State()
            opt = make_optimizer()
            state.optimizers.optimizer = opt
            engine = stepping_engine(state, opt, n)
            sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=6)
            return state, engine, LRScheduler(state, sched, engine.n_iteration_completed_ref)

        _, whole, whole_node = build(6)
        seen_whole = record(whole_node, whole.n_iteration_completed_ref)
        whole.run()

        first_state, first, first_node = build(3)
        first.run()
        sd = first_state.state_dict()
        assert "handlers.lr_scheduler" in sd["nodes"]
        buffer = io.BytesIO()
        torch.save(sd, buffer)
        buffer.seek(0)
        second_state, second, second_node = build(3)
        second_state.load_state_dict(torch.load(buffer, weights_only=True))
        assert second_node.lrs == first_node.lrs == seen_whole[2]
        seen = record(second_node, second.n_iteration_completed_ref)
        second.run(max_epochs=1)
        assert seen == seen_whole[3:]

    def test_graph_shows_the_optimizer_write(self, state: State) -> None:
        """An optimizer found in state.optimizers is declared written by the scheduler."""
        opt = make_optimizer()
        state.optimizers.sgd = opt
        engine = stepping_engine(state, opt, 1)
        node = LRScheduler(
            state, torch.optim.lr_scheduler.StepLR(opt, 1), engine.n_iteration_completed_ref
        )
        assert node.key in state.writers_of(state.optimizers.sgd_ref)
        assert node.key in state.subscribers_of(engine.n_iteration_completed_ref)

    def test_reduce_lr_on_plateau_with_metric_ref(self, state: State) -> None:
        """ReduceLROnPlateau is stepped with the metric's value, as by hand."""
        losses = [1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.5]
        state.configs.loss = 0.0
        opt = make_optimizer((1.0,))

        def step(engine: Engine, loss: float) -> None:
            state.configs.loss = loss

        engine = Engine(state, "trainer", step, losses)
        node = LRScheduler(
            state,
            torch.optim.lr_scheduler.ReduceLROnPlateau(opt, factor=0.5, patience=1),
            engine.n_iteration_completed_ref,
            metric_ref=state.configs.loss_ref,
        )
        seen = record(node, engine.n_iteration_completed_ref)
        engine.run()

        ref_opt = make_optimizer((1.0,))
        ref = torch.optim.lr_scheduler.ReduceLROnPlateau(ref_opt, factor=0.5, patience=1)
        expected = []
        for loss in losses:
            ref.step(loss)
            expected.append([ref_opt.param_groups[0]["lr"]])
        assert seen == expected
        assert node.lr < 1.0

    def test_ignite_param_scheduler(self, state: State) -> None:
        """An ignite PiecewiseLinear gives the values it gives when called by hand."""
        from ignite.handlers import PiecewiseLinear

        milestones = [(0, 1.0), (4, 0.0), (6, 0.5)]
        opt = make_optimizer((1.0,))
        engine = stepping_engine(state, opt, 8)
        node = LRScheduler(
            state, PiecewiseLinear(opt, "lr", milestones), engine.n_iteration_started_ref
        )
        seen = record(node, engine.n_iteration_started_ref)
        engine.run()

        ref_opt = make_optimizer((1.0,))
        ref = PiecewiseLinear(ref_opt, "lr", milestones)
        expected = []
        for _ in range(8):
            ref(None)
            expected.append([ref_opt.param_groups[0]["lr"]])
        assert seen == expected
        assert [lrs[0] for lrs in seen[:5]] == [1.0, 0.75, 0.5, 0.25, 0.0]
        assert node.state_dict()["scheduler"]["event_index"] == 8

    @pytest.mark.parametrize(
        ("make", "change", "error", "match"),
        [
            (lambda opt: opt, {}, TypeError, r"expected a torch\.optim\.lr_scheduler .* got SGD"),
            (
                lambda opt: torch.optim.lr_scheduler.StepLR,
                {},
                TypeError,
                r"got type \(a class: create it with the optimizer",
            ),
            (
                lambda opt: __import__("ignite.handlers").handlers.ReduceLROnPlateauScheduler(
                    opt, metric_name="loss"
                ),
                {},
                TypeError,
                r"ReduceLROnPlateauScheduler reads an ignite engine's metrics",
            ),
            (
                lambda opt: __import__("ignite.handlers").handlers.PiecewiseLinear(
                    opt, "lr", [(0, 1.0), (2, 0.0)], save_history=True
                ),
                {},
                ValueError,
                r"save_history=True, which needs an ignite engine",
            ),
            (
                lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1),
                {"trigger_ref": 5},
                TypeError,
                r"trigger_ref must be a Ref or a variable path .* got int 5",
            ),
            (
                lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1),
                {"trigger_ref": "engines.trainer.n_iteration_complete"},
                AttributeError,
                r"did you mean 'n_iteration_completed'",
            ),
            (
                lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1),
                {"every": 0},
                ValueError,
                r"every must be a positive integer",
            ),
            (
                lambda opt: torch.optim.lr_scheduler.ReduceLROnPlateau(opt),
                {},
                TypeError,
                r"ReduceLROnPlateau steps on a metric; pass metric_ref",
            ),
            (
                lambda opt: torch.optim.lr_scheduler.StepLR(opt, 1),
                {"metric_ref": "configs.x"},
                TypeError,
                r"metric_ref is only for ReduceLROnPlateau; StepLR",
            ),
        ],
    )
    def test_bad_arguments(
        self,
        state: State,
        make: Callable[[Any], Any],
        change: dict[str, Any],
        error: type[Exception],
        match: str,
    ) -> None:
        """Each bad argument raises an error naming it and what to pass instead."""
        opt = make_optimizer()
        state.configs.x = 0.0
        engine = stepping_engine(state, opt, 1)
        kwargs = {"trigger_ref": engine.n_iteration_completed_ref, **change}
        with pytest.raises(error, match=match):
            LRScheduler(state, make(opt), **kwargs)
        assert "lr_scheduler" not in state.handlers  # nothing half-registered


# TerminateOnNan --------------------------------------------------------------------------


def run_outputs(outputs: Sequence[Any], **kwargs: Any) -> tuple[Engine, TerminateOnNan]:
    """An engine whose iteration i outputs ``outputs[i]``, with TerminateOnNan on it."""
    engine = Engine(State(), "trainer", lambda engine, batch: batch, list(outputs))
    return engine, TerminateOnNan(engine, **kwargs)


NAN, INF = float("nan"), float("inf")


class TestTerminateOnNan:
    def test_stops_at_the_first_nan_and_the_run_completes(self) -> None:
        """The iteration with a NaN is the last; the run completes, the epoch does not."""
        outputs = [torch.tensor(1.0), torch.tensor(2.0), torch.tensor(NAN), torch.tensor(4.0)]
        engine, nan = run_outputs(outputs)
        engine.run(max_epochs=2)
        assert nan.terminated_at_iteration == 3
        assert (engine.n_iteration_completed, engine.n_epoch_completed) == (3, 0)
        assert engine.n_run_completed == 1 and engine.exception is None

    def test_finite_run_is_left_alone(self) -> None:
        """A run without NaN or inf completes all its epochs."""
        engine, nan = run_outputs([1.0, torch.ones(3), {"a": [2, (3.0, torch.zeros(2))]}])
        engine.run(max_epochs=2)
        assert (engine.n_epoch_completed, nan.terminated_at_iteration) == (2, None)

    @pytest.mark.parametrize(
        "bad",
        [
            NAN,
            INF,
            -INF,
            complex(NAN, 0),
            torch.tensor([1.0, NAN, 3.0]),
            torch.tensor(-INF, dtype=torch.float64),
            torch.tensor([[1.0, INF]], dtype=torch.bfloat16),
            [1.0, torch.tensor(2.0), torch.tensor(NAN)],
            (1, (2, INF)),
            {"loss": torch.tensor(1.0), "parts": {"kl": torch.tensor([0.0, NAN])}},
        ],
        ids=repr,
    )
    def test_detects_nan_and_inf_in_any_structure(self, bad: Any) -> None:
        """NaN or inf in a number, a tensor, or nested lists/tuples/dicts terminates the run."""
        engine, nan = run_outputs([0.0, bad, 0.0])
        engine.run()
        assert nan.terminated_at_iteration == 2

    def test_output_transform_selects_what_is_checked(self) -> None:
        """Only what output_transform returns is checked."""
        outputs = [{"loss": 1.0, "debug": NAN}, {"loss": NAN, "debug": 0.0}]
        engine, nan = run_outputs(outputs, output_transform=lambda out: out["loss"])
        engine.run()
        assert nan.terminated_at_iteration == 2

    def test_real_trainer_stops_on_nan_loss(self, state: State, make_mlp, make_loader) -> None:
        """A Trainer whose loss turns NaN at iteration 3 stops there, weights stay finite
        until the NaN step."""
        calls = {"n": 0}

        def loss_fn(y_pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            calls["n"] += 1
            loss = torch.nn.functional.cross_entropy(y_pred, y)
            return loss * NAN if calls["n"] == 3 else loss

        model = make_mlp()
        opt = torch.optim.SGD(model.parameters(), lr=0.1)
        trainer = Trainer(state, "trainer", model, opt, loss_fn, make_loader())
        nan = TerminateOnNan(trainer)
        trainer.run(max_epochs=2)
        assert (nan.terminated_at_iteration, trainer.n_iteration_completed) == (3, 3)
        assert nan.key in state.writers_of(trainer.should_terminate_ref)
        assert nan.key in state.readers_of(trainer.output_ref)

    def test_default_name_and_custom_name(self, state: State) -> None:
        """Named after the engine by default."""
        engine = Engine(state, "trainer", lambda engine, batch: batch, [1.0])
        assert TerminateOnNan(engine).key == "handlers.trainer_terminate_on_nan"
        assert TerminateOnNan(engine, name="nan_guard").key == "handlers.nan_guard"

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            ((None,), r"engine must be a statefire Engine .* got NoneType"),
            (("engine", lambda x: x), r"engine must be a statefire Engine .* got str"),
            ((..., "loss"), r"output_transform must be callable as output_transform\(output\)"),
        ],
    )
    def test_bad_arguments(self, state: State, args: tuple[Any, ...], match: str) -> None:
        """A bad engine or output_transform is refused with what to pass."""
        engine = Engine(state, "trainer", lambda engine, batch: batch, [1.0])
        args = tuple(engine if a is ... else a for a in args)
        with pytest.raises(TypeError, match=match):
            TerminateOnNan(*args)


# Timing ----------------------------------------------------------------------------------


class TestEngineTiming:
    def test_epoch_and_run_times(self, state: State) -> None:
        """epoch_time covers the epoch's iterations but not what runs on n_epoch_completed;
        run_time covers the whole run."""
        trainer = Engine(state, "trainer", lambda engine, batch: time.sleep(0.01), [0, 1, 2])
        epoch_times: list[float] = []
        trainer.n_epoch_completed_ref.subscribe(lambda: epoch_times.append(trainer.epoch_time))
        Engine(
            state,
            "evaluator",
            lambda engine, batch: time.sleep(0.05),
            [0],
            run_on=trainer.n_epoch_completed_ref,
        )
        trainer.run(max_epochs=2)
        assert len(epoch_times) == 2
        assert all(0.03 <= t < 0.05 + 0.03 for t in epoch_times), epoch_times
        assert trainer.run_time >= sum(epoch_times) + 2 * 0.05
        assert state.evaluator.run_time >= 0.05


# On a CUDA device ------------------------------------------------------------------------


@needs_cuda
class TestCuda:
    def test_terminate_on_nan_with_cuda_outputs(self) -> None:
        """NaN in a CUDA tensor, alone or next to a CPU tensor, terminates the run."""
        values = [1.0, 2.0, NAN, 4.0]
        engine, nan = run_outputs([torch.tensor(v, device="cuda") for v in values])
        engine.run()
        assert nan.terminated_at_iteration == 3
        mixed = [(torch.ones(2), torch.tensor(v, device="cuda")) for v in values]
        engine, nan = run_outputs(mixed)
        engine.run()
        assert nan.terminated_at_iteration == 3

    def test_engine_loop_adds_no_sync_and_terminate_on_nan_one_per_iteration(self) -> None:
        """The loop alone never synchronises; TerminateOnNan synchronises once per iteration."""
        data = [torch.full((4,), float(i), device="cuda") for i in range(6)]

        def plain() -> None:
            Engine(State(), "trainer", lambda engine, batch: batch * 0.5, data).run()

        def guarded() -> None:
            engine = Engine(State(), "trainer", lambda engine, batch: batch * 0.5, data)
            TerminateOnNan(engine)
            engine.run()

        plain()  # warm up CUDA kernels outside the count
        assert count_syncs(plain) == 0
        assert count_syncs(guarded) == len(data)


class TestEarlyStoppingOrder:
    def test_metric_made_after_early_stopping_still_publishes_first(self, state: State) -> None:
        """EarlyStopping reads the score of the evaluation that just ran, even when another
        metric of the same evaluator is created after it (the group publishes together)."""
        from ignite.metrics import Accuracy, Loss

        seen: list[float] = []

        class Spy(EarlyStopping):
            def evaluate(self) -> None:
                seen.append(self.score_ref.value)
                super().evaluate()

        preds = [
            (torch.tensor([[0.9, 0.1], [0.2, 0.8]]), torch.tensor([0, 1])),  # 2/2 right
            (torch.tensor([[0.9, 0.1], [0.8, 0.2]]), torch.tensor([0, 1])),  # 1/2 right
        ]
        trainer = Engine(state, "trainer", lambda e, b: b, [0, 1])
        evaluator = Engine(
            state,
            "val",
            lambda e, b: preds[trainer.n_iteration_completed - 1],
            [0],
            run_on=trainer.n_iteration_completed_ref,
        )
        Metric(evaluator, Accuracy(), "accuracy")
        Spy(state, state.metrics.val_accuracy_ref, 5, trainer)
        Metric(evaluator, Loss(torch.nn.functional.cross_entropy), "loss")  # made after
        trainer.run()
        assert seen == [1.0, 0.5]
