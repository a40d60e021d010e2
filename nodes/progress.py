"""``ProgressBar``: a tqdm bar per epoch of an engine, with chosen variables.

Only the terminal display lives here. The bar reads variables when it is
refreshed (every ``every`` iterations and at the end of an epoch), so a
tensor variable costs a host-device synchronisation only then.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import IO, Any

import torch

from nodes.engine import Engine
from nodes.ignite_names import speaks_ignite
from pipeline import Node, Ref, Variable

__all__ = ["ProgressBar", "format_value"]


def format_value(value: Any) -> str:
    """How a variable appears on the bar: numbers compact, one-element tensors as numbers.

    Example:
        >>> import torch
        >>> format_value(0.123456), format_value(torch.tensor(2.5)), format_value(7)
        ('0.1235', '2.5', '7')
    """
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            return f"tensor{list(value.shape)}"
        value = value.item()  # the one synchronisation, at refresh time only
    if isinstance(value, bool) or value is None:
        return str(value)
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    text = str(value)
    return text if len(text) <= 20 else text[:19] + "…"


@speaks_ignite
class ProgressBar(Node):
    """A tqdm progress bar per epoch of ``engine``, showing chosen variables.

    The description reads ``Epoch [e/max]``; the counter is the iteration in
    the epoch (of ``epoch_length`` when known); the postfix shows each variable
    as ``name=value``. The bar is refreshed every ``every`` iterations and at
    the end of each epoch, then closed; it is also closed when the run ends
    (terminated mid-epoch) or raises.

    Args:
        engine: the engine to follow.
        variables: Refs or paths of the variables to show, such as
            ``state.metrics.trainer_loss_ref``; shown by their name (the full
            path when two share a name).
        persist: keep each epoch's bar on screen after it closes.
        file: where to write (default: ``sys.stderr``).
        name: the node's name (default ``<engine>_progress_bar``).
        every: refresh every ``every`` iterations (fewer terminal writes, and
            fewer reads of tensor variables).

    Raises:
        TypeError: ``engine`` is not an Engine, a variable is not a Ref or path,
            or ``every`` is not an int.
        ValueError: ``every`` < 1.
        AttributeError: a path names no variable (with close names).

    Example:
        >>> import io
        >>> from pipeline import State
        >>> from nodes import Engine, ProgressBar
        >>> engine = Engine(State(), "trainer", lambda e, x: x * 0.5, [1.0, 2.0])
        >>> out = io.StringIO()
        >>> bar = ProgressBar(engine, [engine.output_ref], persist=True, file=out)
        >>> engine.run(max_epochs=2)
        >>> bar.postfix
        'output=1'
        >>> "Epoch [2/2]" in out.getvalue()
        True
    """

    postfix = Variable("", doc="the variables as last shown on the bar", persistent=False)
    n_bars_closed = Variable(
        0, doc="bars closed (one per epoch, and at a run's early end)", persistent=False
    )

    def __init__(
        self,
        engine: Engine,
        variables: Iterable[Ref | str] = (),
        persist: bool = False,
        file: IO[str] | None = None,
        name: str | None = None,
        every: int = 1,
    ) -> None:
        owner = f"ProgressBar '{name or 'progress_bar'}'"
        if not isinstance(engine, Engine):
            raise TypeError(
                f"{owner}: engine must be a statefire Engine, got {type(engine).__name__}"
            )
        if type(every) is not int:
            raise TypeError(f"{owner}: every must be a positive int, got {every!r}")
        if every < 1:
            raise ValueError(
                f"{owner}: every must be >= 1 (refresh every n iterations), got {every}"
            )
        if isinstance(variables, (str, Ref)) or not isinstance(variables, Iterable):
            raise TypeError(
                f"{owner}: variables must be a list of Refs or paths, got {variables!r} "
                "(wrap a single one in a list)"
            )
        if file is not None and not callable(getattr(file, "write", None)):
            raise TypeError(f"{owner}: file must have a write() method, got {type(file).__name__}")
        state = engine.state
        refs: list[Ref] = []
        for item in variables:
            if isinstance(item, str):
                refs.append(state.ref(item))
            elif isinstance(item, Ref):
                if item.state is not state:
                    raise ValueError(f"{owner}: {item!r} belongs to another State than the engine")
                refs.append(item)
            else:
                raise TypeError(
                    f"{owner}: each variable must be a Ref or a path such as "
                    f"'metrics.trainer_loss', got {type(item).__name__} {item!r}"
                )
        super().__init__(state, name or f"{engine.name}_progress_bar")
        names = [ref.name for ref in refs]
        self.engine = engine
        self.shown = [(ref.path if names.count(ref.name) > 1 else ref.name, ref) for ref in refs]
        self.persist = persist
        self.file = file
        self.every = every
        self.bar: Any = None
        if refs:
            self.declare_reads(*refs)
        engine.n_epoch_started_ref.subscribe(self._open)
        engine.n_iteration_completed_ref.subscribe(self._refresh, every=every)
        engine.n_epoch_completed_ref.subscribe(self._close_epoch)
        engine.n_run_completed_ref.subscribe(self.close)
        engine.exception_ref.subscribe(self.close)

    def _open(self) -> None:
        self.close()
        if self.file is None:
            from tqdm.auto import tqdm
        else:  # an explicit stream: the plain text bar, also in a notebook
            from tqdm import tqdm

        engine = self.engine
        self.bar = tqdm(
            total=engine.epoch_length,
            desc=f"Epoch [{engine.n_epoch_started}/{engine.max_epochs}]",
            leave=self.persist,
            file=self.file,
            dynamic_ncols=self.file is None,
        )

    def _refresh(self) -> None:
        if self.bar is None:  # resumed inside an epoch: no n_epoch_started event
            self._open()
        self._show(self.engine.n_iteration_in_epoch)

    def _show(self, in_epoch: int) -> None:
        self.bar.n = in_epoch
        if self.shown:
            self.postfix = ", ".join(
                f"{label}={format_value(ref.value)}" for label, ref in self.shown
            )
            self.bar.set_postfix_str(self.postfix, refresh=False)
        self.bar.refresh()

    def _close_epoch(self) -> None:
        if self.bar is None:
            return
        engine = self.engine
        if self.bar.total is None:  # the first epoch of data without len(): now it is known
            self.bar.total = engine.epoch_length
        self._show(engine.epoch_length or engine.n_iteration_completed)
        self.close()

    def close(self) -> None:
        """Close the open bar, if any (also called at the end of an epoch, a run, or on error)."""
        bar, self.bar = self.bar, None
        if bar is not None:
            bar.close()
            self.n_bars_closed += 1
