"""Owners of variables: ``Node`` (a class with declared ``Variable``s, such as
an engine, a metric or a handler) and ``Container`` (a named group of the
state, such as ``configs``, whose variables are created by assignment).

Both share one ``__setattr__``: the only place where a variable set enters
the framework. Registration, the graph and propagation are the State's.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from pipeline._hooks import OwnerBase, generic_setattr
from pipeline.values import did_you_mean, summarize
from pipeline.variable import Ref, Slot, Variable

if TYPE_CHECKING:
    from pipeline.state import State

__all__ = ["CONTAINER_RESERVED", "Container", "Node"]


class _Owner(OwnerBase):
    """Base of Node and Container: where a variable set enters the framework.

    The hook itself (``__setattr__``) is ``OwnerBase``'s: compiled in
    ``pipeline/_speedups.c`` when built, else ``pipeline/_pyhooks.py``. It stores
    a variable's value as an ordinary attribute (so that a read stays a plain
    attribute read) and in its slot, and calls ``Runtime.on_set`` only when a
    subscriber, a trace, a hold block or a new writer needs it. Any other name
    comes here, to ``_set_other``.
    """

    _vars: dict[str, Slot]
    _state: State

    def _set_other(self, name: str, value: Any) -> None:
        if name.endswith("_ref") and name[:-4] in self._vars:
            raise AttributeError(
                f"'{name}' is the Ref of the variable '{name[:-4]}'; set the variable itself"
            )
        generic_setattr(self, name, value)

    def __reduce_ex__(self, protocol: Any) -> Any:
        # copy.copy, copy.deepcopy and pickle all come here. A copy would share
        # the original's slots (its sets would change the original's variables)
        # or drag the whole state along; neither is a usable node.
        raise TypeError(
            f"{self!r} belongs to its State and cannot be copied or pickled; build a new "
            "one in the state that needs it, and save values with state.state_dict()"
        )

    # No __getattr__ on purpose: defining one makes CPython 3.11 take its slow
    # path for every attribute read of the object. Refs are plain attributes
    # (``<name>_ref``, set at registration) and a typo gets Python's own
    # AttributeError, whose traceback suggests the closest name.


def _check_variable_name(cls_name: str, key: str, bases: tuple[type, ...]) -> None:
    """Refuse a Variable name that would shadow the node API or a ``<name>_ref`` lookup."""
    if key.startswith("_") or key.endswith("_ref"):
        raise TypeError(
            f"Variable '{key}' of {cls_name}: variable names may not start with '_' "
            "or end in '_ref' (reserved for refs); rename it"
        )
    for base in bases:
        for klass in base.__mro__:
            if key in vars(klass):
                raise TypeError(
                    f"Variable '{key}' of {cls_name} clashes with {klass.__name__}.{key}; "
                    "rename the variable"
                )


class _NodeMeta(type):
    """Keeps declared Variables off the class dict so instance reads stay plain.

    A class attribute with a variable's name would make every instance read of
    that name take CPython's slower generic path; the declarations are moved to
    ``_declared`` and remain reachable as ``NodeClass.<name>``.
    """

    _declared: dict[str, Variable]

    def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> _NodeMeta:
        declared: dict[str, Variable] = {}
        for base in reversed(bases):
            declared.update(getattr(base, "_declared", {}))
        for key, value in list(ns.items()):
            if key in declared and hasattr(type(value), "__set__"):
                # A data descriptor would take the sets and reads the variable's slot expects.
                raise TypeError(
                    f"{name}.{key} shadows the variable {key} that {name} inherits; rename it"
                )
            if isinstance(value, Variable):
                _check_variable_name(name, key, bases)
                value.name = key
                declared[key] = value
                del ns[key]
        ns["_declared"] = declared
        return super().__new__(mcs, name, bases, ns)

    def __getattr__(cls, name: str) -> Any:
        declared = cls.__dict__.get("_declared") or {}
        if name in declared:
            return declared[name]
        raise AttributeError(
            f"type object {cls.__name__!r} has no attribute {name!r}" + did_you_mean(name, declared)
        )


class Node(_Owner, metaclass=_NodeMeta):
    """A participant of the state graph: an engine, a metric, a handler, ...

    Subclasses declare ``Variable``s as class attributes; an instance registers
    under a container of the state (``container``, default the class's
    ``default_container``) and is reachable as ``state.<container>.<name>`` and,
    when the name is unique, ``state.<name>``.

    Args:
        state: the state to join.
        name: a Python identifier, unique within the container.
        container: the container to register under.

    Raises:
        TypeError: ``state`` is not a State or ``name`` is not a str.
        ValueError: ``name`` is not an identifier or is taken in the container.

    Example:
        >>> from pipeline import Node, State, Variable
        >>> class Counter(Node):
        ...     n = Variable(0)
        >>> state = State()
        >>> c = Counter(state, "counter", container="handlers")
        >>> state.handlers.counter is c and state.counter is c
        True
    """

    default_container: ClassVar[str] = "handlers"
    _name: str
    _container: str
    _declared: ClassVar[dict[str, Variable]]

    def __init__(self, state: State, name: str, container: str | None = None) -> None:
        from pipeline.state import State

        if not isinstance(state, State):
            raise TypeError(
                f"{type(self).__name__} needs a pipeline.State as first argument, "
                f"got {type(state).__name__}"
            )
        container = container or self.default_container
        generic_setattr(self, "_state", state)
        generic_setattr(self, "_name", name)
        generic_setattr(self, "_container", container)
        state._register_node(self, name, container)

    # Identity -------------------------------------------------------------
    @property
    def state(self) -> State:
        """The state this node belongs to."""
        return self._state  # type: ignore[no-any-return]

    @property
    def name(self) -> str:
        """The node's name within its container."""
        return self._name  # type: ignore[no-any-return]

    @property
    def key(self) -> str:
        """The node's path and graph key, such as ``"engines.trainer"``."""
        return f"{self._container}.{self._name}"

    @property
    def label(self) -> str:
        """How the node appears in chains and traces."""
        return f"{self._name} ({type(self).__name__})"

    def ref(self, name: str) -> Ref:
        """The ``Ref`` of one of this node's variables (same as ``self.<name>_ref``)."""
        return self._slot(name).ref

    def variables(self) -> dict[str, Any]:
        """The node's variables and their current values, in declaration order."""
        return {name: slot.value for name, slot in self._vars.items()}

    def declare_reads(self, *refs: Ref | str) -> None:
        """Declare variables this node reads (``reads`` edges; they order propagation)."""
        self._state._declare_edges(self, refs, "reads")

    def declare_writes(self, *refs: Ref | str, ordering_only: bool = False) -> None:
        """Declare variables of other owners this node writes (``writes`` edges).

        With ``ordering_only=True`` the node does not write them; the edges
        (kind ``orders``) only make a reader of those variables run after this
        node, as a write would. ``writers_of`` leaves them out, pictures draw
        them apart, and a loop through them is no trigger cycle.
        """
        if not isinstance(ordering_only, bool):
            raise TypeError(f"ordering_only must be a bool, got {ordering_only!r}")
        self._state._declare_edges(self, refs, "orders" if ordering_only else "writes")

    def reset_variables(self, **values: Any) -> None:
        """Set some of this node's variables without notifying anyone.

        A reset (an evaluator's counters going back to 0 before a new run,
        ``should_terminate`` cleared) is bookkeeping, not an event: a
        subscriber with ``every=10`` must not fire because a counter went back to 0.

        Raises:
            AttributeError: a name is not a variable of this node.
        """
        slots = [(self._slot(name), value) for name, value in values.items()]
        for slot, value in slots:
            slot.store_quietly(value)

    # Persistence hooks ------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """The node's own state beyond its variables (override; default: nothing)."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore what ``state_dict`` returned (override with it)."""
        if state_dict:
            raise ValueError(
                f"{self.key} has no state of its own to load, got keys {sorted(state_dict)}"
            )

    def check_state_dict(self, state_dict: dict[str, Any]) -> list[str]:
        """What keeps ``load_state_dict`` from loading ``state_dict`` (empty: it can).

        ``state.load_state_dict`` calls it for every node before it loads
        anything, so that a part a node would refuse is reported with every
        other mismatch and nothing is half-loaded. Override it next to
        ``load_state_dict`` to check what that one would refuse.
        """
        if state_dict and type(self).load_state_dict is Node.load_state_dict:
            return [f"{self.key} has no state of its own to load, got keys {sorted(state_dict)}"]
        return []

    def _slot(self, name: str) -> Slot:
        try:
            return self._vars[name]
        except KeyError:
            raise self._missing(name) from None

    def _missing(self, name: str) -> AttributeError:
        names = list(self._vars) + [n for n in dir(type(self)) if not n.startswith("_")]
        return AttributeError(
            f"'{name}' is not a variable or attribute of {self.key} "
            f"({type(self).__name__}){did_you_mean(name, names)}"
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.key}>"


class _ContainerName:
    """``container.name``: a non-data descriptor, so that a variable called ``name`` hides it."""

    def __get__(self, obj: Container | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return obj._name


#: The one name a container keeps for itself. Its other members (``name``,
#: ``nodes()``, ``variables()``) give way to a variable or node of that name:
#: a container is the user's namespace.
CONTAINER_RESERVED: frozenset[str] = frozenset({"add_variable"})


class Container(_Owner):
    """A named group of the state; assigning a new name creates a variable.

    A container is the user's namespace: any identifier that is not a Python
    keyword, does not start with ``_`` or end in ``_ref``, and is not
    ``add_variable`` names a variable or node. One called ``name``, ``nodes``
    or ``variables`` hides the member of that name on its container; the
    member stays reachable as ``Container.nodes(state.configs)`` (and the
    name as the key of ``state.containers``).

    Example:
        >>> from pipeline import State
        >>> state = State()
        >>> state.configs.lr = 0.1
        >>> state.configs.lr, state.configs.lr_ref.path
        (0.1, 'configs.lr')
    """

    _name: str
    _persistent: bool
    _nodes: dict[str, Node]

    if TYPE_CHECKING:
        # Variables and nodes are created at run time; to a type checker any name may exist.
        def __getattr__(self, name: str) -> Any: ...

    def __init__(self, state: State, name: str, persistent: bool = True) -> None:
        generic_setattr(self, "_state", state)
        generic_setattr(self, "_name", name)
        generic_setattr(self, "_persistent", persistent)
        generic_setattr(self, "_vars", {})
        generic_setattr(self, "_nodes", {})

    #: The container's name, the first part of its paths.
    name: str = _ContainerName()  # type: ignore[assignment]

    def _set_other(self, name: str, value: Any) -> None:
        if name.startswith("_"):
            raise AttributeError(f"'{self._name}.{name}': variable names may not start with '_'")
        if name in self._nodes:
            raise AttributeError(
                f"'{self._name}.{name}' is a node ({type(self._nodes[name]).__name__}); "
                "nodes are added by constructing them, not by assignment"
            )
        self.add_variable(name, value)

    def add_variable(
        self,
        name: str,
        value: Any = None,
        *,
        doc: str = "",
        writer: Node | None = None,
        persistent: bool | None = None,
    ) -> Ref:
        """Create the variable ``<container>.<name>`` and return its Ref.

        Args:
            name: a Python identifier not yet used in the container.
            value: its initial value.
            doc: what it means.
            writer: the node that writes it (a declared ``writes`` edge).
            persistent: saved by ``state_dict`` (None: when the value is data or
                has a ``state_dict``; False for the whole container if it was
                created with ``persistent=False``).

        Raises:
            ValueError: the name is not an identifier or is taken.
        """
        if persistent is None and not self._persistent:
            persistent = False
        return self._state._create_container_variable(
            self, name, value, doc=doc, writer=writer, persistent=persistent
        )

    def nodes(self) -> dict[str, Node]:
        """The nodes registered under this container, by name."""
        return dict(self._nodes)

    def variables(self) -> dict[str, Any]:
        """The container's own variables and their values."""
        return {name: slot.value for name, slot in self._vars.items()}

    def __contains__(self, name: object) -> bool:
        return name in self._vars or name in self._nodes

    def __iter__(self) -> Iterator[str]:
        yield from self._vars
        yield from self._nodes

    def __len__(self) -> int:
        return len(self._vars) + len(self._nodes)

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._vars) | set(self._nodes))

    def __repr__(self) -> str:
        text = ", ".join(f"{n}={summarize(s.value, 20)}" for n, s in self._vars.items())
        text = text if len(text) <= 60 else text[:57] + "..."
        return (
            f"<Container {self._name}: {len(self._vars)} variables, {len(self._nodes)} nodes"
            f"{'; ' + text if text else ''}>"
        )
