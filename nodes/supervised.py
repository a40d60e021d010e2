"""``Trainer`` and ``Evaluator``: engines with the supervised step.

The steps perform exactly the operations of pytorch-ignite's
``create_supervised_trainer`` / ``create_supervised_evaluator``, in the same
order (zero_grad on the first iteration of an accumulation window, train
mode, prepare the batch, forward, loss, scaled by the accumulation steps,
backward, step on the last iteration of the window), so the same seed and
data order give the same weights. Differences, on purpose: the trainer's
default output is the detached loss *tensor* (ignite calls ``loss.item()``,
a host-device synchronisation per iteration), and AMP uses the device's own
autocast (``cuda`` float16 with a gradient scaler, ``cpu`` bfloat16 without).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch

from nodes.distributed import ensure_distributed
from nodes.engine import Engine
from nodes.rng import ensure_random_states
from pipeline import Container, Ref, State

__all__ = ["Evaluator", "Trainer", "prepare_batch", "to_device", "unwrap_model"]


def to_device(data: Any, device: torch.device | str | None, non_blocking: bool = False) -> Any:
    """Move tensors (also inside lists, tuples and dicts) to ``device``; None leaves them."""
    if device is None:
        return data
    if isinstance(data, torch.Tensor):
        return data.to(device=device, non_blocking=non_blocking)
    if isinstance(data, Mapping):
        return type(data)({k: to_device(v, device, non_blocking) for k, v in data.items()})  # type: ignore[call-arg]
    if isinstance(data, (list, tuple)):
        moved = [to_device(v, device, non_blocking) for v in data]
        return type(data)(moved) if not hasattr(data, "_fields") else type(data)(*moved)
    return data


def prepare_batch(
    batch: Sequence[Any], device: torch.device | str | None = None, non_blocking: bool = False
) -> tuple[Any, Any]:
    """Split a ``(x, y)`` batch and move both to ``device``."""
    try:
        x, y = batch
    except (TypeError, ValueError):
        try:
            length = f" of length {len(batch)}"
        except TypeError:  # no len(), or one that refuses (a 0-d tensor)
            length = ""
        raise ValueError(
            f"the default prepare_batch expects (x, y) batches, got {type(batch).__name__}"
            f"{length}; pass prepare_batch=... to split your batches"
        ) from None
    return to_device(x, device, non_blocking), to_device(y, device, non_blocking)


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The module inside a DistributedDataParallel or DataParallel wrapper (else ``model``)."""
    wrappers = (torch.nn.parallel.DistributedDataParallel, torch.nn.DataParallel)
    return model.module if isinstance(model, wrappers) else model


def _adopt(container: Container, obj: object, default: str) -> Ref:
    """The Ref of ``obj`` in ``container``, adding it under a free name when absent.

    A model wrapped for data parallelism is kept unwrapped in the state, so a
    checkpoint holds the plain module's weights and loads in any world size.
    """
    if isinstance(obj, torch.nn.Module):
        obj = unwrap_model(obj)
    for name, value in Container.variables(container).items():
        if value is obj:
            return getattr(container, f"{name}_ref")  # type: ignore[no-any-return]
    name, n = default, 2
    while name in container:
        name, n = f"{default}_{n}", n + 1
    return container.add_variable(name, obj, doc=f"added by {default}")


def _check_model(owner: str, model: object) -> None:
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{owner}: model must be a torch.nn.Module, got {type(model).__name__}")


def _autocast(device: torch.device | str | None, enabled: bool) -> Any:
    if not enabled:
        return contextlib.nullcontext()
    kind = torch.device(device).type if device is not None else "cpu"
    return torch.autocast(device_type=kind)


class Trainer(Engine):
    """An engine whose step trains ``model`` with ``optimizer`` on ``loss_fn``.

    Args:
        state: the state to join.
        name: the engine's name, e.g. ``"trainer"``.
        model: the model (added to ``state.modules`` if not there).
        optimizer: its optimizer (added to ``state.optimizers`` if not there).
        loss_fn: ``loss_fn(y_pred, y) -> loss tensor``.
        dataloader: the training data.
        device: where batches go (the model is not moved, as in ignite).
        non_blocking: asynchronous host-to-device copies.
        prepare_batch: ``prepare_batch(batch, device, non_blocking) -> (x, y)``.
        model_transform: turns the model's output into ``y_pred``.
        output_transform: ``(x, y, y_pred, loss) -> output``; default: the detached loss tensor.
        gradient_accumulation_steps: optimizer step every n iterations.
        amp: run forward and loss under autocast.
        scaler: a ``torch.amp.GradScaler``; ``True`` creates one (CUDA only).
        model_fn: ``model_fn(model, x) -> output``.
        max_epochs: default for ``run``.
        run_on: a Ref that starts a run of ``max_epochs`` epochs (with
            ``every``/``once``/``when``), e.g. ``state.pretrainer.n_run_completed_ref``
            for a training that follows another one.
    """

    def __init__(
        self,
        state: State,
        name: str,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        loss_fn: Callable[[Any, Any], torch.Tensor],
        dataloader: Iterable[Any],
        device: torch.device | str | None = None,
        *,
        non_blocking: bool = False,
        prepare_batch: Callable[..., tuple[Any, Any]] = prepare_batch,
        model_transform: Callable[[Any], Any] = lambda output: output,
        output_transform: Callable[[Any, Any, Any, torch.Tensor], Any] | None = None,
        gradient_accumulation_steps: int = 1,
        amp: bool = False,
        scaler: torch.amp.GradScaler | bool = False,
        model_fn: Callable[[torch.nn.Module, Any], Any] = lambda model, x: model(x),
        max_epochs: int = 1,
        run_on: Ref | None = None,
        every: int | None = None,
        once: int | None = None,
        when: Callable[[Any], Any] | None = None,
    ) -> None:
        owner = f"Trainer '{name}'"
        _check_model(owner, model)
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(
                f"{owner}: optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}"
            )
        if not callable(loss_fn):
            raise TypeError(
                f"{owner}: loss_fn must be callable as loss_fn(y_pred, y), got {loss_fn!r}"
            )
        if type(gradient_accumulation_steps) is not int or gradient_accumulation_steps < 1:
            raise ValueError(
                f"{owner}: gradient_accumulation_steps must be a positive integer (1: no accumulation), "
                f"got {gradient_accumulation_steps!r}"
            )
        if scaler is True:
            kind = torch.device(device).type if device is not None else "cpu"
            if kind != "cuda":
                raise ValueError(
                    f"{owner}: a gradient scaler needs a CUDA device, got device={device!r}"
                )
            scaler = torch.amp.GradScaler(kind)
        self.model = model
        self.optimizer = optimizer
        self.loss_fn = loss_fn
        self.device = device
        self.non_blocking = non_blocking
        self.prepare_batch = prepare_batch
        self.model_transform = model_transform
        self.output_transform = output_transform
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.amp = amp
        self.scaler = scaler or None
        self.model_fn = model_fn
        super().__init__(
            state,
            name,
            Trainer._step,
            dataloader,
            max_epochs=max_epochs,
            run_on=run_on,
            every=every,
            once=once,
            when=when,
        )
        self.model_ref = _adopt(state.modules, model, "model")
        self.optimizer_ref = _adopt(state.optimizers, optimizer, "optimizer")
        self.declare_writes(self.model_ref, self.optimizer_ref)
        ensure_random_states(state)  # training draws random numbers: they belong to the state
        ensure_distributed(state)

    @staticmethod
    def _step(engine: Engine, batch: Any) -> Any:
        self: Trainer = engine  # type: ignore[assignment]
        steps = self.gradient_accumulation_steps
        iteration = self.n_iteration_started
        if (iteration - 1) % steps == 0:
            self.optimizer.zero_grad()
        self.model.train()
        x, y = self.prepare_batch(batch, device=self.device, non_blocking=self.non_blocking)
        with _autocast(self.device, self.amp):
            output = self.model_fn(self.model, x)
            y_pred = self.model_transform(output)
            loss = self.loss_fn(y_pred, y)
            if steps > 1:
                loss = loss / steps
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            if iteration % steps == 0:
                self.scaler.step(self.optimizer)
                self.scaler.update()
        else:
            loss.backward()
            if iteration % steps == 0:
                self.optimizer.step()
        full = loss * steps if steps > 1 else loss
        if self.output_transform is None:
            return full.detach()
        return self.output_transform(x, y, y_pred, full)


class Evaluator(Engine):
    """An engine whose step evaluates ``model`` without gradients; output ``(y_pred, y)``.

    Args:
        state: the state to join.
        name: the engine's name, e.g. ``"val_evaluator"``.
        model: the model (added to ``state.modules`` if not there).
        dataloader: the evaluation data.
        run_on: a Ref that makes it run (with ``every``/``once``/``when``), e.g.
            ``state.trainer.n_epoch_completed_ref``.
        device, non_blocking, prepare_batch, model_transform, model_fn: as for ``Trainer``.
        output_transform: ``(x, y, y_pred) -> output``; default ``(y_pred, y)``.
        amp: run the forward under autocast.
    """

    def __init__(
        self,
        state: State,
        name: str,
        model: torch.nn.Module,
        dataloader: Iterable[Any],
        run_on: Ref | None = None,
        device: torch.device | str | None = None,
        *,
        every: int | None = None,
        once: int | None = None,
        when: Callable[[Any], Any] | None = None,
        non_blocking: bool = False,
        prepare_batch: Callable[..., tuple[Any, Any]] = prepare_batch,
        model_transform: Callable[[Any], Any] = lambda output: output,
        output_transform: Callable[[Any, Any, Any], Any] = lambda x, y, y_pred: (y_pred, y),
        amp: bool = False,
        model_fn: Callable[[torch.nn.Module, Any], Any] = lambda model, x: model(x),
    ) -> None:
        _check_model(f"Evaluator '{name}'", model)
        self.model = model
        self.device = device
        self.non_blocking = non_blocking
        self.prepare_batch = prepare_batch
        self.model_transform = model_transform
        self.output_transform = output_transform
        self.amp = amp
        self.model_fn = model_fn
        super().__init__(
            state,
            name,
            Evaluator._step,
            dataloader,
            run_on=run_on,
            every=every,
            once=once,
            when=when,
        )
        self.model_ref = _adopt(state.modules, model, "model")
        self.declare_reads(self.model_ref)
        ensure_distributed(state)

    @staticmethod
    def _step(engine: Engine, batch: Any) -> Any:
        self: Evaluator = engine  # type: ignore[assignment]
        self.model.eval()
        with torch.no_grad():
            x, y = self.prepare_batch(batch, device=self.device, non_blocking=self.non_blocking)
            with _autocast(self.device, self.amp):
                output = self.model_fn(self.model, x)
            y_pred = self.model_transform(output)
            return self.output_transform(x, y, y_pred)
