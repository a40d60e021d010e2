"""``State``: the root of a training, the registry of its containers, nodes and
variables, and the keeper of the dependency graph.

State is a façade: it registers things, resolves paths, adds and removes
graph edges, and hands the rest to its neighbours (propagation in
``propagation.py``, graph computations in ``graph.py``, rendering and the
overview in ``render.py``, tracing in ``trace.py``, persistence in
``persistence.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import networkx as nx

from pipeline import graph as graph_ops
from pipeline._hooks import generic_setattr
from pipeline.errors import GraphError
from pipeline.names import check_name, warn_no_alias
from pipeline.node import Container, Node
from pipeline.propagation import InProgress, PendingCall, Runtime
from pipeline.subscription import (
    CallbackNode,
    Handle,
    Subscription,
    callback_key,
    callback_label,
    check_filters,
    takes_event,
)
from pipeline.values import did_you_mean, is_changed
from pipeline.variable import Ref, Slot

if TYPE_CHECKING:
    from pipeline.trace import Trace
    from pipeline.views.live import LiveServer

__all__ = ["STANDARD_CONTAINERS", "State"]

F = TypeVar("F", bound=Callable[..., Any])

#: The containers every State has, and whether their own variables are saved by default.
STANDARD_CONTAINERS: dict[str, bool] = {
    "configs": True,
    "params": True,
    "modules": True,
    "optimizers": True,
    "dataloaders": False,
    "engines": True,
    "metrics": True,
    "handlers": True,
    "writers": False,
    "structure": False,
}


@functools.cache
def _container_class(name: str) -> type[Container]:
    # One class per container name, so that Python's own AttributeError for a
    # typo names it: "'Container[configs]' object has no attribute 'lrr'".
    return type(f"Container[{name}]", (Container,), {"__module__": Container.__module__})


def _object_getattr(obj: object, name: str, default: Any) -> Any:
    try:
        return object.__getattribute__(obj, name)
    except AttributeError:
        return default


class State:
    """The training state: every container, node and variable, and their graph.

    Example:
        >>> from pipeline import State
        >>> state = State()
        >>> state.configs.lr = 0.1
        >>> seen = []
        >>> @state.on("configs.lr")
        ... def record(event):
        ...     seen.append((event.old, event.new))
        >>> state.configs.lr = 0.05
        >>> seen
        [(0.1, 0.05)]
    """

    _rt: Runtime
    _graph: nx.DiGraph
    _containers: dict[str, Container]
    _nodes: dict[str, Node]
    _by_name: dict[str, list[Node]]
    _slots: dict[str, Slot]
    _callbacks: dict[Any, CallbackNode]
    _label_counts: dict[str, int]
    configs: Container
    params: Container
    modules: Container
    optimizers: Container
    dataloaders: Container
    engines: Container
    metrics: Container
    handlers: Container
    writers: Container
    structure: Container

    if TYPE_CHECKING:
        # Nodes are reachable as state.<name>; to a type checker any name may exist.
        def __getattr__(self, name: str) -> Any: ...

    _ranks: tuple[int, dict[str, int]]
    _n_subscribed: int

    def __init__(self) -> None:
        generic_setattr(self, "_rt", Runtime(self))
        generic_setattr(self, "_graph", nx.DiGraph())
        generic_setattr(self, "_containers", {})
        generic_setattr(self, "_nodes", {})
        generic_setattr(self, "_by_name", {})
        generic_setattr(self, "_slots", {})
        generic_setattr(self, "_callbacks", {})
        generic_setattr(self, "_label_counts", {})
        generic_setattr(self, "_ranks", (-1, {}))
        generic_setattr(self, "_n_subscribed", 0)
        for name, persistent in STANDARD_CONTAINERS.items():
            self.add_container(name, persistent=persistent)
        # Changes of the state's structure are variables too: subscribe to them
        # to pick up nodes and variables created later (e.g. new metrics).
        structure = self._containers["structure"]
        structure.add_variable("n_variables", 0, doc="variables created outside 'structure'")
        structure.add_variable("last_variable", None, doc="path of the newest variable")
        structure.add_variable("n_nodes", 0, doc="nodes registered")
        structure.add_variable("last_node", None, doc="key of the newest node")
        structure.add_variable(
            "title",
            "",
            doc="what this state is, e.g. 'rank 1 of 2'; heads the overview and the graph",
        )

    # Containers and nodes ---------------------------------------------------
    def add_container(self, name: str, persistent: bool = True) -> Container:
        """Add a custom container, reachable as ``state.<name>``.

        Raises:
            TypeError: the name is not a str.
            ValueError: the name is not an identifier, is a Python keyword, exists, or
                clashes with State's API.
        """
        check_name("container", name, f"state.{name}")
        if name in self._containers:
            raise ValueError(f"container '{name}' already exists")
        if hasattr(type(self), name) or name in self._by_name:
            raise ValueError(
                f"container name '{name}' clashes with "
                f"{'State.' + name if hasattr(type(self), name) else 'a node of that name'}; "
                "choose another name"
            )
        # One class per container, so that Python's own AttributeError for a
        # typo names it: "'Container[configs]' object has no attribute 'lrr'".
        container: Container = _container_class(name)(self, name, persistent=persistent)
        self._containers[name] = container
        generic_setattr(self, name, container)
        return container

    @property
    def containers(self) -> dict[str, Container]:
        """The containers by name (a copy)."""
        return dict(self._containers)

    def nodes(self) -> dict[str, Node]:
        """Every node by key (``"engines.trainer"``), in registration order."""
        return dict(self._nodes)

    def variables(self) -> dict[str, Any]:
        """Every variable's path and current value."""
        return {path: slot.value for path, slot in self._slots.items()}

    def _register_node(self, node: Node, name: str, container: str) -> None:
        check_name("node", name, f"state.{container}.{name}")
        if container not in self._containers:
            raise ValueError(
                f"'{container}' is not a container of the state"
                f"{did_you_mean(container, self._containers)}; add it with "
                f"state.add_container({container!r})"
            )
        box = self._containers[container]
        if name in box:
            taken = box._nodes.get(name) or f"the variable {container}.{name}"
            raise ValueError(
                f"'{container}.{name}' is already taken by {taken}; choose another name"
            )
        key = f"{container}.{name}"
        # Published last (node._vars, the container, state.nodes()): a live view
        # reads them from another thread, and finds every slot and graph node of
        # what it sees there.
        # Values a subclass set before Node.__init__ become the initial values.
        # (Read with getattr: touching node.__dict__ would slow every later read.)
        unset = object()
        slots: dict[str, Slot] = {}
        for vname, decl in type(node)._declared.items():
            value = _object_getattr(node, vname, unset)
            if value is unset:
                value = decl.initial_value()
            slots[vname] = Slot(
                self,
                node,
                vname,
                f"{key}.{vname}",
                value,
                doc=decl.doc,
                persistent=decl.persistent,
                shared=decl.shared,
                owner_only=decl.owner_only,
            )
            generic_setattr(node, vname, value)
            generic_setattr(node, f"{vname}_ref", slots[vname].ref)
        self._graph.add_node(key, kind="node", cls=type(node).__name__, container=container)
        for slot in slots.values():
            self._add_slot(slot, writer_key=key)
        generic_setattr(node, "_vars", slots)
        self._nodes[key] = node
        box._nodes[name] = node
        generic_setattr(box, name, node)
        same = self._by_name.setdefault(name, [])
        same.append(node)
        if len(same) == 1:
            if name in self._containers or hasattr(type(self), name):
                warn_no_alias(key, name, is_container=name in self._containers)
            else:
                generic_setattr(self, name, node)
        elif len(same) == 2:
            self._mark_ambiguous(name)
        for slot in slots.values():
            self._note_variable(slot)
        self._note_structure("n_nodes", "last_node", key)

    def _mark_ambiguous(self, name: str) -> None:
        """Replace the alias ``state.<name>`` by an error naming every node called so."""
        with suppress(AttributeError):
            object.__delattr__(self, name)
        cls = type(self)
        if not cls.__dict__.get("_own_class"):
            # A class of this state's own (also for a subclass of State), so that
            # the property below concerns this state only.
            cls = type(
                cls.__name__,
                (cls,),
                {"__module__": cls.__module__, "__doc__": cls.__doc__, "_own_class": True},
            )
            generic_setattr(self, "__class__", cls)

        def ambiguous(state: State) -> Any:
            keys = ", ".join(n.key for n in state._by_name[name])
            raise AttributeError(
                f"'{name}' is ambiguous: it names {keys}; use the container, "
                f"e.g. state.{state._by_name[name][0].key}"
            )

        setattr(cls, name, property(ambiguous))

    def _create_container_variable(
        self,
        container: Container,
        name: str,
        value: Any,
        *,
        doc: str,
        writer: Node | None,
        persistent: bool | None,
    ) -> Ref:
        where = container._name
        check_name("variable", name, f"state.{where}.{name}")
        if name in container:
            raise ValueError(f"'{where}.{name}' already exists")
        if name.endswith("_ref"):
            raise ValueError(f"'{where}.{name}': names ending in '_ref' are reserved for refs")
        slot = Slot(
            self,
            container,
            name,
            f"{where}.{name}",
            value,
            doc=doc,
            persistent=persistent,
            shared=True,
        )
        self._add_slot(slot, writer_key=writer.key if writer is not None else None)
        generic_setattr(container, name, value)
        generic_setattr(container, f"{name}_ref", slot.ref)
        container._vars[name] = slot  # last: a live view reads it from another thread
        self._note_variable(slot)
        return slot.ref

    def _add_slot(self, slot: Slot, writer_key: str | None) -> None:
        self._slots[slot.path] = slot
        owner = slot.owner
        owner_key = owner.key if isinstance(owner, Node) else cast(Container, owner)._name
        self._graph.add_node(slot.path, kind="variable", owner=owner_key, doc=slot.doc)
        if writer_key is not None:
            self._graph.add_edge(writer_key, slot.path, kind="writes", declared=True)
            slot.writer_keys.add(writer_key)
        self._rt.version += 1

    def _note_variable(self, slot: Slot) -> None:
        """Count a new variable, once it is published (its subscribers may read it)."""
        if slot.owner is not self.structure:
            self._note_structure("n_variables", "last_variable", slot.path)

    def _note_structure(self, counter: str, last: str, what: str) -> None:
        """Count a new node or variable; bookkeeping of the core, written by nobody."""
        rt, structure = self._rt, self.structure
        prev, rt.writer = rt.writer, None
        try:
            setattr(structure, counter, getattr(structure, counter) + 1)
            setattr(structure, last, what)
        finally:
            rt.writer = prev

    # Paths and refs ----------------------------------------------------------
    def ref(self, path: str) -> Ref:
        """The ``Ref`` of the variable at ``path`` (``"configs.lr"``,
        ``"engines.trainer.n_samples"``, or ``"trainer.n_samples"`` for a unique node name).

        Raises:
            AttributeError: no such variable; the message suggests close names.
        """
        return self._resolve(path).ref

    def _resolve(self, target: Ref | str) -> Slot:
        if isinstance(target, Ref):
            if target.state is not self:
                raise ValueError(f"{target!r} belongs to another State")
            return target._slot
        if not isinstance(target, str):
            raise TypeError(f"expected a Ref or a path string, got {type(target).__name__}")
        slot = self._slots.get(target)
        if slot is not None:
            return slot
        parts = target.split(".")
        if len(parts) == 2 and parts[0] not in self._containers:
            same = self._by_name.get(parts[0], [])
            if len(same) == 1 and parts[1] in same[0]._vars:
                return same[0]._vars[parts[1]]
        raise AttributeError(self._path_error(target))

    def _path_error(self, path: str) -> str:
        parts = path.split(".")
        head = parts[0]
        if head not in self._containers:
            names = list(self._containers) + [n for n, s in self._by_name.items() if len(s) == 1]
            same = self._by_name.get(head, [])
            if len(same) > 1:
                return f"'{path}' is ambiguous: '{head}' names several nodes; use the full path"
            if len(same) == 1:
                node = same[0]
                var = ".".join(parts[1:])
                return (
                    f"'{var}' is not a variable of {node.key} ({type(node).__name__})"
                    f"{did_you_mean(var, node._vars)}"
                )
            return f"'{path}': '{head}' is not a container{did_you_mean(head, names)}"
        box = self._containers[head]
        if len(parts) < 2:
            return f"'{path}' is a container, not a variable"
        second = parts[1]
        if second in box._nodes:
            node = box._nodes[second]
            if len(parts) == 2:
                return f"'{path}' is a node, not a variable"
            var = ".".join(parts[2:])
            return (
                f"'{var}' is not a variable of {node.key} ({type(node).__name__})"
                f"{did_you_mean(var, node._vars)}"
            )
        return (
            f"'{second}' is not a variable or node of container '{head}'"
            f"{did_you_mean(second, list(box._vars) + list(box._nodes))}"
        )

    # Subscriptions -----------------------------------------------------------
    def on(
        self,
        target: Ref | str,
        every: int | None = None,
        once: int | None = None,
        when: Callable[[Any], Any] | None = None,
        *,
        reads: Iterable[Ref | str] = (),
        writes: Iterable[Ref | str] = (),
        allow_cycle: bool = False,
    ) -> Callable[[F], F]:
        """Decorator form of ``Ref.subscribe``; returns the function unchanged.

        Raises:
            AttributeError: ``target`` names no variable.
            TypeError, ValueError: the filters are invalid (see ``Ref.subscribe``).
        """
        slot = self._resolve(target)
        check_filters(every, once, when)  # fail at the line that wrote them, not at def

        def decorate(fn: F) -> F:
            self._subscribe(slot, fn, every, once, when, reads, writes, allow_cycle)
            return fn

        return decorate

    def _subscriber_for(self, callback: Callable[..., Any]) -> Node | CallbackNode:
        # A node's method, or a functools.partial of one (one callback per
        # variable, so that hold() does not merge them), acts as the node.
        owner = getattr(getattr(callback, "func", callback), "__self__", None)
        if isinstance(owner, Node) and owner._state is self:
            return owner
        known = self._callbacks.get(callback_key(callback))
        if known is not None:
            return known  # type: ignore[no-any-return]
        label = callback_label(callback)
        key = label
        if key in self._graph:  # another callback with that name and line (lambdas on one line)
            n = self._label_counts.get(label, 1)
            while key in self._graph:
                n += 1
                key = f"{label} #{n}"
            self._label_counts[label] = n
        node = CallbackNode(key, label)
        self._callbacks[callback_key(callback)] = node
        self._graph.add_node(key, kind="callback")
        return node

    def _subscribe(
        self,
        slot: Slot,
        callback: Callable[..., Any],
        every: int | None,
        once: int | None,
        when: Callable[[Any], Any] | None,
        reads: Iterable[Ref | str],
        writes: Iterable[Ref | str],
        allow_cycle: bool,
    ) -> Handle:
        pass_event = takes_event(callback)
        check_filters(every, once, when)
        if not isinstance(allow_cycle, bool):
            raise TypeError(f"allow_cycle must be a bool, got {allow_cycle!r}")
        read_slots = [self._resolve(r) for r in _as_list(reads, "reads")]
        write_slots = [self._resolve(w) for w in _as_list(writes, "writes")]
        subscriber = self._subscriber_for(callback)
        generic_setattr(self, "_n_subscribed", self._n_subscribed + 1)
        sub = Subscription(
            slot,
            callback,
            pass_event,
            subscriber,
            every,
            once,
            when,
            allow_cycle,
            index=self._n_subscribed,
        )
        slot.subs[sub] = None
        slot.groups.setdefault(subscriber, {})[sub] = None
        slot.watch = True
        if pass_event:
            slot.n_event_subs += 1
            slot.needs_event = True
        if isinstance(subscriber, CallbackNode):
            subscriber.n_subscriptions += 1
        self._update_trigger_edge(slot, subscriber)
        self._add_edges(subscriber, read_slots, "reads")
        self._add_edges(subscriber, write_slots, "writes")
        self._rt.version += 1
        return Handle(self, sub)

    def _unsubscribe(self, slot: Slot, callback: Callable[..., Any]) -> int:
        subs = [s for s in slot.subs if s.callback == callback]
        for sub in subs:
            self._remove_subscription(sub)
        return len(subs)

    def _remove_subscription(self, sub: Subscription) -> None:
        # Every step is O(1) (or O(what this subscriber has on this variable)),
        # so that removing N subscribers of one variable costs O(N), not O(N^2).
        slot = sub.slot
        sub.freeze_counts()
        sub.removed = True
        sub.filtered = True  # a propagation under way skips it
        del slot.subs[sub]
        subscriber = sub.subscriber
        group = slot.groups[subscriber]
        del group[sub]
        if not group:
            del slot.groups[subscriber]
        if slot.order:  # recomputed at the next notification (the version changes below)
            slot.order = []
            slot.order_version = -1
        slot.watch = bool(slot.subs)
        if sub.pass_event:
            slot.n_event_subs -= 1
            slot.needs_event = slot.n_event_subs > 0
        self._update_trigger_edge(slot, subscriber)
        callback = sub.callback
        # Drop what the subscription holds so nothing outlives the removal.
        sub.callback = _removed
        sub.when = None
        if isinstance(subscriber, CallbackNode):
            subscriber.n_subscriptions -= 1
            if subscriber.n_subscriptions == 0:
                self._forget_callback(callback, subscriber)
        self._rt.version += 1

    def _forget_callback(self, callback: Callable[..., Any], node: CallbackNode) -> None:
        self._callbacks.pop(callback_key(callback), None)
        for slot in node.written:
            slot.writer_keys.discard(node.key)
            if slot.last_writer is node:
                slot.last_writer = None
        node.written.clear()
        if node.key in self._graph:
            self._graph.remove_node(node.key)

    def _update_trigger_edge(self, slot: Slot, subscriber: Node | CallbackNode) -> None:
        g, key = self._graph, subscriber.key
        subs = list(slot.groups.get(subscriber, ()))
        reads = g.has_edge(slot.path, key) and (
            g.edges[slot.path, key]["kind"] == "reads" or g.edges[slot.path, key].get("reads")
        )
        if g.has_edge(slot.path, key):
            g.remove_edge(slot.path, key)
        if subs:
            g.add_edge(
                slot.path,
                key,
                kind="triggers",
                n=len(subs),
                reads=bool(reads),
                label="; ".join(s.filter_text for s in subs if s.filter_text),
                allow_cycle=any(s.allow_cycle for s in subs),
            )
        elif reads:
            g.add_edge(slot.path, key, kind="reads")

    def _add_edges(self, subscriber: Node | CallbackNode, slots: list[Slot], kind: str) -> None:
        g, key = self._graph, subscriber.key
        for slot in slots:
            if kind == "reads":
                if g.has_edge(slot.path, key):
                    g.edges[slot.path, key]["reads"] = True
                else:
                    g.add_edge(slot.path, key, kind="reads")
            elif kind == "orders":  # a write only for ordering: a real write edge wins
                if not g.has_edge(key, slot.path):
                    g.add_edge(key, slot.path, kind="orders", declared=True)
            else:
                if g.has_edge(key, slot.path) and g.edges[key, slot.path]["kind"] == "orders":
                    g.remove_edge(key, slot.path)
                if g.has_edge(key, slot.path):
                    g.edges[key, slot.path]["declared"] = True
                else:
                    g.add_edge(key, slot.path, kind="writes", declared=True)
                slot.writer_keys.add(key)
                if isinstance(subscriber, CallbackNode):
                    subscriber.written.add(slot)

    def _declare_edges(self, node: Node, refs: Iterable[Ref | str], kind: str) -> None:
        slots = [self._resolve(r) for r in refs]
        self._add_edges(node, slots, kind)
        self._rt.version += 1

    def _observe_write(self, writer: Node | CallbackNode, slot: Slot) -> None:
        g = self._graph
        if writer.key not in g:  # a callback that removed itself and then wrote
            return
        slot.writer_keys.add(writer.key)
        if g.has_edge(writer.key, slot.path) and g.edges[writer.key, slot.path]["kind"] == "writes":
            g.edges[writer.key, slot.path]["observed"] = True
        else:  # new, or declared for ordering only and now seen writing
            if g.has_edge(writer.key, slot.path):
                g.remove_edge(writer.key, slot.path)
            g.add_edge(writer.key, slot.path, kind="writes", observed=True)
        if isinstance(writer, CallbackNode):
            writer.written.add(slot)
        self._rt.version += 1

    def _reorder(self, slot: Slot) -> list[Subscription]:
        order = graph_ops.dependency_order(self._graph, list(slot.subs))
        slot.order = order
        slot.order_version = self._rt.version
        return order

    def _slot_ranks(self) -> dict[str, int]:
        version, ranks = self._ranks
        if version != self._rt.version:
            ranks = graph_ops.variable_ranks(self._graph)
            generic_setattr(self, "_ranks", (self._rt.version, ranks))
        return ranks  # type: ignore[no-any-return]

    # Running -------------------------------------------------------------------
    @contextmanager
    def hold(self) -> Iterator[None]:
        """Defer notifications to the end of the block (glitch-free batch).

        Values change at once; at the end of the outermost block each changed
        variable notifies once with its final value, in topological order, and
        a callback subscribed to several changed variables fires once, after
        all of them. Notifications follow the values: a nested block that
        raises inside an outer one that goes on leaves its values changed, so
        its notifications are delivered with the outer block's. When the
        outermost block raises, the values stay but no subscriber runs while
        the exception propagates: the deferred notifications are dropped and a
        note on the exception names the variables whose subscribers missed them.
        """
        rt = self._rt
        rt.hold_depth += 1
        rt.slow = True
        try:
            yield
        except BaseException as exc:
            rt.hold_depth -= 1
            rt.refresh_slow()
            if rt.hold_depth == 0:
                dropped = [
                    slot.path
                    for slot, old in rt.held.items()
                    if slot.subs and is_changed(old, slot.value)
                ]
                rt.held.clear()
                if dropped:
                    shown = ", ".join(dropped[:10]) + (", ..." if len(dropped) > 10 else "")
                    exc.add_note(
                        f"state.hold() dropped the notifications of {len(dropped)} changed "
                        f"variable{'s' if len(dropped) != 1 else ''} ({shown}): their values "
                        "changed but their subscribers did not run"
                    )
            raise
        rt.hold_depth -= 1
        rt.refresh_slow()
        if rt.hold_depth == 0:
            rt.flush_held()

    @property
    def holding(self) -> bool:
        """Whether a ``hold`` block is open (notifications are being deferred)."""
        return self._rt.hold_depth > 0

    @property
    def current_writer(self) -> Node | CallbackNode | None:
        """The node or callback whose code runs now (None: code outside any of them)."""
        return self._rt.writer  # type: ignore[no-any-return]

    @property
    def graph_version(self) -> int:
        """A number that changes whenever the graph does (a node, variable, subscription or
        edge added or removed, a new writer observed): what was validated at one version
        holds until it changes."""
        return self._rt.version

    def in_progress(self) -> list[InProgress]:
        """The notifications running now, outermost first: who set which variable, the
        subscriber running, and those still to run after it (what a checkpoint taken
        here must carry to resume exactly)."""
        return self._rt.in_progress()

    def interrupted(self, exc: BaseException) -> list[InProgress]:
        """The notifications an exception came out of, outermost first, as
        ``in_progress`` gives them; ``subscriber`` is the one it came from."""
        return self._rt.interrupted(exc)

    def call_pending(self, call: PendingCall) -> bool:
        """Call a subscriber that a saved notification had still to call (see
        ``in_progress``); False when its filter does not pass.

        Raises:
            LookupError: the state has no such subscription.
        """
        return self._rt.call_pending(call)

    @contextmanager
    def writing_as(self, writer: Node) -> Iterator[None]:
        """Attribute the sets made inside the block to ``writer`` (for a node's own loop)."""
        rt = self._rt
        prev = rt.writer
        rt.writer = writer
        try:
            yield
        finally:
            rt.writer = prev

    def trace(self, maxlen: int = 10_000) -> Trace:
        """Record what is set, by whom, old and new, in a bounded buffer.

        Example:
            >>> from pipeline import State
            >>> state = State()
            >>> state.configs.x = 1
            >>> with state.trace() as t:
            ...     state.configs.x = 2
            >>> "configs.x: 1 -> 2" in str(t)
            True
        """
        from pipeline.trace import Trace

        return Trace(self, maxlen=maxlen)

    # The graph ---------------------------------------------------------------
    @property
    def graph(self) -> nx.DiGraph:
        """A read-only view of the dependency graph (see ``pipeline.graph``)."""
        return self._graph.copy(as_view=True)

    def validate(self) -> None:
        """Check the whole graph and raise one ``GraphError`` listing every problem."""
        problems = graph_ops.find_problems(
            self._graph,
            lambda path: self._slots[path].value,
            [path for path, slot in self._slots.items() if not slot.shared],
        )
        if problems:
            raise GraphError(problems)

    def writers_of(self, target: Ref | str) -> list[str]:
        """Keys of the nodes and callbacks that write a variable (declared or observed)."""
        return graph_ops.writers_of(self._graph, self._resolve(target).path)

    def readers_of(self, target: Ref | str) -> list[str]:
        """Keys of the nodes and callbacks that declare they read a variable."""
        return graph_ops.readers_of(self._graph, self._resolve(target).path)

    def subscribers_of(self, target: Ref | str) -> list[str]:
        """Keys of what a change of a variable triggers directly."""
        return graph_ops.subscribers_of(self._graph, self._resolve(target).path)

    def render(
        self,
        path: str | Path,
        trace: Trace | None = None,
        *,
        level: str = "nodes",
        focus: str | None = None,
        depth: int = 2,
        connected_only: bool = False,
    ) -> Path:
        """Draw the graph; the suffix picks the format (.svg .png .pdf .dot/.gv .html/.htm).

        ``.html`` writes one self-contained interactive page (nothing fetched
        from the network; expand and collapse, search, focus on a click, a
        side panel, the legend, replay of ``trace``), the others a Graphviz
        picture.

        ``level`` is ``"nodes"`` (default: one box per node, its variables
        folded in; readable for a whole training), ``"containers"`` or
        ``"variables"`` (every variable its own box). ``focus`` (a variable,
        node, callback or container) keeps only what lies within ``depth``
        edges upstream and downstream of it. ``trace`` overlays what a
        ``trace`` recorded: old -> new values, sets and changes, the
        calls along each edge, the node that ran. ``connected_only`` (at the
        ``variables`` level) leaves out the variables nothing reads, writes or
        subscribes to besides their owner. See ``view_model`` for the data
        the picture is drawn from.

        Without the ``dot`` program, writes the ``.dot`` source next to ``path``,
        warns with ``RenderWarning`` how to install Graphviz, and
        returns the ``.dot`` path.

        Raises:
            ValueError: an unsupported suffix, an unknown level, or a focus naming nothing.
        """
        if Path(path).suffix.lower() in (".html", ".htm"):
            from pipeline.views.html import write_html

            return write_html(self, Path(path), trace, level=level, focus=focus, depth=depth)
        from pipeline.render import render

        model = self.view_model(level, focus, depth, trace, connected_only=connected_only)
        return render(model, Path(path))

    def view_model(
        self,
        level: str = "nodes",
        focus: str | None = None,
        depth: int = 2,
        trace: Trace | None = None,
        *,
        connected_only: bool = False,
    ) -> dict[str, Any]:
        """The graph at one level of detail as JSON-able data (boxes and edges).

        The shape is documented in ``pipeline.views.model``; every picture
        of the state is drawn from it.

        Args:
            level: ``"nodes"`` (one box per node, its variables inside),
                ``"containers"`` (one box per container) or ``"variables"``
                (every variable its own box).
            focus: a variable, node, callback or container path: keep only what
                lies within ``depth`` edges of it (None: everything).
            depth: how many edges around ``focus`` are kept.
            trace: a trace whose sets and fires are drawn on the edges.
            connected_only: at the variables level, leave out the variables
                nothing reads, writes or subscribes to.

        Raises:
            ValueError: an unknown level, a negative depth, or a focus that names
                nothing (or a container with nothing drawn at that level).
        """
        from pipeline.views.model import view_model

        return view_model(self, level, focus, depth, trace, connected_only=connected_only)

    def serve(self, port: int = 0, host: str = "127.0.0.1", *, level: str = "nodes") -> LiveServer:
        """Serve the interactive view live, on a local HTTP server in a background thread.

        The page at ``server.url`` follows the run: values and fire counts
        update every second. ``GET server.url + "snapshot.json"`` returns
        ``{"variables": {path: value summary}, "subscriptions": [counts]}``.
        The loop pays nothing: no lock, no hook; the snapshot is read on the
        server's thread. ``port=0`` takes any free port.

        Example:
            >>> from pipeline import State
            >>> state = State()
            >>> with state.serve() as server:
            ...     server.url.startswith("http://127.0.0.1:")
            True

        Raises:
            ValueError: a port outside 0-65535 or an unknown level.
            OSError: the port is taken.
        """
        from pipeline.views.live import LiveServer

        return LiveServer(self, port, host, level=level)

    def explain(self, target: Ref | str, trace: Trace | None = None) -> str:
        """One variable in words: value, writers (observed, declared, ordering only),
        readers, every subscriber with its filter and ``fired F of S``, the last writer.

        Example:
            >>> from pipeline import State
            >>> state = State()
            >>> state.configs.step = 0
            >>> def is_even(step):
            ...     return step % 2 == 0
            >>> def log():
            ...     pass
            >>> handle = state.configs.step_ref.subscribe(log, when=is_even)
            >>> for step in range(1, 4):
            ...     state.configs.step = step
            >>> print(state.explain("configs.step").splitlines()[-1])  # doctest: +ELLIPSIS
                log (...)  when=is_even  fired 1 of 3
        """
        from pipeline.views.explain import explain

        return explain(self, target, trace)

    def overview(self) -> str:
        """The state as a text tree with values, the view a debugger gives."""
        from pipeline.render import overview

        return overview(self)

    # Persistence ---------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """Everything persistent, as data ``torch.load(weights_only=True)`` accepts."""
        from pipeline.persistence import collect

        return collect(self)

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> None:
        """Restore a ``state_dict`` without firing events.

        Raises:
            StateDictError: with ``strict``, listing every missing, unexpected and
                mismatched entry (module tensors included); nothing is changed in that case.
            Exception: an object or node refusing its part while loading itself
                (its own error, with a note saying what was already loaded).
        """
        from pipeline.persistence import restore

        restore(self, state_dict, strict=strict)

    # Python protocol -------------------------------------------------------------
    # No __getattr__ on purpose: it would make CPython 3.11 take its slow path
    # for every attribute read of the state (state.configs, state.trainer). A
    # typo gets Python's own AttributeError, whose traceback suggests the
    # closest name; an ambiguous node name gets a property that says so.

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(
            f"cannot set state.{name}: assign variables inside a container "
            f"(state.configs.{name} = ...) or add one with state.add_container({name!r})"
        )

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | set(self._containers))

    def __str__(self) -> str:
        return self.overview()

    def __reduce_ex__(self, protocol: Any) -> Any:
        # copy.copy, copy.deepcopy and pickle all come here.
        raise TypeError(
            "a State cannot be copied or pickled (its nodes, subscriptions and graph "
            "hold live callables); save it with state.state_dict() and load that into "
            "a state built the same way"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        """Jupyter's display: the overview and the graph at the nodes level (SVG)."""
        from pipeline.render import mimebundle

        return mimebundle(self)

    def __repr__(self) -> str:
        return (
            f"<State: {len(self._containers)} containers, {len(self._nodes)} nodes, "
            f"{len(self._slots)} variables>"
        )


def _removed(*args: Any) -> None:
    """Stands in for the callback of a removed subscription."""


def _as_list(refs: Iterable[Ref | str], what: str) -> list[Ref | str]:
    if isinstance(refs, (str, Ref)):
        return [refs]
    try:
        return list(refs)
    except TypeError:
        raise TypeError(f"{what} must be Refs or paths, got {refs!r}") from None
