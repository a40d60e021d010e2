"""``IgniteLoop``: the statefire engine behind ``nodes.IgniteEngine``, and its loop.

What belongs here: the node (a statefire ``Engine`` whose variables are
ignite's events) and the loop that ``IgniteEngine.run`` runs. The loop is the
node's: it runs under the statefire engine's guard (``run`` re-entered, a
``state.hold()`` block open, a state graph changed since its last check:
the same errors as any statefire engine), writes as the node, keeps the
run's position in the node's variables at every event, and records the
exception that ended a run in ``exception``. ignite's own loop
(``Engine._internal_run``) is never called. Saved, the node is the ignite
engine's ``state_dict()`` (its position at an event boundary), as ignite saves
it; a run resumed from it opens a new data iterator, as ignite's does.

The order of the events is ignite's, event for event, because ignite's
handlers depend on it: ``STARTED``; per epoch ``EPOCH_STARTED``; per batch
``GET_BATCH_STARTED``, ``GET_BATCH_COMPLETED``, ``ITERATION_STARTED``,
``ITERATION_COMPLETED`` (``DATALOADER_STOP_ITERATION`` when the data runs
out and a new pass starts); ``EPOCH_COMPLETED``; ``COMPLETED``. A
``terminate()``, ``terminate_epoch()`` or ``interrupt()`` takes effect after
the event whose handler called it, and fires ``TERMINATE``,
``TERMINATE_SINGLE_EPOCH`` or ``INTERRUPT``; an interrupted run is resumed
by the next ``run``. An exception fires ``EXCEPTION_RAISED`` when an ignite
handler is attached to it, and that handler decides (it can swallow it, as
in ignite); otherwise it propagates.

Firing an event is the face's ``_fire_event``, which sets the event's
variable (see ``nodes.ignite_engine``): handlers are the variable's
subscribers.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Generator, Iterable
from typing import TYPE_CHECKING, Any

from ignite.engine import Events, State

from nodes.engine import Engine
from pipeline import State as StatefireState
from pipeline import Variable

if TYPE_CHECKING:
    from nodes.ignite_engine import IgniteEngine

__all__ = ["IgniteLoop"]


class _Terminate(Exception):
    """``terminate()`` took effect: the run fires TERMINATE, then COMPLETED (unless skipped)."""


class _TerminateEpoch(Exception):
    """``terminate_epoch()`` took effect: the epoch fires TERMINATE_SINGLE_EPOCH and ends."""


def _fire_timed(face: IgniteEngine, event: Any, took: float) -> float:
    """Fire ``event``; ``took`` plus its handlers' time, also put in ``state.times``
    (where the handlers read ``took`` alone, as in ignite)."""
    began = time.time()
    face._fire_event(event)
    took += time.time() - began
    face.state.times[event.name] = took
    return took


class IgniteLoop(Engine):
    """The statefire engine behind an ``IgniteEngine``: its variables are ignite's events.

    The core events write the variables every statefire engine has (``STARTED``
    adds one to ``n_run_started``, ``EPOCH_STARTED`` sets ``n_epoch_started``
    to the epoch, ``ITERATION_STARTED`` ``n_iteration_started`` to the
    iteration, ``ITERATION_COMPLETED`` ``batch``, ``output``, ``n_samples``,
    then ``n_iteration_completed``, ``EPOCH_COMPLETED`` ``n_epoch_completed``,
    ``COMPLETED`` ``n_run_completed``, ``EXCEPTION_RAISED`` ``exception``);
    the other built-in events count in the variables below. ``run`` runs the
    ignite engine (on the data of its last run), ``terminate`` terminates it.
    """

    max_iters = Variable(None, doc="iterations of the current run (ignite's max_iters), if set")
    n_get_batch_started = Variable(0, doc="GET_BATCH_STARTED events fired")
    n_get_batch_completed = Variable(0, doc="GET_BATCH_COMPLETED events fired")
    n_dataloader_stop_iteration = Variable(0, doc="DATALOADER_STOP_ITERATION events fired")
    n_terminate = Variable(0, doc="TERMINATE events fired")
    n_terminate_single_epoch = Variable(0, doc="TERMINATE_SINGLE_EPOCH events fired")
    n_interrupt = Variable(0, doc="INTERRUPT events fired")

    def __init__(self, state: StatefireState, name: str, face: IgniteEngine) -> None:
        # The data comes with each run of the ignite engine; a placeholder passes the check.
        super().__init__(state, name, face._process_function, [None])
        self.dataloader = None  # type: ignore[assignment]
        self._ignite_face = face  # what the engine's ``ignite`` property returns

    # The statefire side ---------------------------------------------------------------
    def run(self, max_epochs: int | None = None, epoch_length: int | None = None) -> None:
        """Run the ignite engine on the data of its last run (see ``IgniteEngine.run``)."""
        self.ignite.run(self.dataloader, max_epochs=max_epochs, epoch_length=epoch_length)

    def terminate(self) -> None:
        """Terminate the ignite engine's run after the current event."""
        self.ignite.terminate()

    def terminate_epoch(self) -> None:
        """End the ignite engine's current epoch after the current event."""
        self.ignite.terminate_epoch()

    def set_dataloader(self, dataloader: Iterable[Any]) -> None:
        """Give the ignite engine other data from the next batch on (its ``set_data``)."""
        self.ignite.set_data(dataloader)

    def state_dict(self) -> dict[str, Any]:
        """The ignite engine's ``state_dict()`` (its position in the run and its user keys)."""
        return {"ignite": dict(self.ignite.state_dict())}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Put the ignite engine where ``state_dict`` saved it (its next run resumes there).

        Raises:
            ValueError: ``state_dict`` has no ``ignite`` entry.
        """
        if "ignite" not in state_dict:
            raise ValueError(
                f"{self.key}: expected the ignite engine's state under 'ignite', got keys "
                f"{sorted(state_dict)}; save it with state.state_dict() from an IgniteEngine's state"
            )
        self.ignite.load_state_dict(state_dict["ignite"])

    # The loop -------------------------------------------------------------------------
    def run_face(self, face: IgniteEngine) -> State:
        """Run (or resume) the face's run, as its ``run`` has set it up (after the statefire
        guard: ``IgniteEngine.run`` checks a run inside its own run, inside ``state.hold()``,
        or on a graph that does not validate); return its state. An interrupted run keeps
        its generator (``face._internal_run_generator``) for the next call.
        """
        self._running = True
        self.dataloader = face.state.dataloader
        try:
            with self.state.writing_as(self):
                run = face._internal_run_generator
                if run is None:
                    run = face._internal_run_generator = self._run_gen(face)
                try:
                    return next(run)  # the state, interrupted: the generator waits for run()
                except StopIteration as done:
                    face._internal_run_generator = None
                    return done.value  # type: ignore[no-any-return]
                except BaseException as exc:
                    face._internal_run_generator = None
                    if self.exception is not exc:
                        if face._event_handlers.get(Events.EXCEPTION_RAISED):
                            # ignite's handlers had the exception (EXCEPTION_RAISED fired, and
                            # a handler raised this one): recorded, not fired again.
                            self.reset_variables(exception=exc)
                        else:  # no ignite handler: statefire subscribers of exception see it
                            self.exception = exc
                    raise
        finally:
            self._running = False

    def _stop(self, face: IgniteEngine) -> Generator[State, None, None]:
        """After an event: act on terminate(), terminate_epoch() or interrupt()."""
        if face.should_terminate:
            raise _Terminate
        if face.should_terminate_single_epoch:
            raise _TerminateEpoch
        if face.should_interrupt and face.interrupt_resume_enabled:
            face._fire_event(Events.INTERRUPT)
            face.should_interrupt = False
            yield face.state  # run() returns here; the next run() resumes after it

    def _run_gen(self, face: IgniteEngine) -> Generator[State, None, State]:
        """One run, from STARTED to COMPLETED; yields the state when interrupted."""
        s = face.state
        face.should_terminate = face.should_terminate_single_epoch = face.should_interrupt = False
        self.reset_variables(should_terminate=False)
        times = s.times
        times[Events.EPOCH_COMPLETED.name] = 0.0
        times[Events.COMPLETED.name] = 0.0
        fire = face._fire_event
        start = time.time()
        try:
            try:
                fire(Events.STARTED)
                yield from self._stop(face)
                while not face._is_done(s) and not face.should_terminate:
                    s.epoch += 1
                    began = time.time()
                    fire(Events.EPOCH_STARTED)
                    took = time.time() - began
                    yield from self._stop(face)
                    if face._dataloader_iter is None:
                        face._setup_engine()
                    took += yield from self._epoch_gen(face)
                    times[Events.EPOCH_COMPLETED.name] = took
                    if face.should_terminate_single_epoch != "skip_epoch_completed":
                        took = _fire_timed(face, Events.EPOCH_COMPLETED, took)
                    # an epoch ended by terminate_epoch() is over: nothing left to end
                    face.should_terminate_single_epoch = False
                    yield from self._stop(face)
                    face.logger.info(f"{self.key}: epoch {s.epoch} took {took:.3f} s")
            except _Terminate:
                fire(Events.TERMINATE)
            except _TerminateEpoch:
                raise RuntimeError(
                    f"{self.key}: terminate_epoch() was called at STARTED or EPOCH_STARTED, before "
                    "the epoch's first batch; call it from an iteration event, or end the run "
                    "with terminate()"
                ) from None
            took = time.time() - start
            times[Events.COMPLETED.name] = took
            if face.should_terminate != "skip_completed":
                took = _fire_timed(face, Events.COMPLETED, took)
            face.logger.info(f"{self.key}: the run took {took:.3f} s")
        except GeneratorExit:
            # An interrupted run dropped (``run`` starting a new one): its data position goes
            # with it, and there is nothing to report.
            face._dataloader_iter = None
            raise
        except BaseException as exc:
            face._dataloader_iter = None
            face.logger.error(f"{self.key}: the run ends on an exception: {exc!r}")
            face._handle_exception(exc)
        face._dataloader_iter = None
        return s

    def _epoch_gen(self, face: IgniteEngine) -> Generator[State, None, float]:
        """The batches of one epoch; returns the seconds it took."""
        s = face.state
        fire = face._fire_event
        start = time.time()
        done = face._init_iter or 0  # batches of this epoch already run (a resumed run)
        face._init_iter = None
        renewed = False  # the data was just re-opened: another StopIteration means it is empty
        try:
            if face._dataloader_iter is None:
                raise RuntimeError(f"{self.key}: no data iterator at the start of an epoch")
            while True:
                s.batch = None
                with_data = s.dataloader is not None
                try:
                    if with_data and face.last_event_name != Events.DATALOADER_STOP_ITERATION:
                        fire(Events.GET_BATCH_STARTED)
                        if face._signalled:
                            yield from self._stop(face)
                    s.batch = next(face._dataloader_iter)
                    s.output = None
                    if with_data:
                        fire(Events.GET_BATCH_COMPLETED)
                        if face._signalled:
                            yield from self._stop(face)
                    done += 1
                    renewed = False
                except StopIteration:
                    if s.epoch_length is None:  # the first pass measures the epoch
                        s.epoch_length = done
                        if s.max_iters is not None:
                            s.max_epochs = math.ceil(s.max_iters / done)
                        break
                    if renewed:
                        if not face._is_done(s):
                            self._warn_data_ended(s)
                        break
                    if with_data:
                        fire(Events.DATALOADER_STOP_ITERATION)
                        if face._signalled:
                            yield from self._stop(face)
                    face._setup_dataloader_iter()
                    renewed = True
                    continue
                s.iteration += 1
                fire(Events.ITERATION_STARTED)
                if face._signalled:
                    yield from self._stop(face)
                s.output = face._process_function(face, s.batch)
                fire(Events.ITERATION_COMPLETED)
                if face._signalled:
                    yield from self._stop(face)
                if done == s.epoch_length:
                    break
                if s.iteration == s.max_iters:
                    face.should_terminate = True
                    raise _Terminate
        except _TerminateEpoch:
            fire(Events.TERMINATE_SINGLE_EPOCH, iter_counter=done)
            face._setup_dataloader_iter()
        except _Terminate:
            raise
        except Exception as exc:
            face.logger.error(f"{self.key}: the epoch ends on an exception: {exc!r}")
            face._handle_exception(exc)
        return time.time() - start

    def _warn_data_ended(self, s: State) -> None:
        total = s.epoch_length * s.max_epochs if s.max_epochs is not None else s.max_iters
        warnings.warn(  # starts as ignite's, so that a filter written for ignite's still matches
            f"Data iterator can not provide data anymore ({self.key}): it ended at iteration "
            f"{s.iteration} of the {total} the run asks for. Give data that can be iterated "
            "again (a list, a DataLoader), or a smaller max_epochs/max_iters",
            UserWarning,
            stacklevel=2,
        )
