"""Tests of ``supervised_training``: the whole three-engine training built in one call."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader

from nodes import EarlyStopping, Evaluator, Metric, ProgressBar, Trainer, supervised_training
from pipeline import State

MakeMlp = Callable[..., nn.Module]
MakeLoader = Callable[..., DataLoader]


def build(state: State, make_mlp: MakeMlp, make_loader: MakeLoader, **kwargs: Any) -> State:
    """``supervised_training`` of a digits MLP, the bar written to a string."""
    model = make_mlp(0)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    kwargs.setdefault("progress_file", io.StringIO())
    return supervised_training(
        state,
        model,
        optimizer,
        nn.CrossEntropyLoss(),
        make_loader(0, 256),
        make_loader(1, 256, False),
        **kwargs,
    )


class TestBuild:
    """The call builds ordinary nodes of the state."""

    def test_three_engines_metrics_early_stopping_and_bar(
        self, state: State, make_mlp: MakeMlp, make_loader: MakeLoader
    ) -> None:
        """Trainer, two evaluators run each epoch, their metrics, early stopping and a bar."""
        assert build(state, make_mlp, make_loader, patience=2) is state
        assert isinstance(state.trainer, Trainer)
        assert isinstance(state.train_evaluator, Evaluator)
        assert isinstance(state.val_evaluator, Evaluator)
        assert isinstance(state.early_stopping, EarlyStopping)
        assert isinstance(state.trainer_progress_bar, ProgressBar)
        assert sorted(n for n in state.handlers.nodes() if n.endswith("_metric")) == [
            "train_evaluator_accuracy_metric",
            "train_evaluator_loss_metric",
            "trainer_loss_metric",
            "trainer_running_loss_metric",
            "val_evaluator_accuracy_metric",
            "val_evaluator_loss_metric",
        ]
        state.validate()
        state.trainer.run(max_epochs=2)
        assert state.val_evaluator.n_run_completed == 2
        assert state.train_evaluator.n_run_completed == 2
        assert 0.0 <= state.metrics.val_evaluator_accuracy <= 1.0
        assert state.early_stopping.best_score is not None

    def test_eval_every(self, state: State, make_mlp: MakeMlp, make_loader: MakeLoader) -> None:
        """eval_every=2 evaluates after every second trainer epoch."""
        build(state, make_mlp, make_loader, eval_every=2, progress=False)
        state.trainer.run(max_epochs=4)
        assert state.val_evaluator.n_run_completed == 2

    def test_no_train_evaluator_no_running_loss(
        self, state: State, make_mlp: MakeMlp, make_loader: MakeLoader
    ) -> None:
        """train_eval_loader=() leaves out the train evaluator; running_loss=False the running
        loss, train_loss=False the epoch's mean loss."""
        build(state, make_mlp, make_loader, train_eval_loader=(), running_loss=False)
        assert list(state.engines.nodes()) == ["trainer", "val_evaluator"]
        assert "trainer_running_loss" not in state.metrics and "trainer_loss" in state.metrics
        other = State()
        build(other, make_mlp, make_loader, train_loss=False, progress=False)
        assert "trainer_loss" not in other.metrics and "trainer_running_loss" in other.metrics

    def test_trainer_loss_is_the_mean_batch_loss_of_each_epoch(
        self, state: State, make_mlp: MakeMlp, make_loader: MakeLoader
    ) -> None:
        """state.metrics.trainer_loss is computed once per epoch: the mean of its batch losses."""
        build(state, make_mlp, make_loader, progress=False)
        losses: list[float] = []
        means: list[tuple[int, float]] = []
        trainer = state.trainer
        trainer.n_iteration_completed_ref.subscribe(lambda: losses.append(float(trainer.output)))
        state.metrics.trainer_loss_ref.subscribe(
            lambda event: means.append((trainer.n_iteration_completed, event.new))
        )
        trainer.run(max_epochs=2)
        n = trainer.epoch_length
        assert [i for i, _ in means] == [n, 2 * n]
        expected = [sum(losses[:n]) / n, sum(losses[n:]) / n]
        assert [m for _, m in means] == pytest.approx(expected, rel=1e-5)

    def test_each_evaluator_gets_its_own_metric(
        self, state: State, make_mlp: MakeMlp, make_loader: MakeLoader
    ) -> None:
        """The metrics given are copied per evaluator, never shared."""
        from ignite.metrics import Accuracy

        accuracy = Accuracy()
        build(state, make_mlp, make_loader, metrics={"accuracy": accuracy}, progress=False)
        used = [n.metric for n in state.handlers.nodes().values() if isinstance(n, Metric)]
        assert accuracy not in used
        assert len({id(m) for m in used}) == len(used)


class TestBadArguments:
    """Bad arguments are refused before anything is built."""

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"patience": 2, "score": "f1"}, ValueError, "'f1', which is not among the metrics"),
            ({"eval_every": 0}, ValueError, "eval_every must be a positive integer.*got 0"),
            ({"eval_every": -1}, ValueError, "eval_every must be a positive integer.*got -1"),
            ({"eval_every": 1.5}, ValueError, "eval_every must be a positive integer.*got 1.5"),
        ],
    )
    def test_refused(
        self,
        state: State,
        make_mlp: MakeMlp,
        make_loader: MakeLoader,
        kwargs: dict[str, Any],
        error: type,
        match: str,
    ) -> None:
        """Each bad argument gets its message and leaves the state empty."""
        with pytest.raises(error, match=match):
            build(state, make_mlp, make_loader, **kwargs)
        assert state.engines.nodes() == {}
