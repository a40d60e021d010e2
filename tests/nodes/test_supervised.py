"""Tests of ``nodes.Trainer`` and ``nodes.Evaluator``: the same steps as ignite's
``create_supervised_trainer`` / ``create_supervised_evaluator``, their outputs, and their
argument errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from ignite.engine import Events, create_supervised_evaluator, create_supervised_trainer
from torch import nn
from torch.utils.data import DataLoader

from nodes import Evaluator, Trainer, prepare_batch, to_device
from pipeline import State

MakeMlp = Callable[..., nn.Module]
MakeLoader = Callable[..., DataLoader]


def sgd(model: nn.Module) -> torch.optim.Optimizer:
    """The optimizer of these tests: SGD with momentum, so that its state matters too."""
    return torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.5)


def ignite_training(
    make_mlp: MakeMlp, make_loader: MakeLoader, max_epochs: int = 2, **kwargs: Any
) -> tuple[nn.Module, list[float]]:
    """Train with ignite's create_supervised_trainer; return the model and the per-iteration losses."""
    model = make_mlp(0)
    trainer = create_supervised_trainer(model, sgd(model), nn.CrossEntropyLoss(), **kwargs)
    losses: list[float] = []
    trainer.add_event_handler(Events.ITERATION_COMPLETED, lambda e: losses.append(e.state.output))
    trainer.run(make_loader(1), max_epochs=max_epochs)
    return model, losses


def statefire_training(
    make_mlp: MakeMlp, make_loader: MakeLoader, max_epochs: int = 2, **kwargs: Any
) -> tuple[nn.Module, list[torch.Tensor]]:
    """Train with statefire's Trainer; return the model and the per-iteration outputs."""
    model = make_mlp(0)
    state = State()
    trainer = Trainer(
        state, "trainer", model, sgd(model), nn.CrossEntropyLoss(), make_loader(1), **kwargs
    )
    outputs: list[torch.Tensor] = []
    trainer.n_iteration_completed_ref.subscribe(lambda: outputs.append(trainer.output))
    trainer.run(max_epochs=max_epochs)
    return model, outputs


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    """Every parameter and buffer of ``a`` and ``b`` is bitwise equal."""
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


class TestTrainerMatchesIgnite:
    """Trainer performs exactly the operations of ignite's create_supervised_trainer."""

    def test_two_epochs_same_weights(self, make_mlp: MakeMlp, make_loader: MakeLoader) -> None:
        """Two epochs on digits from the same seed and data order give bitwise equal weights."""
        ours, outputs = statefire_training(make_mlp, make_loader)
        theirs, losses = ignite_training(make_mlp, make_loader)
        assert len(outputs) == len(losses) == 2 * 29
        assert_same_weights(ours, theirs)
        assert [o.item() for o in outputs] == losses
        assert not torch.equal(ours[0].weight, make_mlp(0)[0].weight)  # it did train

    def test_gradient_accumulation_same_weights(
        self, make_mlp: MakeMlp, make_loader: MakeLoader
    ) -> None:
        """gradient_accumulation_steps=3 gives the same weights and losses as ignite's."""
        ours, outputs = statefire_training(make_mlp, make_loader, gradient_accumulation_steps=3)
        theirs, losses = ignite_training(make_mlp, make_loader, gradient_accumulation_steps=3)
        assert_same_weights(ours, theirs)
        assert [o.item() for o in outputs] == losses
        plain, _ = ignite_training(make_mlp, make_loader)
        assert not torch.equal(ours[0].weight, plain[0].weight)

    def test_same_weights_with_device_and_transforms(
        self, make_mlp: MakeMlp, make_loader: MakeLoader
    ) -> None:
        """device, prepare_batch, model_transform and model_fn are used as ignite uses them."""
        kwargs: dict[str, Any] = {
            "device": "cpu",
            "prepare_batch": lambda batch, device, non_blocking: (batch[0] * 2, batch[1]),
            "model_transform": lambda output: output / 2,
            "model_fn": lambda model, x: model(x + 1),
        }
        ours, outputs = statefire_training(make_mlp, make_loader, max_epochs=1, **kwargs)
        theirs, losses = ignite_training(make_mlp, make_loader, max_epochs=1, **kwargs)
        assert_same_weights(ours, theirs)
        assert [o.item() for o in outputs] == losses

    @pytest.mark.skipif(
        not torch.cuda.is_available(), reason="AMP with a gradient scaler needs CUDA"
    )
    def test_amp_with_scaler_same_weights(self, make_mlp: MakeMlp, make_loader: MakeLoader) -> None:
        """On CUDA, amp=True with a scaler matches ignite's amp_mode='amp', scaler=True."""
        model = make_mlp(0).cuda()
        state = State()
        trainer = Trainer(
            state, "trainer", model, sgd(model), nn.CrossEntropyLoss(), make_loader(1),
            device="cuda", amp=True, scaler=True,
        )  # fmt: skip
        trainer.run(max_epochs=1)
        other = make_mlp(0).cuda()
        ignite_trainer = create_supervised_trainer(
            other, sgd(other), nn.CrossEntropyLoss(), device="cuda", amp_mode="amp", scaler=True
        )
        ignite_trainer.run(make_loader(1), max_epochs=1)
        assert_same_weights(model, other)


class TestTrainerOutput:
    """The trainer's output is the detached loss tensor."""

    def test_output_is_detached_0d_tensor(self, make_mlp: MakeMlp, make_loader: MakeLoader) -> None:
        """Each output is a 0-d float tensor without grad, not a Python float."""
        _, outputs = statefire_training(make_mlp, make_loader, max_epochs=1)
        for output in outputs:
            assert isinstance(output, torch.Tensor)
            assert output.shape == ()
            assert output.dtype == torch.float32
            assert not output.requires_grad and output.grad_fn is None
        assert len({id(o) for o in outputs}) == len(outputs)  # a new tensor every iteration

    def test_output_with_accumulation_is_the_undivided_loss(
        self, state: State, make_mlp: MakeMlp, digits: Any
    ) -> None:
        """With gradient accumulation the output is the batch loss, not the loss divided by n."""
        model = make_mlp(0)
        x, y = digits.tensors
        batch = (x[:16], y[:16])
        expected = nn.CrossEntropyLoss()(model(x[:16]), y[:16]).detach()
        trainer = Trainer(
            state, "trainer", model, sgd(model), nn.CrossEntropyLoss(), [batch],
            gradient_accumulation_steps=4,
        )  # fmt: skip
        trainer.run()
        assert torch.allclose(trainer.output, expected, rtol=0, atol=1e-6)
        assert trainer.output.shape == ()

    def test_output_transform(self, state: State, make_mlp: MakeMlp, digits: Any) -> None:
        """output_transform receives (x, y, y_pred, loss) and its result is the output."""
        model = make_mlp(0)
        x, y = digits.tensors
        seen: dict[str, Any] = {}

        def transform(x: Any, y: Any, y_pred: Any, loss: Any) -> str:
            seen.update(x=x, y=y, y_pred=y_pred, loss=loss)
            return "done"

        trainer = Trainer(
            state, "trainer", model, sgd(model), nn.CrossEntropyLoss(), [(x[:8], y[:8])],
            output_transform=transform,
        )  # fmt: skip
        trainer.run()
        assert trainer.output == "done"
        assert torch.equal(seen["x"], x[:8]) and torch.equal(seen["y"], y[:8])
        assert seen["y_pred"].shape == (8, 10)
        assert seen["loss"].requires_grad

    def test_model_and_optimizer_join_the_state(self, state: State, make_mlp: MakeMlp) -> None:
        """The model and optimizer are added to state.modules/optimizers once, and reused."""
        model = make_mlp(0)
        optimizer = sgd(model)
        state.modules.net = model
        trainer = Trainer(state, "trainer", model, optimizer, nn.CrossEntropyLoss(), [1])
        evaluator = Evaluator(state, "evaluator", model, [1])
        assert trainer.model_ref.path == evaluator.model_ref.path == "modules.net"
        assert trainer.optimizer_ref.path == "optimizers.optimizer"
        assert state.optimizers.optimizer is optimizer


class TestTrainerRunOn:
    """A trainer can be started by another engine's variable, as an evaluator is."""

    def test_second_training_follows_the_first(self, state: State, make_mlp: MakeMlp) -> None:
        """Each run of the first trainer starts a run of max_epochs epochs of the second,
        and the graph shows the trigger."""
        x, y = torch.randn(8, 64), torch.arange(8) % 10
        first_model, second_model = make_mlp(0), make_mlp(1)
        first = Trainer(
            state, "first", first_model, sgd(first_model), nn.CrossEntropyLoss(), [(x, y)]
        )
        second = Trainer(
            state, "second", second_model, sgd(second_model), nn.CrossEntropyLoss(), [(x, y)] * 2,
            max_epochs=3, run_on=first.n_run_completed_ref,
        )  # fmt: skip
        seen: list[tuple[int, int]] = []
        second.n_run_completed_ref.subscribe(
            lambda: seen.append((first.n_run_completed, second.n_iteration_completed))
        )
        first.run(max_epochs=2)
        assert seen == [(1, 6)]  # a run of 3 epochs of 2 iterations
        first.run(max_epochs=1)
        assert seen == [(1, 6), (2, 6)]
        assert second.n_run_completed == 2 and second.n_samples == 96
        assert state.graph.has_edge("engines.first.n_run_completed", "engines.second")

    def test_filters_apply(self, state: State, make_mlp: MakeMlp) -> None:
        """once= limits the triggered runs as it does for an Engine."""
        x, y = torch.randn(4, 64), torch.arange(4)
        models = make_mlp(0), make_mlp(1)
        first = Trainer(state, "first", models[0], sgd(models[0]), nn.CrossEntropyLoss(), [(x, y)])
        second = Trainer(
            state, "second", models[1], sgd(models[1]), nn.CrossEntropyLoss(), [(x, y)],
            run_on=first.n_epoch_completed_ref, once=2,
        )  # fmt: skip
        first.run(max_epochs=3)
        assert second.n_run_completed == 1


class TestEvaluatorMatchesIgnite:
    """Evaluator performs exactly the operations of ignite's create_supervised_evaluator."""

    def test_same_outputs(self, state: State, make_mlp: MakeMlp, make_loader: MakeLoader) -> None:
        """Per iteration, the (y_pred, y) outputs are bitwise equal to ignite's."""
        model = make_mlp(0)
        evaluator = Evaluator(state, "evaluator", model, make_loader(2, batch_size=256))
        ours: list[Any] = []
        evaluator.output_ref.subscribe(lambda ev: ours.append(ev.new))
        evaluator.run()
        ignite_evaluator = create_supervised_evaluator(model)
        theirs: list[Any] = []
        ignite_evaluator.add_event_handler(
            Events.ITERATION_COMPLETED, lambda e: theirs.append(e.state.output)
        )
        ignite_evaluator.run(make_loader(2, batch_size=256))
        assert len(ours) == len(theirs) == 8
        for (y_pred, y), (their_pred, their_y) in zip(ours, theirs, strict=True):
            assert torch.equal(y_pred, their_pred) and torch.equal(y, their_y)
            assert not y_pred.requires_grad
        assert evaluator.n_samples == 1797

    def test_eval_mode_and_no_grad(self, state: State, digits: Any) -> None:
        """The model runs in eval mode (dropout off) without building a graph."""
        torch.manual_seed(0)
        model = nn.Sequential(nn.Dropout(0.5), nn.Linear(64, 10))
        x, y = digits.tensors
        evaluator = Evaluator(state, "evaluator", model, [(x[:32], y[:32])])
        evaluator.run()
        y_pred, _ = evaluator.output
        assert not model.training
        assert torch.equal(y_pred, model[1](x[:32]).detach())
        assert y_pred.grad_fn is None

    def test_output_transform(self, state: State, make_mlp: MakeMlp, digits: Any) -> None:
        """The evaluator's output_transform receives (x, y, y_pred)."""
        x, y = digits.tensors
        evaluator = Evaluator(
            state, "evaluator", make_mlp(0), [(x[:4], y[:4])],
            output_transform=lambda x, y, y_pred: y_pred.argmax(1),
        )  # fmt: skip
        evaluator.run()
        assert evaluator.output.shape == (4,)


class TestPrepareBatch:
    """The default batch preparation."""

    def test_to_device_keeps_containers(self) -> None:
        """to_device moves tensors inside lists, tuples and dicts, keeping their types."""
        data = {"a": [torch.zeros(1)], "b": (torch.ones(2), 3)}
        moved = to_device(data, "cpu")
        assert type(moved["a"]) is list and type(moved["b"]) is tuple
        assert torch.equal(moved["b"][0], torch.ones(2)) and moved["b"][1] == 3
        assert to_device(data, None) is data

    def test_prepare_batch_needs_pairs(self) -> None:
        """A batch that is not an (x, y) pair gets an error that says what to pass."""
        with pytest.raises(ValueError, match="expects \\(x, y\\) batches, got tuple of length 3"):
            prepare_batch((1, 2, 3))
        with pytest.raises(ValueError, match=r"got Tensor; pass prepare_batch=\.\.\."):
            prepare_batch(torch.tensor(1.0))


class TestArguments:
    """Bad arguments of Trainer and Evaluator."""

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"model": "net"}, TypeError, "Trainer 'trainer': model must be a torch.nn.Module"),
            ({"optimizer": "sgd"}, TypeError, "optimizer must be a torch.optim.Optimizer, got str"),
            ({"loss_fn": 1.0}, TypeError, r"loss_fn must be callable as loss_fn\(y_pred, y\)"),
            (
                {"gradient_accumulation_steps": 0},
                ValueError,
                "gradient_accumulation_steps must be a positive integer .*got 0",
            ),
            ({"gradient_accumulation_steps": 2.0}, ValueError, "gradient_accumulation_steps"),
            ({"max_epochs": 0}, ValueError, "max_epochs must be a positive integer, got 0"),
            ({"scaler": True}, ValueError, "a gradient scaler needs a CUDA device"),
            ({"dataloader": []}, ValueError, "the dataloader is empty"),
            ({"dataloader": iter([1])}, TypeError, "an iterator is exhausted"),
        ],
    )
    def test_bad_trainer_arguments(
        self, state: State, make_mlp: MakeMlp, kwargs: dict[str, Any], error: type, match: str
    ) -> None:
        """A bad Trainer argument raises at construction."""
        model = make_mlp(0)
        args = {
            "model": model,
            "optimizer": sgd(model),
            "loss_fn": nn.CrossEntropyLoss(),
            "dataloader": [1],
        } | kwargs
        with pytest.raises(error, match=match):
            Trainer(state, "trainer", **args)

    def test_failed_trainer_leaves_no_trace(self, state: State, make_mlp: MakeMlp) -> None:
        """A Trainer refused for a bad argument registers nothing in the state."""
        model = make_mlp(0)
        with pytest.raises(ValueError):
            Trainer(state, "trainer", model, sgd(model), nn.CrossEntropyLoss(), [], max_epochs=1)
        assert "trainer" not in state.engines
        assert len(state.modules) == len(state.optimizers) == 0

    def test_trainer_name_taken(self, state: State, make_mlp: MakeMlp) -> None:
        """A second engine named 'trainer' is refused."""
        model = make_mlp(0)
        Trainer(state, "trainer", model, sgd(model), nn.CrossEntropyLoss(), [1])
        with pytest.raises(ValueError, match="trainer"):
            Evaluator(state, "trainer", model, [1])

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            (
                {"model": object()},
                TypeError,
                "Evaluator 'evaluator': model must be a torch.nn.Module",
            ),
            ({"run_on": 3}, TypeError, "run_on must be a Ref"),
            ({"dataloader": []}, ValueError, "the dataloader is empty"),
            ({"every": 0, "run_on": "ref"}, ValueError, "every must be a positive integer"),
        ],
    )
    def test_bad_evaluator_arguments(
        self, state: State, make_mlp: MakeMlp, kwargs: dict[str, Any], error: type, match: str
    ) -> None:
        """A bad Evaluator argument raises at construction."""
        state.configs.epoch = 0
        if kwargs.get("run_on") == "ref":
            kwargs["run_on"] = state.configs.epoch_ref
        args = {"model": make_mlp(0), "dataloader": [1]} | kwargs
        with pytest.raises(error, match=match):
            Evaluator(state, "evaluator", **args)
