"""Variables and handles on them: ``Variable`` (the declaration on a Node
class), ``Slot`` (the per-instance record behind a variable), ``Ref`` (a handle
that names a variable without reading it) and ``Event`` (what a subscriber
receives when a variable changes).

Propagation, subscriptions and the graph live elsewhere; this module only
describes a variable and gives access to it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pipeline._hooks import SlotBase, generic_setattr
from pipeline.values import summarize

if TYPE_CHECKING:
    from pipeline.propagation import Runtime
    from pipeline.state import State
    from pipeline.subscription import Handle, Subscription

__all__ = ["Event", "Ref", "Slot", "Variable"]


class Variable:
    """Declare a state variable on a ``Node`` class.

    Reading ``node.<name>`` is a plain attribute read; setting it notifies the
    subscribers when the value changed (see ``pipeline.values.is_changed``).

    Args:
        default: the initial value (lists, dicts and sets are copied per instance).
        doc: what the variable means (the `doc` attribute of its node in ``state.graph``).
        persistent: whether ``state_dict()`` saves it.
        shared: allow writers other than the owning node (a single-writer
            variable written by two nodes or callbacks is a ``GraphError``).
        owner_only: refuse, at the line that writes it, a set made by anyone
            but the owning node's own code (an engine's counters); the value is
            kept and ``AttributeError`` raised. Loads and resets are not sets.

    Example:
        >>> from pipeline import Node, State, Variable
        >>> class Counter(Node):
        ...     n = Variable(0, doc="how many times it counted")
        >>> Counter(State(), "counter").n
        0
    """

    __slots__ = ("default", "doc", "name", "owner_only", "persistent", "shared")

    def __init__(
        self,
        default: Any = None,
        *,
        doc: str = "",
        persistent: bool = True,
        shared: bool = False,
        owner_only: bool = False,
    ) -> None:
        if not isinstance(doc, str):
            raise TypeError(f"Variable doc must be a str, got {type(doc).__name__}")
        flags = (persistent, shared, owner_only)
        if not all(isinstance(flag, bool) for flag in flags):
            raise TypeError(
                "Variable persistent, shared and owner_only must be bools, got "
                f"{persistent!r}, {shared!r} and {owner_only!r}"
            )
        if shared and owner_only:
            raise ValueError("a Variable cannot be both shared and owner_only")
        self.default = default
        self.doc = doc
        self.persistent = persistent
        self.shared = shared
        self.owner_only = owner_only
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def initial_value(self) -> Any:
        """The default, copied when it is a mutable container."""
        if isinstance(self.default, (list, dict, set)):
            return copy.copy(self.default)
        return self.default

    def __repr__(self) -> str:
        return f"Variable({self.default!r}, name={self.name!r})"


class Slot(SlotBase):
    """The record behind one variable of one owner (framework internal).

    The value is kept twice: in the owner's attribute (so that a read is a
    plain attribute read) and in ``value`` (so that the core reads it without
    going through the owner).
    """

    # value, rt, last_writer and watch are SlotBase's (the fields the set hook uses).
    __slots__ = (
        "doc",
        "groups",
        "n_event_subs",
        "n_events",
        "name",
        "needs_event",
        "order",
        "order_version",
        "owner",
        "owner_only",
        "path",
        "persistent",
        "ref",
        "shared",
        "state",
        "subs",
        "writer_keys",
    )

    def __init__(
        self,
        state: State,
        owner: object,
        name: str,
        path: str,
        value: Any,
        *,
        doc: str = "",
        persistent: bool | None = None,
        shared: bool = True,
        owner_only: bool = False,
    ) -> None:
        self.state = state
        self.rt: Runtime = state._rt
        self.owner = owner
        self.name = name
        self.path = path
        self.value = value
        self.doc = doc
        self.persistent = persistent  # None: persisted when the value is data or has a state_dict
        self.shared = shared
        # The subscriptions in subscription order, as dict keys so that removing
        # one costs O(1) (a variable may have tens of thousands of subscribers);
        # groups holds the same per subscriber (for its trigger edge).
        self.subs: dict[Subscription, None] = {}
        self.groups: dict[object, dict[Subscription, None]] = {}
        self.n_events = 0  # changes notified to subscribers (what an unfiltered one was called for)
        self.order: list[Subscription] = []  # subs in dependency order, as of ...
        self.order_version = -1  # ... this graph version (Runtime.version)
        self.watch = False
        self.needs_event = False  # some subscription takes the Event
        self.n_event_subs = 0
        self.owner_only = owner_only
        # An owner-only variable starts as written by its owner, so that the set
        # hook hands any other writer's first set to Runtime.on_set, which refuses it.
        self.last_writer: object = owner if owner_only else None
        self.writer_keys: set[str] = set()
        self.ref = Ref(self)

    def store_quietly(self, value: Any) -> None:
        """Set the variable without notifying anyone (loads and resets)."""
        generic_setattr(self.owner, self.name, value)
        self.value = value

    def __repr__(self) -> str:
        return f"<Slot {self.path}={summarize(self.value)}>"


class Ref:
    """A handle on a variable that does not read its value.

    Obtained as ``owner.<name>_ref`` or ``state.ref("path")``; two refs on the
    same variable are equal.

    Example:
        >>> from pipeline import State
        >>> state = State()
        >>> state.configs.lr = 0.1
        >>> r = state.configs.lr_ref
        >>> r.path, r.value, r == state.ref("configs.lr")
        ('configs.lr', 0.1, True)
    """

    __slots__ = ("_slot",)

    def __init__(self, slot: Slot) -> None:
        self._slot = slot

    @property
    def path(self) -> str:
        """The variable's path, such as ``"engines.trainer.n_samples"``."""
        return self._slot.path

    @property
    def name(self) -> str:
        """The variable's own name, the last part of its path."""
        return self._slot.name

    @property
    def owner(self) -> object:
        """The node or container that holds the variable."""
        return self._slot.owner

    @property
    def state(self) -> State:
        """The state the variable belongs to."""
        return self._slot.state

    @property
    def value(self) -> Any:
        """The current value; setting it is the same as assigning the attribute."""
        return self._slot.value

    @value.setter
    def value(self, new: Any) -> None:
        setattr(self._slot.owner, self._slot.name, new)

    def subscribe(
        self,
        callback: Callable[..., Any],
        every: int | None = None,
        once: int | None = None,
        when: Callable[[Any], Any] | None = None,
        *,
        reads: tuple[Ref | str, ...] | list[Ref | str] = (),
        writes: tuple[Ref | str, ...] | list[Ref | str] = (),
        allow_cycle: bool = False,
    ) -> Handle:
        """Call ``callback`` when this variable changes and the filters pass.

        Args:
            callback: takes no argument, or one ``Event``.
            every: for an int variable, fire when the new value is a multiple
                of ``every``; for any other variable, on every ``every``-th change.
            once: for an int variable, fire when the new value equals ``once``;
                otherwise on the ``once``-th change only.
            when: a predicate of the new value; the callback fires only when it is true.
            reads: variables the callback reads (declared ``reads`` edges; they
                order it after the writers of those variables).
            writes: variables the callback writes (declared ``writes`` edges).
            allow_cycle: accept a trigger cycle through this subscription at ``validate()``.

        Returns:
            A ``Handle`` whose ``remove()`` (or ``with``) detaches it.

        Raises:
            TypeError: the callback takes other than zero or one argument.
            ValueError: ``every``/``once`` are not positive integers, or both are given.
        """
        return self._slot.state._subscribe(
            self._slot, callback, every, once, when, reads, writes, allow_cycle
        )

    def unsubscribe(self, callback: Callable[..., Any]) -> int:
        """Remove every subscription of ``callback`` to this variable; return how many."""
        return self._slot.state._unsubscribe(self._slot, callback)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Ref) and other._slot is self._slot

    def __hash__(self) -> int:
        return hash(self._slot)

    def __repr__(self) -> str:
        return f"Ref({self._slot.path!r})"


class Event:
    """What a one-argument subscriber receives: which variable changed, from what, to what.

    Attributes:
        ref: the variable that changed.
        old: its value before the change.
        new: its value after the change.
        state: the state it belongs to.
    """

    __slots__ = ("new", "old", "ref", "state")

    def __init__(self, ref: Ref, old: Any, new: Any, state: State) -> None:
        self.ref = ref
        self.old = old
        self.new = new
        self.state = state

    @property
    def path(self) -> str:
        """The path of the variable that changed."""
        return self.ref.path

    def __repr__(self) -> str:
        return f"Event({self.ref.path}: {summarize(self.old)} -> {summarize(self.new)})"
