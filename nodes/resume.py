"""Saving in the middle of a propagation: what a state dict must carry to resume exactly.

A checkpoint is often taken by a subscriber while other subscribers of the
same change have still to run: a "best" checkpoint on the evaluator's
``n_run_completed``, itself run on the trainer's ``n_epoch_completed``, saves
before the trainer's epoch-level LR scheduler steps. Resuming from such a
file must run those subscribers before the trainer goes on, or the run
differs from one that was not stopped.

This module holds that plan only: which calls are pending when an engine's
state is saved (``pending_calls``), in what order they resume
(innermost notification first), and the warning given when a state saved
here cannot resume exactly. The engine stores the plan in its own
``state_dict`` and makes the calls at the start of its next ``run``.
"""

from __future__ import annotations

import itertools
import warnings
from typing import TYPE_CHECKING, Any

from pipeline.propagation import PendingCall
from pipeline.values import is_plain_data, summarize

if TYPE_CHECKING:
    from nodes.engine import Engine

__all__ = ["RESUMABLE", "ResumeWarning", "decode", "encode", "pending_calls"]

#: The variables of the engine that runs the loop after whose notification its own
#: resume picks up exactly where it left (the loop resumes after them, nothing of
#: theirs is redone).
RESUMABLE = frozenset(
    {"n_epoch_started", "n_iteration_completed", "n_epoch_completed", "n_run_completed"}
)


class ResumeWarning(UserWarning):
    """A state saved now will not resume exactly; the message says what is lost and why."""


def pending_calls(engine: Engine) -> list[PendingCall]:
    """The subscribers still to run, innermost notification first, when ``engine``'s state is
    saved in the middle of a propagation that it started; warn (``ResumeWarning``) and
    return nothing when resuming them cannot be exact.

    Only the outermost engine of the propagation carries the plan: its ``run`` resumes
    the loop after the calls; a triggered engine inside it is only resumable once its run
    has completed (the change in progress is its ``n_run_completed``), since an interrupted
    triggered run is started afresh, not continued.
    """
    levels = engine.state.in_progress()
    if not levels or levels[0].setter is not engine:
        return []
    first = levels[0]
    if first.ref == engine.exception_ref:  # saving on exception
        exc = engine.exception
        return _after_exception(engine, exc) if exc is not None else []
    replaying = engine._replaying  # saved while making the calls of an earlier save
    calls = [call for level in reversed(levels) for call in level.pending] + (replaying or [])
    problems = []
    if (
        replaying is None
        and calls
        and (first.ref.owner is not engine or first.ref.name not in RESUMABLE)
    ):
        problems.append(
            f"{first.ref.path} changed inside an iteration of {engine.name}, which a resumed "
            "run does again"
        )
    for outer, level in itertools.pairwise(levels):
        setter = level.setter
        running = getattr(setter, "_running", False)
        if running and (level.ref.owner is not setter or outer.subscriber is not setter):
            problems.append(f"{setter.label} set {level.ref.path} from code that goes on after it")
        elif running and level.ref.name != "n_run_completed":
            problems.append(
                f"the run of {setter.label} is in progress ({level.ref.path} = "
                f"{summarize(level.new)}) and a triggered run is started afresh on resume, "
                "not continued"
            )
        elif not running and level.pending:
            who = setter.label if setter is not None else "code outside any node"
            problems.append(f"{who} set {level.ref.path} and may go on after it")
    if _unsaved(calls, problems) or problems:
        _warn(
            f"{engine.key}'s state is saved in the middle of a propagation and will not "
            f"resume exactly: {'; '.join(problems)}. Subscribers still to run: "
            f"{_names(calls)}. Save on a variable whose subscribers have all run (such as the "
            "trainer's n_epoch_completed, subscribed after the others), or load an earlier file"
        )
        return []
    return calls


def _after_exception(engine: Engine, exc: BaseException) -> list[PendingCall]:
    """What resumes the propagations ``exc`` came out of, saved when it ended ``engine``'s run.

    The subscriber an exception came from is not called again (an interrupt landing in
    user code would only raise again); the subscribers after it are. A triggered run the
    exception cut short before its first epoch began (in a subscriber of its
    ``n_run_started``) is run again from its start, which draws what it would have drawn;
    one cut later is not continued on resume, which a ``ResumeWarning`` says.
    """
    from nodes.engine import Engine

    levels = engine.state.interrupted(exc)
    first = levels[0] if levels else None
    if first is None or first.setter is not engine or first.ref.owner is not engine:
        return []
    if first.ref.name not in RESUMABLE:
        return []  # inside an iteration: the resumed run does it again, subscribers included
    per_level: list[list[PendingCall]] = []
    problems: list[str] = []
    for level in levels:
        setter = level.setter
        if setter is not engine and isinstance(setter, Engine):
            problems.append(
                f"the run of {setter.label}, started other than by its run_on trigger, was "
                f"interrupted ({level.ref.path} = {summarize(level.new)}) and is not continued "
                "on resume"
            )
            break
        per_level.append(level.pending)
        sub = level.subscriber
        if not (isinstance(sub, Engine) and sub.run_on == level.ref):
            continue
        # A triggered run cut short: the levels below belong to it.
        if sub.n_epoch_started == 0 and level.running is not None:
            per_level[-1] = [level.running, *level.pending]
        else:
            problems.append(
                f"the run of {sub.label} was interrupted in epoch {sub.n_epoch_started}, "
                f"iteration {sub.n_iteration_started}, and a triggered run is started afresh "
                "on its next trigger, not continued: its remaining iterations, the random "
                "numbers they would draw (such as a DataLoader's seed from the global RNG) "
                "and what their subscribers would do are skipped"
            )
        break
    calls = [call for level_calls in reversed(per_level) for call in level_calls]
    if _unsaved(calls, problems):
        calls = []
    if problems:
        _warn(
            f"the state of {engine.key} saved on {type(exc).__name__} will not resume "
            f"exactly: {'; '.join(problems)}. Subscribers still to run, made on resume: "
            f"{_names(calls)}. For an exact continuation resume from a checkpoint saved "
            "before the interrupted run began"
        )
    return calls


def _unsaved(calls: list[PendingCall], problems: list[str]) -> bool:
    """Note in ``problems`` the changes a state dict cannot hold; True when there are any."""
    unsaved = sorted({c.path for c in calls if not (is_plain_data(c.old) and is_plain_data(c.new))})
    if unsaved:
        problems.append(
            f"the changes of {', '.join(unsaved)} are not plain data a state dict holds"
        )
    return bool(unsaved)


def _names(calls: list[PendingCall]) -> str:
    return ", ".join(f"{c.label} (on {c.path})" for c in calls) or "none"


def _warn(message: str) -> None:
    warnings.warn(ResumeWarning(message), stacklevel=4)


def encode(calls: list[PendingCall]) -> list[list[Any]]:
    """The calls as plain lists, for a state dict."""
    return [list(call) for call in calls]


def decode(owner: str, saved: object) -> list[PendingCall]:
    """The calls back from ``encode``'s lists.

    Raises:
        ValueError: ``saved`` is not a list of such lists.
    """
    fields = PendingCall._fields
    if not isinstance(saved, (list, tuple)) or not all(
        isinstance(c, (list, tuple))
        and len(c) == len(fields)
        and isinstance(c[0], str)
        and isinstance(c[1], str)
        and type(c[2]) is int
        and isinstance(c[5], bool)
        for c in saved
    ):
        raise ValueError(
            f"{owner}: 'pending' must be a list of pending calls ({', '.join(fields)}), "
            f"got {summarize(saved)}"
        )
    return [PendingCall(*c) for c in saved]
