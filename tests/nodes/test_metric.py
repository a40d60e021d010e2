"""Tests of ``nodes.Metric``: ignite metrics computed on engine variables give ignite's values,
in every usage; values of one evaluation are published together; argument errors."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from ignite.engine import Engine as IgniteEngine
from ignite.engine import Events, create_supervised_evaluator, create_supervised_trainer
from ignite.metrics import (
    ROC_AUC,
    Accuracy,
    ConfusionMatrix,
    EpochMetric,
    Loss,
    Precision,
    RunningAverage,
)
from torch import nn
from torch.utils.data import DataLoader

from nodes import Engine, Evaluator, Metric, Trainer
from pipeline import State

MakeMlp = Callable[..., nn.Module]
MakeLoader = Callable[..., DataLoader]

#: statefire usage -> ignite usage
IGNITE_USAGES = {
    "epoch": "epoch_wise",
    "batch": "batch_wise",
    "running": "running_batch_wise",
    "single_epoch_running": "single_epoch_running_batch_wise",
    "running_epoch": "running_epoch_wise",
}


def sgd(model: nn.Module) -> torch.optim.Optimizer:
    """SGD with momentum, as in the trainer tests."""
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)


@pytest.fixture
def trained_mlp(make_mlp: MakeMlp, make_loader: MakeLoader) -> nn.Module:
    """The tiny MLP after one epoch of plain SGD on the digits (about 80% accurate)."""
    model = make_mlp(0)
    optimizer = sgd(model)
    for x, y in make_loader(5):
        optimizer.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        optimizer.step()
    return model


def trainer_and_val(
    state: State, make_mlp: MakeMlp, make_loader: MakeLoader, val_loader: DataLoader
) -> tuple[Trainer, Evaluator]:
    """A trainer of the MLP on ``make_loader(1)`` and an evaluator "val" run after each epoch."""
    model = make_mlp(0)
    trainer = Trainer(state, "trainer", model, sgd(model), nn.CrossEntropyLoss(), make_loader(1))
    evaluator = Evaluator(state, "val", model, val_loader, run_on=trainer.n_epoch_completed_ref)
    return trainer, evaluator


def plain(value: Any) -> Any:
    """A 0-d tensor as a Python number (what ignite stores in engine.state.metrics)."""
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        return value.item()
    return value


class TestEvaluationMatchesIgnite:
    """Evaluator + Metric give exactly the values of ignite's evaluator with the same metrics."""

    def test_accuracy_and_loss_after_each_training_epoch(
        self, state: State, make_mlp: MakeMlp, make_loader: MakeLoader
    ) -> None:
        """Trainer + evaluator on every epoch: accuracy and loss equal ignite's, epoch by epoch."""
        trainer, evaluator = trainer_and_val(
            state, make_mlp, make_loader, make_loader(2, 100, False)
        )
        Metric(evaluator, Accuracy(), "accuracy")
        Metric(evaluator, Loss(nn.CrossEntropyLoss()), "loss")
        ours: list[tuple[Any, Any]] = []
        evaluator.n_run_completed_ref.subscribe(
            lambda: ours.append((state.metrics.val_accuracy, state.metrics.val_loss))
        )
        trainer.run(max_epochs=3)

        other = make_mlp(0)
        ignite_trainer = create_supervised_trainer(other, sgd(other), nn.CrossEntropyLoss())
        ignite_evaluator = create_supervised_evaluator(
            other, metrics={"accuracy": Accuracy(), "loss": Loss(nn.CrossEntropyLoss())}
        )
        theirs: list[tuple[Any, Any]] = []

        @ignite_trainer.on(Events.EPOCH_COMPLETED)
        def evaluate() -> None:
            metrics = ignite_evaluator.run(make_loader(2, 100, False)).metrics
            theirs.append((metrics["accuracy"], metrics["loss"]))

        ignite_trainer.run(make_loader(1), max_epochs=3)
        assert len(ours) == 3
        assert ours == theirs
        assert all(type(a) is float and type(b) is float for a, b in ours)
        assert ours[-1][0] > 0.85

    def test_precision_and_confusion_matrix(
        self, state: State, trained_mlp: nn.Module, make_loader: MakeLoader
    ) -> None:
        """Precision(average=True) is a float and ConfusionMatrix a tensor, both equal to ignite's."""
        evaluator = Evaluator(state, "evaluator", trained_mlp, make_loader(3, 128))
        Metric(evaluator, Precision(average=True), "precision")
        Metric(evaluator, ConfusionMatrix(num_classes=10), "cm")
        Metric(evaluator, Accuracy(), "accuracy")
        evaluator.run()
        ignite_evaluator = create_supervised_evaluator(
            trained_mlp,
            metrics={
                "precision": Precision(average=True),
                "cm": ConfusionMatrix(num_classes=10),
                "accuracy": Accuracy(),
            },
        )
        theirs = ignite_evaluator.run(make_loader(3, 128)).metrics
        metrics = state.metrics
        assert type(metrics.evaluator_precision) is float
        assert metrics.evaluator_precision == theirs["precision"]
        assert isinstance(metrics.evaluator_cm, torch.Tensor)
        assert metrics.evaluator_cm.shape == (10, 10)
        assert torch.equal(metrics.evaluator_cm, theirs["cm"])
        assert int(metrics.evaluator_cm.sum()) == 1797
        assert metrics.evaluator_accuracy == theirs["accuracy"]
        expected = metrics.evaluator_cm.diag().sum().item() / 1797
        assert metrics.evaluator_accuracy == pytest.approx(expected, abs=1e-12)

    def test_second_evaluation_resets_epoch_metrics(
        self, state: State, trained_mlp: nn.Module, make_loader: MakeLoader
    ) -> None:
        """Running the evaluator again gives the same values, not values accumulated over runs."""
        evaluator = Evaluator(state, "evaluator", trained_mlp, make_loader(3, 128, False))
        Metric(evaluator, Loss(nn.CrossEntropyLoss()), "loss")
        Metric(evaluator, ConfusionMatrix(num_classes=10), "cm")
        evaluator.run()
        first = (state.metrics.evaluator_loss, state.metrics.evaluator_cm.clone())
        evaluator.run()
        assert state.metrics.evaluator_loss == first[0]
        assert torch.equal(state.metrics.evaluator_cm, first[1])


def record_ignite(engine: IgniteEngine, name: str) -> list[tuple[str, Any]]:
    """The value of ignite metric ``name`` after every iteration and every epoch."""
    log: list[tuple[str, Any]] = []
    for event, label in ((Events.ITERATION_COMPLETED, "it"), (Events.EPOCH_COMPLETED, "ep")):
        engine.add_event_handler(
            event, lambda e, label=label: log.append((label, plain(e.state.metrics.get(name))))
        )
    return log


def record_ours(engine: Engine, name: str) -> list[tuple[str, Any]]:
    """The value of ``state.metrics.<name>`` after every iteration and every epoch."""
    log: list[tuple[str, Any]] = []
    metrics = engine.state.metrics
    engine.n_iteration_completed_ref.subscribe(
        lambda: log.append(("it", plain(getattr(metrics, name))))
    )
    engine.n_epoch_completed_ref.subscribe(
        lambda: log.append(("ep", plain(getattr(metrics, name))))
    )
    return log


class TestUsagesMatchIgnite:
    """Each usage resets, updates and computes where ignite's matching MetricUsage does."""

    @pytest.mark.parametrize("usage", list(IGNITE_USAGES))
    def test_running_average_of_trainer_loss(
        self, state: State, usage: str, make_mlp: MakeMlp, make_loader: MakeLoader
    ) -> None:
        """RunningAverage of the trainer's loss equals ignite's after every iteration and epoch."""
        model = make_mlp(0)
        trainer = Trainer(
            state, "trainer", model, sgd(model), nn.CrossEntropyLoss(), make_loader(1, 256)
        )
        Metric(trainer, RunningAverage(output_transform=lambda loss: loss), "loss", usage=usage)
        ours = record_ours(trainer, "trainer_loss")
        trainer.run(max_epochs=3)

        other = make_mlp(0)
        # The same tensor output as statefire's trainer (ignite's default is loss.item()).
        ignite_trainer = create_supervised_trainer(
            other,
            sgd(other),
            nn.CrossEntropyLoss(),
            output_transform=lambda x, y, y_pred, loss: loss.detach(),
        )
        RunningAverage(output_transform=lambda loss: loss).attach(
            ignite_trainer, "loss", usage=IGNITE_USAGES[usage]
        )
        theirs = record_ignite(ignite_trainer, "loss")
        ignite_trainer.run(make_loader(1, 256), max_epochs=3)
        assert len(ours) == 3 * 8 + 3
        assert ours == theirs

    @pytest.mark.parametrize("usage", list(IGNITE_USAGES))
    def test_running_average_of_accuracy(
        self, state: State, usage: str, trained_mlp: nn.Module, make_loader: MakeLoader
    ) -> None:
        """RunningAverage(src=Accuracy()) equals ignite's in every usage."""
        evaluator = Evaluator(state, "evaluator", trained_mlp, make_loader(4, 256))
        Metric(evaluator, RunningAverage(src=Accuracy(), alpha=0.5), "acc", usage=usage)
        ours = record_ours(evaluator, "evaluator_acc")
        evaluator.run(max_epochs=2)

        ignite_evaluator = create_supervised_evaluator(trained_mlp)
        RunningAverage(src=Accuracy(), alpha=0.5).attach(
            ignite_evaluator, "acc", usage=IGNITE_USAGES[usage]
        )
        theirs = record_ignite(ignite_evaluator, "acc")
        ignite_evaluator.run(make_loader(4, 256), max_epochs=2)
        assert ours == theirs

    @pytest.mark.parametrize("usage", list(IGNITE_USAGES))
    def test_accuracy(
        self, state: State, usage: str, trained_mlp: nn.Module, make_loader: MakeLoader
    ) -> None:
        """Accuracy equals ignite's in every usage, after every iteration and epoch."""
        evaluator = Evaluator(state, "evaluator", trained_mlp, make_loader(4, 256))
        Metric(evaluator, Accuracy(), "acc", usage=usage)
        ours = record_ours(evaluator, "evaluator_acc")
        evaluator.run(max_epochs=2)

        ignite_evaluator = create_supervised_evaluator(trained_mlp)
        Accuracy().attach(ignite_evaluator, "acc", usage=IGNITE_USAGES[usage])
        theirs = record_ignite(ignite_evaluator, "acc")
        ignite_evaluator.run(make_loader(4, 256), max_epochs=2)
        assert ours == theirs

    @pytest.mark.parametrize("kind", ["running_average", "accuracy", "frequency"])
    def test_default_usage_is_ignites_default(
        self, state: State, kind: str, trained_mlp: nn.Module, make_loader: MakeLoader
    ) -> None:
        """Without usage=, each metric updates and computes where its ignite attach() default does."""
        from ignite.metrics import Frequency

        def make() -> Any:
            if kind == "running_average":
                return RunningAverage(src=Accuracy(), alpha=0.5)
            if kind == "frequency":
                return Frequency(output_transform=lambda out: out[1].shape[0])
            return Accuracy()

        evaluator = Evaluator(state, "evaluator", trained_mlp, make_loader(4, 256))
        Metric(evaluator, make(), "m")
        ours = record_ours(evaluator, "evaluator_m")
        evaluator.run(max_epochs=2)

        ignite_evaluator = create_supervised_evaluator(trained_mlp)
        make().attach(ignite_evaluator, "m")
        theirs = record_ignite(ignite_evaluator, "m")
        ignite_evaluator.run(make_loader(4, 256), max_epochs=2)
        if kind == "frequency":  # a rate of wall-clock time: compare when it has a value
            assert [(k, v is None) for k, v in ours] == [(k, v is None) for k, v in theirs]
        else:
            assert ours == theirs
        per_iteration = [v for k, v in ours if k == "it"]
        assert (per_iteration[0] is None) == (kind == "accuracy")

    def test_batch_usage_is_per_batch(
        self, state: State, trained_mlp: nn.Module, digits: Any
    ) -> None:
        """With usage 'batch' the value after each iteration is that batch's accuracy."""
        x, y = digits.tensors
        batches = [(x[:100], y[:100]), (x[100:150], y[100:150]), (x[150:400], y[150:400])]
        evaluator = Evaluator(state, "evaluator", trained_mlp, batches)
        Metric(evaluator, Accuracy(), "acc", usage="batch")
        values: list[float] = []
        state.metrics.evaluator_acc_ref.subscribe(lambda ev: values.append(ev.new))
        evaluator.run()
        with torch.no_grad():
            expected = [
                (trained_mlp(bx).argmax(1) == by).sum().item() / len(by) for bx, by in batches
            ]
        assert values == pytest.approx(expected, abs=1e-12)

    def test_per_iteration_values_stay_tensors(
        self, state: State, make_mlp: MakeMlp, make_loader: MakeLoader
    ) -> None:
        """A per-iteration running loss is a 0-d tensor (no synchronisation per iteration)."""
        model = make_mlp(0)
        trainer = Trainer(state, "trainer", model, sgd(model), nn.CrossEntropyLoss(), make_loader())
        Metric(trainer, RunningAverage(output_transform=lambda loss: loss), "loss", usage="running")
        trainer.run(epoch_length=3)
        value = state.metrics.trainer_loss
        assert isinstance(value, torch.Tensor) and value.shape == ()


class TestPublication:
    """The metrics of one evaluation are published together."""

    def test_subscriber_of_one_metric_sees_the_others_of_the_same_evaluation(
        self, state: State, make_mlp: MakeMlp, make_loader: MakeLoader
    ) -> None:
        """A subscriber of the accuracy reads the loss of the same evaluation, not the previous."""
        trainer, evaluator = trainer_and_val(state, make_mlp, make_loader, make_loader(2, 256))
        Metric(evaluator, Accuracy(), "accuracy")
        Metric(evaluator, Loss(nn.CrossEntropyLoss()), "loss")
        Metric(evaluator, ConfusionMatrix(num_classes=10), "cm")
        seen: list[tuple[float, float, int]] = []

        @state.on(state.metrics.val_accuracy_ref, reads=[state.metrics.val_loss_ref])
        def read_loss(event: Any) -> None:
            seen.append((event.new, state.metrics.val_loss, int(state.metrics.val_cm.trace())))

        final: list[tuple[float, float, int]] = []
        evaluator.n_run_completed_ref.subscribe(
            lambda: final.append(
                (
                    state.metrics.val_accuracy,
                    state.metrics.val_loss,
                    int(state.metrics.val_cm.trace()),
                )
            )
        )
        trainer.run(max_epochs=3)
        assert len(final) == 3
        assert len({loss for _, loss, _ in final}) == 3  # the loss changed every evaluation
        assert seen == final

    def test_loss_subscriber_also_sees_the_new_accuracy(
        self, state: State, make_mlp: MakeMlp, make_loader: MakeLoader
    ) -> None:
        """Whichever metric is subscribed to, the others already hold this evaluation's value."""
        trainer, evaluator = trainer_and_val(state, make_mlp, make_loader, make_loader(2, 256))
        Metric(evaluator, Loss(nn.CrossEntropyLoss()), "loss")
        Metric(evaluator, Accuracy(), "accuracy")
        seen: list[tuple[float, float]] = []
        state.metrics.val_loss_ref.subscribe(
            lambda ev: seen.append((state.metrics.val_accuracy, ev.new))
        )
        final: list[tuple[float, float]] = []
        evaluator.n_run_completed_ref.subscribe(
            lambda: final.append((state.metrics.val_accuracy, state.metrics.val_loss))
        )
        trainer.run(max_epochs=2)
        assert seen == final


class TestArguments:
    """Bad arguments of Metric, with the message that says how to fix them."""

    @pytest.mark.parametrize(
        ("engine", "metric", "kwargs", "error", "match"),
        [
            (
                "trainr",
                Accuracy(),
                {"state": True},
                ValueError,
                r"no engine named 'trainr' in state.engines; did you mean 'trainer'\?",
            ),
            ("trainer", Accuracy(), {}, TypeError, "Metric on engine name 'trainer' needs state="),
            (3, Accuracy(), {}, TypeError, "engine must be an Engine or an engine name, got int"),
            (
                None,
                object(),
                {},
                TypeError,
                "ignite_metric must be an ignite.metrics.Metric instance, got object",
            ),
            (None, Accuracy, {}, TypeError, r"got ABCMeta \(a class: instantiate it\)"),
            (
                None,
                Accuracy(),
                {"usage": "epochs"},
                ValueError,
                r"usage must be one of epoch, batch, running.*got 'epochs'; did you mean 'epoch'",
            ),
            (None, Accuracy(), {"usage": "epoch_wise"}, ValueError, "usage must be one of"),
            (None, Accuracy(), {"name": "my acc"}, ValueError, "must be a Python identifier"),
        ],
    )
    def test_bad_arguments(
        self,
        state: State,
        engine: Any,
        metric: Any,
        kwargs: dict[str, Any],
        error: type,
        match: str,
    ) -> None:
        """A bad Metric argument raises at construction."""
        trainer = Engine(state, "trainer", lambda e, b: b, [1])
        if kwargs.pop("state", False):
            kwargs["state"] = state
        args = {"name": "acc"} | kwargs
        with pytest.raises(error, match=match):
            Metric(trainer if engine is None else engine, metric, **args)
        assert "trainer_acc" not in state.metrics

    def test_engine_by_name(self, state: State) -> None:
        """An engine can be named, with state=..."""
        trainer = Engine(state, "trainer", lambda e, b: b, [1])
        metric = Metric("trainer", Accuracy(), "acc", state=state)
        assert metric.engine is trainer
        assert state.metrics.trainer_acc_ref.path == "metrics.trainer_acc"

    def test_no_engines_yet(self, state: State) -> None:
        """With no engine at all the message says so."""
        with pytest.raises(ValueError, match=r"engines: none yet\); create the engine first"):
            Metric("trainer", Accuracy(), "acc", state=state)

    def test_metric_name_taken(self, state: State) -> None:
        """A second metric with the same name on the same engine is refused."""
        trainer = Engine(state, "trainer", lambda e, b: b, [1])
        Metric(trainer, Accuracy(), "acc")
        with pytest.raises(ValueError, match="trainer_acc"):
            Metric(trainer, Accuracy(), "acc")

    def test_same_name_on_two_engines(self, state: State) -> None:
        """The same metric name on two engines gives two variables."""
        a = Engine(state, "train_eval", lambda e, b: b, [1])
        b = Engine(state, "val_eval", lambda e, b: b, [1])
        Metric(a, Accuracy(), "acc")
        Metric(b, Accuracy(), "acc")
        assert {"train_eval_acc", "val_eval_acc"} <= set(state.metrics.variables())


class TestResume:
    """A metric's accumulation saved mid-epoch loads into a freshly built state and continues."""

    @staticmethod
    def build() -> tuple[State, Engine]:
        state = State()
        gen = torch.Generator().manual_seed(0)
        data = [
            (torch.rand(8, generator=gen), torch.randint(0, 2, (8,), generator=gen))
            for _ in range(5)
        ]
        engine = Engine(state, "e", lambda e, b: b, data)
        Metric(engine, ROC_AUC(), "roc_auc")
        Metric(engine, EpochMetric(lambda p, t: float((p * t).sum())), "weighted")
        return state, engine

    def test_epoch_metric(self, tmp_path: Path) -> None:
        """ROC_AUC and an EpochMetric keep one tensor per batch: saved after 3 of 5 batches,
        loaded into a fresh state (empty lists) and continued, they give the uninterrupted values."""
        ref_state, ref = self.build()
        ref.run()
        state, engine = self.build()
        state.on(engine.n_iteration_completed_ref, when=lambda n: n == 3)(engine.terminate)
        engine.run()
        path = tmp_path / "state.pt"
        torch.save(state.state_dict(), path)

        fresh_state, fresh = self.build()
        fresh_state.load_state_dict(torch.load(path, weights_only=True))
        fresh.run()
        assert fresh.n_iteration_completed == 5
        assert fresh_state.metrics.e_roc_auc == ref_state.metrics.e_roc_auc
        assert fresh_state.metrics.e_weighted == ref_state.metrics.e_weighted
        assert isinstance(ref_state.metrics.e_weighted, float)
