"""Composed pipelines: a whole multi-engine training built on a state in one call.

Everything it builds is an ordinary node of the state (reachable, replaceable,
drawn in the graph); the function only saves the typing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import IO, Any

import torch

from nodes.handlers import EarlyStopping
from nodes.metric import Metric
from nodes.progress import ProgressBar
from nodes.supervised import Evaluator, Trainer
from pipeline import State

__all__ = ["supervised_training"]


def supervised_training(
    state: State,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable[[Any, Any], torch.Tensor],
    train_loader: Iterable[Any],
    val_loader: Iterable[Any],
    *,
    metrics: Mapping[str, Any] | None = None,
    train_eval_loader: Iterable[Any] | None = None,
    device: torch.device | str | None = None,
    eval_every: int = 1,
    train_loss: bool = True,
    running_loss: bool = True,
    patience: int | None = None,
    score: str = "accuracy",
    score_mode: str = "max",
    progress: bool = True,
    progress_file: IO[str] | None = None,
    trainer_kwargs: Mapping[str, Any] | None = None,
) -> State:
    """Build a trainer, a train evaluator and a validation evaluator with metrics on ``state``.

    Creates ``state.trainer`` (a ``Trainer``), ``state.train_evaluator``
    and ``state.val_evaluator`` (``Evaluator``\\ s run every ``eval_every``
    trainer epochs), one ``Metric`` per entry of ``metrics`` on each
    evaluator (``state.metrics.val_evaluator_accuracy``, ...), the trainer's
    mean loss of each epoch (``state.metrics.trainer_loss``, the series to
    compare with the evaluators' losses) and its running average loss
    (``state.metrics.trainer_running_loss``, updated every iteration and shown
    by the progress bar), early stopping on the validation ``score`` and a
    progress bar, as asked.

    Args:
        state: the state to build on.
        model, optimizer, loss_fn: what the trainer trains.
        train_loader, val_loader: training and validation data.
        metrics: name -> ignite metric (each evaluator gets its own copy);
            default accuracy and the loss.
        train_eval_loader: data of the train evaluator (default ``train_loader``);
            pass an empty tuple ``()`` to have no train evaluator.
        device: where batches go.
        eval_every: evaluate every n trainer epochs.
        train_loss: add ``state.metrics.trainer_loss``, the mean batch loss of each epoch.
        running_loss: add ``state.metrics.trainer_running_loss``, a running average of
            the loss, computed every iteration.
        patience: early stopping after that many evaluations without improvement (None: off).
        score: the validation metric early stopping watches.
        score_mode: ``"max"`` or ``"min"``.
        progress: show a progress bar for the trainer.
        progress_file: where the bar writes (default stderr).
        trainer_kwargs: more keyword arguments for ``Trainer``.

    Returns:
        The same ``state``, with everything added.

    Raises:
        ValueError: ``score`` is not one of the metrics, or an argument is invalid.

    Example:
        >>> state = supervised_training(State(), model, optimizer, nn.NLLLoss(),  # doctest: +SKIP
        ...                             train_loader, val_loader, patience=3)
        >>> state.trainer.run(max_epochs=10)  # doctest: +SKIP
    """
    from ignite.metrics import Accuracy, Average, Loss, RunningAverage

    if metrics is None:
        metrics = {"accuracy": Accuracy(), "loss": Loss(loss_fn)}
    if type(eval_every) is not int or eval_every < 1:
        raise ValueError(
            f"eval_every must be a positive integer (evaluate every n trainer epochs), "
            f"got {eval_every!r}"
        )
    if patience is not None and score not in metrics:
        raise ValueError(
            f"early stopping watches the validation metric {score!r}, which is not among the "
            f"metrics {sorted(metrics)}; pass score=one of them"
        )
    trainer = Trainer(
        state, "trainer", model, optimizer, loss_fn, train_loader, device, **(trainer_kwargs or {})
    )
    if train_loss:
        Metric(trainer, Average(output_transform=lambda loss: loss), "loss")
    if running_loss:
        Metric(
            trainer,
            RunningAverage(output_transform=lambda loss: loss),
            "running_loss",
            usage="running",
        )
    loaders = {"val_evaluator": val_loader}
    if train_eval_loader != ():
        loaders = {"train_evaluator": train_eval_loader or train_loader, **loaders}
    for name, loader in loaders.items():
        evaluator = Evaluator(
            state,
            name,
            model,
            loader,
            run_on=trainer.n_epoch_completed_ref,
            device=device,
            every=eval_every if eval_every > 1 else None,
        )
        for metric_name, metric in metrics.items():
            Metric(evaluator, copy.deepcopy(metric), metric_name)
    if patience is not None:
        EarlyStopping(
            state,
            getattr(state.metrics, f"val_evaluator_{score}_ref"),
            patience,
            trainer,
            mode=score_mode,
        )
    if progress:
        shown = [state.metrics.trainer_running_loss_ref] if running_loss else []
        ProgressBar(trainer, shown, file=progress_file)
    return state
