"""``Engine``: a transition of the state that loops over data.

It writes its variables in a fixed order (``n_run_started``; per epoch
``n_epoch_started``; per iteration ``n_iteration_started``, ``batch``,
``output``, ``n_samples``, ``n_iteration_completed``; then
``n_epoch_completed``; ``n_run_completed``) and nothing else happens in it:
metrics, logging and checkpoints are subscribers. The loop never turns a
tensor into a Python number (no ``.item()``, no host-device synchronisation).

Data, as in ignite: one iterator is carried from epoch to epoch within a run
and a new one is made only when it is exhausted, so an epoch shorter than the
data (``run(epoch_length=k)``, or a ``len()`` that says less than the data
holds) continues where the previous epoch stopped, and a sampler's draw on
exhaustion happens when ignite's does (the same seed gives the same order).
A ``len()`` that disagrees with the batches the data yields is reported.

Resume: the engine saves, in its own ``state_dict``, the RNG state its current
data iterator was created with and how many of its batches completed an
iteration, so a run loaded anywhere re-creates the same (shuffled) order and
skips the batches already done.
"""

from __future__ import annotations

import inspect
import itertools
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import torch

import nodes.ignite_names  # noqa: F401  (registers the ignite-habit note of subscriber errors)
from nodes import resume
from pipeline import Node, Ref, State, Variable

__all__ = ["Engine", "batch_size"]


ProcessFn = Callable[["Engine", Any], Any]


def batch_size(batch: Any) -> int:
    """The first dimension of the first tensor in ``batch`` (0 when there is none).

    Reads ``shape`` only, which lives on the host: no synchronisation.
    """
    if isinstance(batch, torch.Tensor):
        shape = batch.shape  # one C call where dim() and shape were two: ~15% faster
        return int(shape[0]) if shape else 1
    if isinstance(batch, (list, tuple)):
        for item in batch:
            n = batch_size(item)
            if n:
                return n
        return 0
    if isinstance(batch, Mapping):
        for item in batch.values():
            n = batch_size(item)
            if n:
                return n
    return 0


def _check_positive(name: str, value: object, allow_none: bool = True) -> None:
    if value is None and allow_none:
        return
    if type(value) is not int or value < 1:
        raise ValueError(
            f"{name} must be a positive integer{' or None' if allow_none else ''}, got {value!r}"
        )


def _check_process_fn(process_fn: object, owner: str) -> None:
    if not callable(process_fn):
        raise TypeError(
            f"{owner}: process_fn must be callable as process_fn(engine, batch), got {process_fn!r}"
        )
    try:
        inspect.signature(process_fn).bind(None, None)
    except TypeError:
        raise TypeError(
            f"{owner}: process_fn {getattr(process_fn, '__qualname__', process_fn)!r} must accept "
            "two arguments (engine, batch)"
        ) from None
    except ValueError:  # no signature (a builtin): accept it
        pass


def _check_dataloader(owner: str, dataloader: object) -> None:
    if not isinstance(dataloader, Iterable) or isinstance(dataloader, Iterator):
        raise TypeError(
            f"{owner}: dataloader must be re-iterable (a DataLoader, a list, ...), "
            f"got {type(dataloader).__name__}"
            + (
                " (an iterator is exhausted after one epoch; pass the iterable)"
                if isinstance(dataloader, Iterator)
                else ""
            )
        )
    if hasattr(dataloader, "__len__") and len(dataloader) == 0:
        raise ValueError(f"{owner}: the dataloader is empty (len 0); give it at least one batch")


class Engine(Node):
    """An engine: runs ``process_fn(engine, batch)`` over ``dataloader``, epoch after epoch.

    Args:
        state: the state to join (registered under ``state.engines``).
        name: the engine's name (``state.<name>`` when unique).
        process_fn: ``process_fn(engine, batch) -> output``.
        dataloader: any re-iterable (a ``DataLoader``, a list of batches, ...).
        max_epochs: the default for ``run``.
        run_on: a Ref; the engine runs whenever it fires (e.g. an evaluator on
            ``trainer.n_epoch_completed_ref``).
        every, once, when: filters of the ``run_on`` subscription.

    Raises:
        TypeError: ``process_fn`` is not callable with two arguments, or
            ``dataloader`` is not iterable.
        ValueError: the name is taken, or ``dataloader`` is empty.

    Example:
        >>> from pipeline import State
        >>> state = State()
        >>> e = Engine(state, "counter", lambda engine, batch: batch * 2, [1, 2, 3])
        >>> e.run(max_epochs=2)
        >>> e.n_iteration_completed, e.n_epoch_completed, e.output
        (6, 2, 6)
    """

    default_container = "engines"

    n_run_started = Variable(0, doc="runs started", owner_only=True)
    n_epoch_started = Variable(
        0, doc="the epoch being run (1-based); reset by a new run", owner_only=True
    )
    n_iteration_started = Variable(
        0, doc="the iteration being run (1-based); reset by a new run", owner_only=True
    )
    batch = Variable(None, doc="the current batch", persistent=False)
    output = Variable(None, doc="what process_fn returned for the current batch", persistent=False)
    n_samples = Variable(
        0, doc="samples processed since the first run (never reset)", owner_only=True
    )
    n_iteration_completed = Variable(0, doc="iterations done in this run", owner_only=True)
    n_epoch_completed = Variable(0, doc="epochs done in this run", owner_only=True)
    n_run_completed = Variable(0, doc="runs completed", owner_only=True)
    max_epochs = Variable(None, doc="epochs of the current run")
    epoch_length = Variable(None, doc="iterations per epoch")
    should_terminate = Variable(
        False,
        doc="set by terminate(): the run ends after the current iteration (before it at "
        "n_iteration_started, before the epoch's first at n_epoch_started)",
        shared=True,
        persistent=False,
    )
    exception = Variable(
        None, doc="the exception that ended the last run, if any", persistent=False
    )
    epoch_time = Variable(0.0, doc="seconds the last epoch took")
    run_time = Variable(0.0, doc="seconds the last run took")

    def __init__(
        self,
        state: State,
        name: str,
        process_fn: ProcessFn,
        dataloader: Iterable[Any],
        *,
        max_epochs: int = 1,
        run_on: Ref | None = None,
        every: int | None = None,
        once: int | None = None,
        when: Callable[[Any], Any] | None = None,
    ) -> None:
        owner = f"{type(self).__name__} '{name}'"
        _check_process_fn(process_fn, owner)
        _check_dataloader(owner, dataloader)
        _check_positive("max_epochs", max_epochs, allow_none=False)
        if run_on is not None and not isinstance(run_on, Ref):
            raise TypeError(
                f"{owner}: run_on must be a Ref such as state.trainer.n_epoch_completed_ref, got {run_on!r}"
            )
        super().__init__(state, name)
        self.process_fn = process_fn
        self.dataloader = dataloader
        self.default_max_epochs = max_epochs
        self._epoch_rng: torch.Tensor | None = None  # RNG state the current iterator came from
        self._epoch_rng_epoch: int | None = None  # the epoch that iterator was made in
        self._data_iter: Iterator[Any] | None = None  # carried from epoch to epoch within a run
        # Batches of the current iterator that completed an iteration are
        # _iter_base + n_iteration_completed - _iter_mark; _iter_base None: no current iterator.
        self._iter_base: int | None = None
        self._iter_mark: int | None = None
        self._length_from_len = False  # epoch_length came from len(dataloader)
        self._len_warned = False
        self._end_epoch = False  # set by terminate_epoch()
        self._cut = 0  # iterations that epochs ended by terminate_epoch() did not run
        self._ignite_face: Any = None  # made by the ignite property on first use
        self._validated_at: int | None = None  # the graph version last validated
        self._running = False
        self._pending: list[Any] = []  # calls a loaded state had still to make (nodes.resume)
        self._replaying: list[Any] | None = None  # those after the one being made now
        self.metric_publications: dict[str, Any] = {}  # Metric nodes publish values per event
        self.trigger: Any = None
        self.run_on = run_on
        if run_on is not None:
            self.trigger = run_on.subscribe(self._run_triggered, every=every, once=once, when=when)

    def _run_triggered(self) -> None:
        self._check_not_running(triggered=True)  # before the reset below touches the run
        # A trigger asks for a new run (an evaluation of the new weights): a run
        # interrupted earlier (and saved so) is not continued with stale batches.
        if self.max_epochs is not None and self.n_epoch_completed < self.max_epochs:
            self.reset_variables(max_epochs=None)
            if self.n_epoch_started == 0:  # it ended before its first epoch: this run retries it
                self.reset_variables(n_run_started=self.n_run_started - 1)
        self.run()

    # The loop ------------------------------------------------------------------------
    def run(self, max_epochs: int | None = None, epoch_length: int | None = None) -> None:
        """Run until ``max_epochs`` epochs are completed or ``terminate`` is called.

        A run that completed starts again from epoch 0 (counters reset without
        events, ``n_samples`` kept) unless ``max_epochs`` asks for more epochs
        than it did, which continues it (as ignite does); a run that was
        terminated, or loaded from a checkpoint, continues where it stopped.

        Raises:
            ValueError: bad ``max_epochs``/``epoch_length``, or fewer than the epochs done.
            RuntimeError: the engine is already running (``run`` called from its own
                subscriber, its own ``run_on`` trigger, or a step of another engine that
                it runs), or a ``state.hold()`` block is open.
            GraphError: when the state graph is invalid; checked before the first run
                and again before a run whenever the graph changed since.
        """
        if isinstance(max_epochs, Iterable) and not isinstance(max_epochs, (str, bytes)):
            raise TypeError(
                f"{self.key}.run() takes no data: the engine runs on the dataloader it was "
                f"made with ({type(self.dataloader).__name__}); give other data with "
                f"{self.name}.set_dataloader(data), or run it the ignite way: "
                f"{self.name}.ignite.run(data, max_epochs=...)"
            )
        _check_positive("max_epochs", max_epochs)
        _check_positive("epoch_length", epoch_length)
        self._check_can_run()
        self._running = True
        try:
            if self._pending:
                self._call_pending()
            self._run(max_epochs, epoch_length)
        finally:
            self._running = False
            self._replaying = None

    def _call_pending(self) -> None:
        """Make the calls a state saved mid-propagation had still to make (nodes.resume); a
        state saved during one of them carries the calls after it."""
        pending, self._pending = self._pending, []
        with self.state.writing_as(self):
            for i, call in enumerate(pending):
                self._replaying = pending[i + 1 :]
                self.state.call_pending(call)
        self._replaying = None

    def _check_not_running(self, triggered: bool = False) -> None:
        if not self._running:
            return
        caller = self.state.current_writer
        if triggered and self.run_on is not None:
            how = f"its run_on trigger {self.run_on.path}, which changed during its own run"
        elif caller is self:
            how = f"{self.label}'s own step"
        else:
            how = caller.label if caller is not None else "code outside any node or callback"
        raise RuntimeError(
            f"{self.key}.run() was called by {how}, while {self.name} is running "
            f"(epoch {self.n_epoch_started}, iteration {self.n_iteration_started}); a run "
            "inside its own run would repeat its batches. Run it after the current run "
            "returns, or give the inner loop an Engine of its own"
        )

    def _check_can_run(self) -> None:
        self._check_not_running()
        state = self.state
        if state.holding:
            raise RuntimeError(
                f"{self.key}.run() was called inside a state.hold() block: every event of its "
                "loop would be deferred to the end of the block (a subscriber of "
                "n_iteration_completed would fire once, metrics would be wrong). Call run() "
                "after the block"
            )
        if self._validated_at != state.graph_version:
            state.validate()
            self._validated_at = state.graph_version

    def _run(self, max_epochs: int | None, epoch_length: int | None) -> None:
        """The loop of ``run``, once its arguments and the state are checked."""
        state = self.state
        # As in ignite: asking for more epochs than a finished run did continues it
        # (a run loaded from a checkpoint of its last epoch goes on); asking for
        # no more, or for nothing, starts a new run.
        extend = (
            max_epochs is not None
            and self.max_epochs is not None
            and self.n_epoch_completed < max_epochs
        )
        finished = not extend and (
            self.max_epochs is None or self.n_epoch_completed >= self.max_epochs
        )
        with state.writing_as(self):
            if finished or (extend and self.n_epoch_completed >= (self.max_epochs or 0)):
                # A new run, or more epochs for a completed one: a fresh iterator, as ignite.
                self._iter_base = None
            if finished:
                self._length_from_len = epoch_length is None and hasattr(self.dataloader, "__len__")
                self._len_warned = False
                self._cut = 0
                if self._length_from_len:
                    epoch_length = len(self.dataloader)  # type: ignore[arg-type]
                self.reset_variables(
                    n_epoch_started=0,
                    n_iteration_started=0,
                    n_iteration_completed=0,
                    n_epoch_completed=0,
                    should_terminate=False,
                    exception=None,
                    max_epochs=max_epochs or self.default_max_epochs,
                    epoch_length=epoch_length,
                )
            else:
                if max_epochs is not None:
                    if max_epochs < self.n_epoch_completed:
                        raise ValueError(
                            f"{self.key}: max_epochs={max_epochs} is less than the "
                            f"{self.n_epoch_completed} epochs already completed in this run"
                        )
                    self.reset_variables(max_epochs=max_epochs)
                if epoch_length is not None and epoch_length != self.epoch_length:
                    raise ValueError(
                        f"{self.key}: cannot change epoch_length from {self.epoch_length} to "
                        f"{epoch_length} in the middle of a run"
                    )
                self.reset_variables(should_terminate=False, exception=None)
                if self.n_iteration_started != self.n_iteration_completed:
                    # terminated at ITERATION_STARTED: that iteration starts again
                    self.reset_variables(n_iteration_started=self.n_iteration_completed)
            self._end_epoch = False
            started = time.perf_counter()
            self.n_run_started += 1
            try:
                while self.n_epoch_completed < self.max_epochs and not self.should_terminate:
                    epoch_start = time.perf_counter()
                    self._set_sampler_epoch(self.n_epoch_completed)
                    if self.n_epoch_started == self.n_epoch_completed:
                        self.n_epoch_started = self.n_epoch_completed + 1
                        if self.should_terminate:  # terminate() from EPOCH_STARTED, as ignite
                            break
                        if self._end_epoch:
                            self._end_epoch = False
                            raise RuntimeError(
                                f"{self.key}: terminate_epoch() was called before the epoch's "
                                "first iteration (at n_run_started or n_epoch_started), as ignite "
                                "refuses it; call it from n_iteration_started or "
                                "n_iteration_completed, or end the run with terminate()"
                            )
                        done_in_epoch = 0
                    else:  # resuming inside an epoch
                        done_in_epoch = self.n_iteration_in_epoch
                    if self._data_iter is None:
                        self._data_iter = self._open_iterator(done_in_epoch)
                    if not self._run_epoch(done_in_epoch):
                        break
                    self.epoch_time = time.perf_counter() - epoch_start
                    self.n_epoch_completed += 1
            except BaseException as exc:
                self._data_iter = None  # a next run re-creates it from the saved position
                self.exception = exc
                raise
            self._data_iter = None
            if self.n_epoch_completed >= self.max_epochs:
                self._iter_base = None  # as ignite: the next run starts a new iterator
            self.run_time = time.perf_counter() - started
            self.n_run_completed += 1

    @property
    def n_iteration_in_epoch(self) -> int:
        """Iterations done in the current epoch (every epoch but a first one of unknown
        length has ``epoch_length`` iterations)."""
        return (
            self.n_iteration_completed
            + self._cut
            - self.n_epoch_completed * (self.epoch_length or 0)
        )

    def _run_epoch(self, done: int) -> bool:
        """Run the rest of one epoch; False when terminated before its end."""
        process = self.process_fn
        length = self.epoch_length
        it = self._data_iter
        k = done
        while length is None or k < length:
            try:
                batch = next(it)  # type: ignore[arg-type]
            except StopIteration:
                self._check_len()
                if length is None:
                    if k == 0:
                        raise ValueError(f"{self.key}: the dataloader yielded no batch") from None
                    self._data_iter = None
                    self._iter_base = None
                    self.epoch_length = length = k
                    break
                # The data is used up (at an epoch start, or shorter than epoch_length): a new pass.
                it = self._data_iter = self._open_iterator(0, fresh=True)
                try:
                    batch = next(it)
                except StopIteration:
                    raise ValueError(f"{self.key}: the dataloader yielded no batch") from None
            self.n_iteration_started = self.n_iteration_completed + 1
            if self.should_terminate or self._end_epoch:
                return self._stop_before_process(k)
            self.batch = batch
            self.output = process(self, batch)
            self.n_samples += batch_size(batch)
            self.n_iteration_completed += 1
            k += 1
            if self.should_terminate:
                return length is not None and k >= length
            if self._end_epoch:
                self._end_short_epoch(k)
                return True
        if self._length_from_len and not self._len_warned and self.n_batches_drawn > length:
            self._check_len(exact=False)
        return True

    def _stop_before_process(self, done: int) -> bool:
        """terminate()/terminate_epoch() from ITERATION_STARTED: the drawn batch is not processed.

        As in ignite, the started iteration is not processed. terminate() leaves it uncounted
        (the next run draws that batch again); terminate_epoch() counts it, without an
        ITERATION_COMPLETED event, as ignite counts it, and the next epoch opens new data.
        """
        if self.should_terminate:
            return False  # run() re-opens the data at the saved position: the batch comes again
        self.reset_variables(n_iteration_completed=self.n_iteration_completed + 1)
        self._end_short_epoch(done + 1)
        return True

    def _end_short_epoch(self, done: int) -> None:
        """An epoch ended by terminate_epoch(): the next one starts a new data iterator (as ignite)."""
        self._end_epoch = False
        if self.epoch_length is not None:
            self._cut += self.epoch_length - done
        self._data_iter = None
        self._iter_base = None

    @property
    def n_batches_drawn(self) -> int:
        """Batches of the current data iterator that completed an iteration (0: none yet)."""
        if self._iter_base is None:
            return 0
        if self._iter_mark is None:  # loaded, not yet re-created
            return self._iter_base
        return self._iter_base + self.n_iteration_completed - self._iter_mark

    def _check_len(self, exact: bool = True) -> None:
        """Warn once per run when the data yields another number of batches than its len()."""
        if not self._length_from_len or self._len_warned or self._iter_base is None:
            return
        stated, drawn = self.epoch_length, self.n_batches_drawn
        if drawn == stated:
            return
        self._len_warned = True
        warnings.warn(
            f"{self.key}: len(dataloader) is {stated} but its iterator yielded "
            f"{'' if exact else 'at least '}{drawn} batches; epochs are cut "
            f"every {stated} iterations and the data carries over from one epoch to the next "
            "(as in ignite). Fix the dataloader's __len__, or pass run(epoch_length=...)",
            RuntimeWarning,
            stacklevel=4,
        )

    def _open_iterator(self, done_in_epoch: int, fresh: bool = False) -> Iterator[Any]:
        """The data iterator to continue with: the saved one re-created, or a new one.

        A saved position (a run stopped or loaded) re-creates its iterator under the
        RNG state it was made with and skips the batches that completed an
        iteration. A DataLoader draws its shuffling seed from its generator (or
        torch's global one) when the iterator is created and on its first batch;
        both happen under that saved state, then the global state the run was
        loaded with is put back.
        """
        skip = 0 if fresh else (None if self._iter_base is None else self.n_batches_drawn)
        rng = None if skip is None else self._epoch_rng
        if skip is None and done_in_epoch and self._epoch_rng_epoch == self.n_epoch_started:
            # Saved without a batch count (an older checkpoint): the epoch's own iterator.
            skip, rng = done_in_epoch, self._epoch_rng
        skip = skip or 0
        if fresh:
            rng = None
        self._iter_base, self._iter_mark = skip, self.n_iteration_completed
        loader = self.dataloader
        if not isinstance(loader, torch.utils.data.DataLoader):
            it = iter(loader)
            for _ in range(skip):
                next(it)
            return it
        gen = loader.generator
        if rng is None:
            self._epoch_rng_epoch = self.n_epoch_started
            self._epoch_rng = gen.get_state() if gen is not None else torch.get_rng_state()
            return iter(loader)
        keep = None
        if gen is not None:
            gen.set_state(rng)
        else:
            keep = torch.get_rng_state()
            torch.set_rng_state(rng)
        it = iter(loader)
        for _ in range(skip):
            next(it)
        if skip == 0:  # the sampler draws on the first batch: draw it under the saved RNG too
            it = itertools.chain([next(it)], it)
        if keep is not None:
            torch.set_rng_state(keep)
        return it

    def _set_sampler_epoch(self, epoch: int) -> None:
        sampler = getattr(self.dataloader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)

    def terminate(self) -> None:
        """End the run after the current iteration (the run then completes).

        Called at ``n_iteration_started`` the iteration is not processed and the next run
        starts it again; called at ``n_epoch_started`` the epoch runs no iteration.
        """
        self.should_terminate = True

    def terminate_epoch(self) -> None:
        """End the current epoch after the current iteration; the run goes on with the next
        epoch, on a new data iterator (as ignite's ``terminate_epoch``). Called at
        ``n_iteration_started``, that iteration is not processed.

        Called before an epoch's first iteration (at ``n_run_started`` or ``n_epoch_started``),
        the run raises RuntimeError, as ignite's does.
        """
        self._end_epoch = True

    def set_dataloader(self, dataloader: Iterable[Any]) -> None:
        """Run on other data from now on (a run in progress starts a new data iterator).

        Raises:
            TypeError, ValueError: as for the ``dataloader`` argument of the constructor.
        """
        _check_dataloader(f"{type(self).__name__} '{self.name}'", dataloader)
        self.dataloader = dataloader
        self._data_iter = None
        self._iter_base = None
        self._epoch_rng = None

    @property
    def ignite(self) -> Any:
        """This engine seen as an ``ignite.engine.Engine``, for ignite's handlers, loggers
        and ``Metric.attach`` (see ``nodes.ignite_face``); made on first use."""
        from nodes.ignite_face import face_of

        return face_of(self)

    def add_event_handler(self, *args: Any, **kwargs: Any) -> None:
        """Not a statefire method: says where ignite's ``add_event_handler`` is.

        Raises:
            AttributeError: always, pointing to ``engine.ignite`` and the variables.
        """
        raise AttributeError(
            f"{self.key} is a statefire Engine: its events are variables "
            f"(e.g. {self.name}.n_epoch_completed_ref.subscribe(handler)); for an ignite "
            f"handler use {self.name}.ignite.add_event_handler(...) (or {self.name}.ignite.on(...))"
        )

    # Persistence ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The data position: the RNG state the current data iterator came from
        (``epoch_rng``), the epoch it was made in, how many of its batches completed
        an iteration (``consumed``), the DataLoader generator's state now, and, saved in
        the middle of a propagation this engine started, the subscribers still to run
        (``pending``, made at the start of the next ``run``; see ``nodes.resume``)."""
        out: dict[str, Any] = {}
        pending = resume.pending_calls(self) if self._running else self._pending
        if pending:
            out["pending"] = resume.encode(pending)
        if self._iter_base is not None:
            out["consumed"] = self.n_batches_drawn
        if self._cut:
            out["cut"] = self._cut
        if self._epoch_rng is None:
            return out
        out["epoch_rng"] = self._epoch_rng.clone()
        if self._epoch_rng_epoch is not None:
            out["epoch"] = self._epoch_rng_epoch
        gen = getattr(self.dataloader, "generator", None)
        if isinstance(gen, torch.Generator):
            out["data_rng"] = gen.get_state()
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``state_dict``; the next run re-creates the data iterator's order."""
        rng = state_dict.get("epoch_rng")
        if rng is not None and not isinstance(rng, torch.Tensor):
            raise ValueError(f"{self.key}: epoch_rng must be a tensor, got {type(rng).__name__}")
        data_rng = state_dict.get("data_rng")
        gen = getattr(self.dataloader, "generator", None)
        if data_rng is not None and not isinstance(data_rng, torch.Tensor):
            raise ValueError(
                f"{self.key}: data_rng must be a tensor, got {type(data_rng).__name__}"
            )
        consumed = state_dict.get("consumed")
        if consumed is not None and (type(consumed) is not int or consumed < 0):
            raise ValueError(f"{self.key}: consumed must be a non-negative int, got {consumed!r}")
        cut = state_dict.get("cut", 0)
        if type(cut) is not int or cut < 0:
            raise ValueError(f"{self.key}: cut must be a non-negative int, got {cut!r}")
        pending = resume.decode(self.key, state_dict.get("pending", []))
        self._epoch_rng = rng
        self._epoch_rng_epoch = state_dict.get("epoch")
        self._pending = pending
        self._data_iter = None
        self._cut = cut
        self._iter_base = consumed
        self._iter_mark = None  # set when the iterator is re-created
        if data_rng is not None and isinstance(gen, torch.Generator):
            gen.set_state(data_rng)  # a new iterator shuffles as it would have without a stop
