"""Subscriptions: the one callback contract, its filters, and the handle that
removes it.

A callback takes no argument or one ``Event``; that is checked
when it subscribes, never guessed when it fires (``takes_event`` says which
signatures get the Event). Filters (``every``, ``once``,
``when``) are checked here. Who calls the callbacks, and in which order, is
``propagation.py``'s business.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.state import State
    from pipeline.variable import Slot

__all__ = [
    "CallbackNode",
    "Handle",
    "Subscription",
    "callback_label",
    "check_filters",
    "predicate_label",
]

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _source(fn: Callable[..., Any]) -> str:
    code = getattr(inspect.unwrap(getattr(fn, "__func__", fn)), "__code__", None)
    if code is None:
        return ""
    path = code.co_filename
    cwd = os.getcwd()
    if path.startswith(cwd + os.sep):
        path = path[len(cwd) + 1 :]
    else:
        path = os.path.join(*path.split(os.sep)[-2:]) if os.sep in path else path
    return f"{path}:{code.co_firstlineno}"


def callback_key(fn: Callable[..., Any]) -> Any:
    """How the core tells callbacks apart: by equality, an unhashable one by identity."""
    try:
        hash(fn)
    except TypeError:
        return id(fn)
    return fn


def callback_label(fn: Callable[..., Any]) -> str:
    """A readable name for a callback: ``qualname (file:line)``."""
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    name = name.replace(".<locals>.", ".").replace("<lambda>", "lambda")
    src = _source(fn)
    return f"{name} ({src})" if src else name


def predicate_label(fn: Callable[..., Any]) -> str:
    """A ``when=`` predicate's name; a lambda gets where it is written too.

    Example:
        >>> def is_best(score): ...
        >>> predicate_label(is_best)
        'is_best'
    """
    name = getattr(fn, "__name__", None)
    if name is None:
        return type(fn).__name__
    if name != "<lambda>":
        return str(name)
    qualname = getattr(fn, "__qualname__", name).replace(".<locals>.", ".")
    src = _source(fn)
    short = qualname.replace("<lambda>", "lambda")
    return f"{short} ({src})" if src else short


def _positional_params(fn: Callable[..., Any], what: str) -> tuple[list[str], list[str], bool]:
    """Return (required positional names, defaulted positional names, takes ``*args``)."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"cannot read the signature of {what} {fn!r} ({exc}); "
            "wrap it in a function such as `def cb(event): ...`"
        ) from None
    params = list(sig.parameters.values())
    required_kw = [p.name for p in params if p.kind == p.KEYWORD_ONLY and p.default is p.empty]
    if required_kw:
        raise TypeError(
            f"{what} {callback_label(fn)} has required keyword-only arguments "
            f"{required_kw}; give them defaults"
        )
    positional = [p for p in params if p.kind in _POSITIONAL]
    required = [p.name for p in positional if p.default is p.empty]
    defaulted = [p.name for p in positional if p.default is not p.empty]
    var_positional = any(p.kind == p.VAR_POSITIONAL for p in params)
    return required, defaulted, var_positional


def takes_event(callback: Callable[..., Any]) -> bool:
    """Check a callback's signature; return whether it is called with the Event.

    The Event goes to a callback that asks for it unambiguously: one required
    positional parameter (``def cb(event)``), or only ``*args``. A callback whose
    positional parameters all have defaults (``lambda x=x: ...``, the idiom that
    binds a loop variable) is called with no argument, so that its defaults stay
    what it was given.

    Raises:
        TypeError: it is not callable, it requires more than one argument, or it
            has defaulted positional parameters and ``*args`` (whether it wants
            the Event cannot be told).
    """
    if not callable(callback):
        raise TypeError(f"a callback must be callable, got {type(callback).__name__}")
    required, defaulted, var_positional = _positional_params(callback, "callback")
    if len(required) > 1:
        raise TypeError(
            f"callback {callback_label(callback)} takes {len(required)} required arguments; "
            "a callback takes no argument or one Event: `def cb(event): ...` or `def cb(): ...`"
        )
    if required:
        return True
    if defaulted and var_positional:
        raise TypeError(
            f"callback {callback_label(callback)} has defaulted parameters {defaulted} and "
            "*args, so whether it wants the Event cannot be told; give it one required "
            "parameter to receive the Event (`def cb(event): ...`) or make the others "
            "keyword-only (`def cb(*, x=1): ...`) to be called with no argument"
        )
    return var_positional


def check_filters(every: object, once: object, when: object) -> None:
    """Validate subscription filters, raising ValueError/TypeError that say how to fix them."""
    for name, value in (("every", every), ("once", once)):
        if value is None:
            continue
        if type(value) is not int:
            raise TypeError(f"{name} must be a positive int or None, got {value!r}")
        if value < 1:
            raise ValueError(f"{name} must be a positive integer (1, 2, ...), got {value}")
    if every is not None and once is not None:
        raise ValueError(f"give every or once, not both (got every={every}, once={once})")
    if when is not None:
        if not callable(when):
            raise TypeError(f"when must be a predicate of the new value, got {when!r}")
        required, defaulted, var_positional = _positional_params(when, "predicate")
        if len(required) != 1 and not (not required and (defaulted or var_positional)):
            raise TypeError(
                f"predicate {callback_label(when)} must take exactly one argument "
                f"(the new value), it requires {len(required)}"
            )


class CallbackNode:
    """The graph node standing for a plain callback (framework internal).

    It does not hold the callback itself, so a removed subscription leaves no
    reference to it behind.
    """

    __slots__ = ("key", "label", "n_subscriptions", "written")

    def __init__(self, key: str, label: str) -> None:
        self.key = key
        self.label = label
        self.n_subscriptions = 0
        self.written: set[Slot] = set()

    def __repr__(self) -> str:
        return f"<callback {self.key}>"


class Subscription:
    """One callback subscribed to one variable with its filters (framework internal)."""

    __slots__ = (
        "allow_cycle",
        "callback",
        "events_base",
        "every",
        "filtered",
        "index",
        "n_changes",
        "n_fired",
        "n_seen",
        "once",
        "pass_event",
        "removed",
        "slot",
        "subscriber",
        "when",
    )

    def __init__(
        self,
        slot: Slot,
        callback: Callable[..., Any],
        pass_event: bool,
        subscriber: Any,
        every: int | None,
        once: int | None,
        when: Callable[[Any], Any] | None,
        allow_cycle: bool,
        index: int,
    ) -> None:
        self.slot = slot
        self.callback = callback
        self.pass_event = pass_event
        self.subscriber = subscriber
        self.every = every
        self.once = once
        self.when = when
        self.allow_cycle = allow_cycle
        self.index = index
        self.n_changes = 0
        # Counts: a filtered subscription counts its calls (n_fired, by the runtime)
        # and the changes it judged (n_seen, in passes); an unfiltered one is called
        # for every event of its variable since it subscribed (see ``fired``).
        self.n_fired = 0
        self.n_seen = 0
        self.events_base = slot.n_events
        self.removed = False
        self.filtered = every is not None or once is not None or when is not None

    def passes(self, new: Any) -> bool:
        """Whether a change to ``new`` fires this subscription (advances change counters)."""
        if self.removed:
            return False
        self.n_seen += 1
        when = self.when
        if when is not None and not when(new):
            return False
        every = self.every
        if every is None and self.once is None:
            return True
        if type(new) is int:
            return new % every == 0 if every is not None else new == self.once
        self.n_changes += 1
        if every is not None:
            return self.n_changes % every == 0
        return self.n_changes == self.once

    def _filters(self, when_name: Callable[[Any], str]) -> str:
        parts = []
        if self.every is not None:
            parts.append(f"every={self.every}")
        if self.once is not None:
            parts.append(f"once={self.once}")
        if self.when is not None:
            parts.append(f"when={when_name(self.when)}")
        if self.allow_cycle:
            parts.append("allow_cycle")
        return ", ".join(parts)

    @property
    def filter_label(self) -> str:
        """The filters as text, such as ``every=10`` (empty when there are none); part of
        ``key``, so a lambda is ``when=<lambda>`` here, whatever line it is on."""
        return self._filters(lambda fn: getattr(fn, "__name__", "predicate"))

    @property
    def fired(self) -> int:
        """How many times the callback was called."""
        if self.filtered:  # filters, or removed (the counts were frozen)
            return self.n_fired
        return self.slot.n_events - self.events_base

    @property
    def seen(self) -> int:
        """Changes of the variable this subscription saw (fired or filtered out)."""
        return self.n_seen if self.filtered else self.fired

    def freeze_counts(self) -> None:
        """Keep the counts as they are (before the subscription is removed)."""
        self.n_fired, self.n_seen = self.fired, self.seen

    @property
    def filter_text(self) -> str:
        """The filters for people: a ``when=`` predicate by name, with file:line for a lambda."""
        return self._filters(predicate_label)

    @property
    def key(self) -> str:
        """A stable name for this subscription, used for its counter in ``state_dict``.

        A node's method is named by the node's key, a plain callback by its
        module: never by its file path or line, which change with the working
        directory and with edits, so a checkpoint resumes from anywhere.
        """
        fn = getattr(self.callback, "__func__", self.callback)
        name = getattr(fn, "__qualname__", type(fn).__name__)
        if isinstance(self.subscriber, CallbackNode):
            owner = getattr(fn, "__module__", None) or "callback"
        else:
            owner = self.subscriber.key
        return f"{self.slot.path} -> {owner}:{name}[{self.filter_label}]"

    def __repr__(self) -> str:
        return f"<Subscription {self.key}>"


class Handle:
    """Detaches one subscription: ``handle.remove()``, or ``with handle: ...``.

    Removing twice is harmless. After removal the handle holds no reference to
    the callback, and keeps the counts its subscription had.

    Example:
        >>> from pipeline import State
        >>> state = State()
        >>> state.configs.step = 0
        >>> handle = state.configs.step_ref.subscribe(lambda: None, every=2)
        >>> for step in range(1, 6):
        ...     state.configs.step = step
        >>> handle.n_fired, handle.n_seen
        (2, 5)
    """

    __slots__ = ("_counts", "_state", "_subscription")

    def __init__(self, state: State, subscription: Subscription) -> None:
        self._state: State | None = state
        self._subscription: Subscription | None = subscription
        self._counts = (0, 0)

    @property
    def n_fired(self) -> int:
        """How many times the callback was called (its filters passed)."""
        sub = self._subscription
        return sub.fired if sub is not None else self._counts[0]

    @property
    def n_seen(self) -> int:
        """How many changes of the variable the subscription saw (fired or filtered out)."""
        sub = self._subscription
        return sub.seen if sub is not None else self._counts[1]

    @property
    def filters(self) -> str:
        """The filters as text (``every=3, when=is_best``); empty when there are none."""
        sub = self._subscription
        return sub.filter_text if sub is not None else ""

    @property
    def active(self) -> bool:
        """Whether the subscription is still attached."""
        return self._subscription is not None and not self._subscription.removed

    @property
    def path(self) -> str | None:
        """The path of the subscribed variable, or None once removed."""
        return self._subscription.slot.path if self._subscription is not None else None

    def remove(self) -> None:
        """Detach the subscription (no-op when already removed)."""
        sub, state = self._subscription, self._state
        if sub is not None:
            self._counts = (sub.fired, sub.seen)
        self._subscription = None
        self._state = None
        if sub is not None and state is not None and not sub.removed:
            state._remove_subscription(sub)

    def __enter__(self) -> Handle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        if self._subscription is None:
            return f"<Handle removed, fired {self.n_fired} of {self.n_seen}>"
        filters = f" [{self.filters}]" if self.filters else ""
        return f"<Handle {self.path}{filters}, fired {self.n_fired} of {self.n_seen}>"
