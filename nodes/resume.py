"""Saving in the middle of a propagation: what a state dict must carry to resume exactly.

A checkpoint is often taken by a subscriber while other subscribers of the
same change have still to run: a "best" checkpoint on the evaluator's
``n_run_completed``, itself run on the trainer's ``n_epoch_completed``, saves
before the trainer's epoch-level LR scheduler steps. Resuming from such a
file must run those subscribers before the trainer goes on, or the run
differs from one that was not stopped.

This module holds that plan only: which calls are pending when an engine's
state is saved (:func:`pending_calls`), in what order they resume
(innermost notification first), and the warning given when a state saved
here cannot resume exactly. The engine stores the plan in its own
``state_dict`` and makes the calls at the start of its next :meth:`run`.
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
    saved in the middle of a propagation that it started; warn (:class:`ResumeWarning`) and
    return nothing when resuming them cannot be exact.

    Only the outermost engine of the propagation carries the plan: its :meth:`run` resumes
    the loop after the calls; a triggered engine inside it is only resumable once its run
    has completed (the change in progress is its ``n_run_completed``), since an interrupted
    triggered run is started afresh, not continued.
    """
    levels = engine.state.in_progress()
    if not levels or levels[0].setter is not engine:
        return []
    first = levels[0]
    if first.ref == engine.exception_ref:  # saving on exception: its own subscribers
        return []
    calls = [call for level in reversed(levels) for call in level.pending]
    problems = []
    if calls and (first.ref.owner is not engine or first.ref.name not in RESUMABLE):
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
    unsaved = [c for c in calls if not (is_plain_data(c.old) and is_plain_data(c.new))]
    if unsaved:
        problems.append(
            "the changes of "
            + ", ".join(sorted({c.path for c in unsaved}))
            + " are not plain data a state dict can hold"
        )
    if problems:
        still = ", ".join(f"{c.label} (on {c.path})" for c in calls) or "none"
        warnings.warn(
            ResumeWarning(
                f"{engine.key}'s state is saved in the middle of a propagation and will not "
                f"resume exactly: {'; '.join(problems)}. Subscribers still to run: {still}. "
                "Save on a variable whose subscribers have all run (such as the trainer's "
                "n_epoch_completed, subscribed after the others), or load an earlier file"
            ),
            stacklevel=3,
        )
        return []
    return calls


def encode(calls: list[PendingCall]) -> list[list[Any]]:
    """The calls as plain lists, for a state dict."""
    return [list(call) for call in calls]


def decode(owner: str, saved: object) -> list[PendingCall]:
    """The calls back from :func:`encode`'s lists.

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
