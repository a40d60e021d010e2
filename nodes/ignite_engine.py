"""``IgniteEngine``: ignite's ``Engine``, backed by a statefire engine on a state.

What belongs here: the class an ignite user constructs as
``Engine(process_function)`` (a subclass of ``ignite.engine.Engine``, so it
passes ignite's ``isinstance`` checks and keeps ignite's ``run`` semantics:
``max_epochs``/``max_iters``/``epoch_length``, ``terminate``,
``terminate_epoch``, ``interrupt``, ``set_data``, ``state_dict``, custom
events), and how its events become variables. Its runs are run by the
statefire engine node behind it, ``IgniteLoop`` (``nodes/ignite_loop.py``),
whose loop fires the events in ignite's order; ignite's own loop is not used.

How the two meet: every ignite event is a variable of the statefire state.
Firing an event sets its variable: ``STARTED`` adds one to the node's
``n_run_started``, ``EPOCH_STARTED`` sets ``n_epoch_started`` to the epoch,
``ITERATION_STARTED`` ``n_iteration_started`` to the iteration,
``ITERATION_COMPLETED`` sets ``batch``, ``output`` and ``n_samples`` and then
``n_iteration_completed``, ``EPOCH_COMPLETED`` ``n_epoch_completed``,
``COMPLETED`` ``n_run_completed``, ``EXCEPTION_RAISED`` ``exception``; the
other built-in events count in variables of their own
(``n_get_batch_started``, ``n_terminate``, ...), and a custom event counts in
``events.<engine>_<event>``. Every handler attached with
``add_event_handler``/``on`` (or by an ignite handler's or metric's
``attach``) is a subscription to its event's variable, under the handler's
own name in the graph and the trace; ignite's event filters run as ignite
runs them. statefire subscribers of the node's variables see the run as they
see any statefire engine's.

Not here: the ignite face of an existing statefire engine (``engine.ignite``).
"""

from __future__ import annotations

import inspect
import re
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from ignite.engine import Engine as _IgniteEngine
from ignite.engine import Events, State
from ignite.engine.events import RemovableEventHandle

from nodes.engine import batch_size
from nodes.ignite_face import _Metrics, declare_metric, filter_text, handler_name
from nodes.ignite_handler_state import _FaceHandlers, _stateful
from nodes.ignite_loop import IgniteLoop
from pipeline import Handle, Node, Ref
from pipeline import State as StatefireState
from pipeline.values import did_you_mean

__all__ = ["IgniteEngine"]

EVENTS_CONTAINER = "events"  # where custom events get their variables


class _Handlers(_FaceHandlers):
    """The handlers of an ``IgniteEngine`` that have a ``state_dict``, saved and
    restored with the state as ``engine.ignite``'s are (``handlers.<engine>_ignite``)."""

    def __init__(self, loop: IgniteLoop) -> None:  # the face's own __init__ takes a face
        self.objects: dict[str, Any] = {}
        Node.__init__(self, loop.state, f"{loop.name}_ignite", container="handlers")


class _HandlerList(list):  # type: ignore[type-arg]
    """ignite's handler entries of one event on an ``IgniteEngine``, kept as subscriptions.

    ignite's ``add_event_handler`` appends to this list, its ``remove_event_handler``
    replaces it, and ignite's profilers insert into it and replace entries in place: every
    change tells the engine, which subscribes the entries to the event's variable in the
    list's order (``IgniteEngine._entries_changed``).
    """

    def __init__(self, engine: IgniteEngine, event: Any, entries: Iterable[Any] = ()) -> None:
        super().__init__(entries)
        self.engine_ref = weakref.ref(engine)
        self.event = event

    def _changed(self) -> None:
        engine = self.engine_ref()
        if engine is not None:
            engine._entries_changed(self)

    def append(self, entry: Any) -> None:
        super().append(entry)
        self._changed()

    def insert(self, index: Any, entry: Any) -> None:
        super().insert(index, entry)
        self._changed()

    def extend(self, entries: Iterable[Any]) -> None:
        super().extend(entries)
        self._changed()

    def remove(self, entry: Any) -> None:
        super().remove(entry)
        self._changed()

    def pop(self, index: Any = -1) -> Any:
        entry = super().pop(index)
        self._changed()
        return entry

    def clear(self) -> None:
        super().clear()
        self._changed()

    def __setitem__(self, index: Any, entry: Any) -> None:
        super().__setitem__(index, entry)
        self._changed()

    def __delitem__(self, index: Any) -> None:
        super().__delitem__(index)
        self._changed()

    def __iadd__(self, entries: Iterable[Any]) -> _HandlerList:  # type: ignore[override,misc]
        self.extend(entries)
        return self

    def sort(self, *args: Any, **kwargs: Any) -> None:
        super().sort(*args, **kwargs)
        self._changed()

    def reverse(self) -> None:
        super().reverse()
        self._changed()


class _HandlerTable(dict):  # type: ignore[type-arg]
    """``IgniteEngine._event_handlers``: event -> ``_HandlerList`` (made on first use, as
    ignite's defaultdict); a list assigned to an event (ignite's removal) is taken over."""

    def __init__(self, engine: IgniteEngine, table: dict[Any, Any]) -> None:
        super().__init__()
        self.engine_ref = weakref.ref(engine)
        for event, entries in table.items():
            self[event] = entries

    def __missing__(self, event: Any) -> _HandlerList:
        self[event] = []
        return dict.__getitem__(self, event)  # type: ignore[no-any-return]

    def __setitem__(self, event: Any, entries: Any) -> None:
        engine = self.engine_ref()
        assert engine is not None
        key = next((k for k in self if k == event), event)  # keep the first key object
        live = _HandlerList(engine, key, entries)
        super().__setitem__(key, live)
        live._changed()

    def __delitem__(self, event: Any) -> None:
        self[event] = []  # its subscriptions go with its entries
        super().__delitem__(event)

    def clear(self) -> None:
        for event in list(self):
            del self[event]


def _kept(old: list[Any], new: list[Any]) -> set[int] | None:
    """The indices of ``old`` that ``new`` keeps, when ``new`` is ``old`` with entries
    removed (compared with ``_same``, order kept); None when it is anything else."""
    kept: set[int] = set()
    j = 0
    for i, entry in enumerate(old):
        if j < len(new) and _same(new[j], entry):
            kept.add(i)
            j += 1
    return kept if j == len(new) else None


def _same(a: Any, b: Any) -> bool:
    """The same entry: ignite's removal rebuilds each kept ``(handler, args, kwargs)`` tuple
    from the same three objects."""
    return a is b or (
        isinstance(a, tuple)
        and isinstance(b, tuple)
        and len(a) == len(b) == 3
        and all(x is y for x, y in zip(a, b, strict=True))
    )


def _wrapped_filter(func: Any) -> Callable[..., Any] | None:
    """The event filter inside ignite's filter wrapper (``Engine._handler_wrapper``), or None
    for any other function."""
    if not isinstance(getattr(func, "_parent", None), weakref.ref) or not hasattr(
        func, "__wrapped__"
    ):
        return None
    try:
        found = inspect.getclosurevars(func).nonlocals.get("event_filter")
    except (TypeError, ValueError):
        return None
    return found if callable(found) else None


class _IgniteState(State):
    """ignite's ``State`` of an ``IgniteEngine``: its ``metrics`` are the state's metric
    variables (a ``_Metrics`` mapping); assigning a dict to it puts that dict's items in."""

    def __init__(self, metrics: _Metrics) -> None:
        self._metric_map = metrics
        super().__init__()

    @property  # type: ignore[override]
    def metrics(self) -> _Metrics:
        """The metrics by name: ``metrics.<engine>_<name>`` variables (see ``_Metrics``)."""
        return self._metric_map

    @metrics.setter
    def metrics(self, value: Any) -> None:
        if value is self._metric_map:
            return
        items = dict(value)
        self._metric_map.clear()
        self._metric_map.update(items)


def _dispatcher(
    engine: IgniteEngine,
    entry: tuple[Any, tuple[Any, ...], dict[str, Any]],
    handler: Callable[..., Any],
) -> Callable[[], None]:
    """One handler of an ignite event as a statefire subscriber (called with no argument):
    it calls ``handler`` as ignite calls the entry, with the arguments of the event fired.

    ``handler`` is the entry's function, or the one inside ignite's filter wrapper when
    the subscription filters. A closure (cheaper to call than an object's ``__call__``)
    that carries the handler's name, so the graph and the trace show the handler.
    """
    face_ref = weakref.ref(engine)  # as ignite's entries: a handler keeps no engine alive
    _, args, kwargs = entry
    with_engine = bool(args) and isinstance(args[0], weakref.ref)
    # The engine a handler is called with is the one the entry names (ignite's own
    # weakref, the entry's first argument), as ignite resolves it.
    engine_ref = args[0] if with_engine else face_ref
    if with_engine:
        args = args[1:]

    def dispatch() -> None:
        face = face_ref()
        target = engine_ref()
        if face is None or target is None:
            raise RuntimeError("Engine reference not resolved. Cannot execute event handler.")
        fired = face._event_args
        if fired is _NO_ARGS:
            if with_engine:
                handler(target, *args, **kwargs)
            else:  # a handler that does not take the engine (metrics attach such handlers)
                handler(*args, **kwargs)
            return
        event_args, event_kwargs = fired
        kwargs.update(event_kwargs)  # as ignite: the event's keywords stay with the entry
        if with_engine:
            handler(target, *event_args, *args, **kwargs)
        else:
            handler(*event_args, *args, **kwargs)

    dispatch.__qualname__ = handler_name(handler)
    dispatch.__module__ = getattr(handler, "__module__", None) or type(handler).__module__
    dispatch.__wrapped__ = handler  # type: ignore[attr-defined]  # for the label's file:line
    dispatch.__signature__ = inspect.Signature()  # type: ignore[attr-defined]  # called bare
    return dispatch


def _stop_flag(name: str) -> property:
    """One of ignite's stop flags (``should_terminate``, ...) as a property whose setter also
    sets ``_signalled``: whether any of the three is set, the one check of the loop."""
    attr = f"_{name}"

    def read(engine: IgniteEngine) -> Any:
        return getattr(engine, attr, False)

    def write(engine: IgniteEngine, value: Any) -> None:
        setattr(engine, attr, value)
        engine._signalled = bool(
            getattr(engine, "_should_terminate", False)
            or getattr(engine, "_should_terminate_single_epoch", False)
            or getattr(engine, "_should_interrupt", False)
        )

    return property(read, write, doc=f"ignite's {name} flag (see ignite's Engine.{name})")


class IgniteEngine(_IgniteEngine):
    """ignite's ``Engine``, whose events are variables of a statefire state.

    Constructed and used exactly as ``ignite.engine.Engine(process_function)``;
    ``run``, ``state``, the events and their filters, ``terminate``,
    ``terminate_epoch``, ``state_dict``/``load_state_dict``, custom events and
    ``set_data`` behave as ignite's. Behind it, ``statefire_engine`` (an
    ``IgniteLoop`` on ``state``, a new ``State`` unless given) holds the
    run's variables, and every handler is a subscription in that state's graph.

    Args:
        process_function: ``process_function(engine, batch) -> output``, as ignite's.
        state: the statefire state to join (default: a new ``State``).
        name: the statefire engine's name in that state.

    Example:
        >>> from ignite.engine import Events
        >>> engine = IgniteEngine(lambda engine, batch: batch * 2)
        >>> seen = []
        >>> @engine.on(Events.ITERATION_COMPLETED(every=2))
        ... def keep_output(engine):
        ...     seen.append(engine.state.output)
        >>> engine.run([1, 2, 3, 4], max_epochs=1).output, seen
        (8, [4, 8])
        >>> engine.statefire_engine.n_iteration_completed, engine.statefire_engine.key
        (4, 'engines.engine')
    """

    def __init__(
        self,
        process_function: Callable[[Any, Any], Any],
        *,
        state: StatefireState | None = None,
        name: str = "engine",
    ) -> None:
        self._event_refs: dict[Any, Any] = {}
        # event -> [(entry, its subscription)], in the order of ignite's list
        self._entry_subscriptions: dict[Any, list[tuple[Any, Handle]]] = {}
        self._event_args: tuple[tuple[Any, ...], dict[str, Any]] = _NO_ARGS
        self._firers: dict[int, Callable[[IgniteEngine, IgniteLoop], None]] = {}
        self._persisted: _Handlers | None = None
        self._loop: IgniteLoop | None = None
        super().__init__(process_function)  # checks process_function, registers Events
        self._loop = IgniteLoop(state if state is not None else StatefireState(), name, self)
        # ignite's handler lists, live: an entry in them is a subscription, however it got there
        self._event_handlers = _HandlerTable(self, self._event_handlers)
        # ignite's metrics write engine.state.metrics[name]: each is a variable of the state,
        # metrics.<name>_<metric>, so a metric's value is an event like any other.
        self.state = _IgniteState(_Metrics(self._loop))
        self._map_events(self._allowed_events)

    @property
    def statefire_engine(self) -> IgniteLoop:
        """The statefire engine node behind this engine (``state.engines.<name>``)."""
        assert self._loop is not None
        return self._loop

    # Events as variables ------------------------------------------------------------
    def register_events(
        self, *event_names: str | Any, event_to_attr: dict[Any, str] | None = None
    ) -> None:
        """Register custom events as ignite does; each gets a variable ``events.<engine>_<event>``."""
        super().register_events(*event_names, event_to_attr=event_to_attr)
        if self._loop is not None:
            self._map_events(event_names)

    def _map_events(self, events: Iterable[Any]) -> None:
        loop = self._loop
        assert loop is not None
        for event in events:
            if event in self._event_refs:
                continue
            builtin = _BUILTIN.get(event) if isinstance(event, Events) else None
            if builtin is not None:
                self._event_refs[event] = loop.ref(builtin)
                self._firers[id(event)] = _SETTERS[event]
                continue
            state = loop.state
            container = (
                state.containers[EVENTS_CONTAINER]
                if EVENTS_CONTAINER in state.containers
                else state.add_container(EVENTS_CONTAINER)
            )
            base = f"{loop.name}_{_identifier(event)}"
            name, n = base, 1
            while name in container:
                n += 1
                name = f"{base}_{n}"
            ref = container.add_variable(
                name, 0, doc=f"{event!r} events fired by {loop.key}", writer=loop
            )
            self._event_refs[event] = ref
            self._firers[id(event)] = _count_in(ref)
            entries = dict.get(self._event_handlers, event)
            if entries:  # put in the list by hand before the event was registered
                self._entries_changed(entries)

    def _fire_event(self, event_name: Any, *event_args: Any, **event_kwargs: Any) -> None:
        """Fire ``event_name``: set its variable, which calls its handlers (its subscribers)."""
        self.last_event_name = event_name
        # By identity first: an event's own __hash__ and __eq__ are Python code, and
        # four events fire per iteration. An equal event (a name string) is looked up.
        fire = self._firers.get(id(event_name))
        if fire is None:
            ref = self._event_refs.get(event_name)
            if ref is None:  # not registered: ignite fires nothing either
                return
            fire = _SETTERS_BY_VARIABLE[ref.name] if ref.owner is self._loop else _count_in(ref)
        loop = self._loop
        if not loop._running:  # fired by hand, outside a run: as the engine, whose variables move
            with loop.state.writing_as(loop):
                self._fire_with(fire, event_args, event_kwargs)
            return
        self._fire_with(fire, event_args, event_kwargs)

    def _fire_with(
        self,
        fire: Callable[[IgniteEngine, IgniteLoop], None],
        event_args: tuple[Any, ...],
        event_kwargs: dict[str, Any],
    ) -> None:
        if event_args or event_kwargs or self._event_args is not _NO_ARGS:
            saved, self._event_args = self._event_args, (event_args, event_kwargs)
            try:
                fire(self, self._loop)
            finally:
                self._event_args = saved
        else:  # the common case: no arguments, and none to restore for an enclosing event
            fire(self, self._loop)

    def _assert_allowed_event(self, event_name: Any) -> None:
        """Raise ValueError, naming the known events, when ``event_name`` is not one of them."""
        if event_name in self._allowed_events:
            return
        known = [getattr(e, "name", str(e)) for e in self._allowed_events]
        raise ValueError(
            f"Event {event_name!r} is not a valid event for this Engine (an IgniteEngine on "
            f"{self.statefire_engine.key if self._loop is not None else 'a new state'}); "
            "register a custom event first with register_events(...)"
            f"{did_you_mean(str(getattr(event_name, 'name', event_name)), known)}"
        )

    def fire_event(self, event_name: Any) -> None:
        """Fire a registered event (set its variable, as the engine), as ignite's ``fire_event``."""
        self._assert_allowed_event(event_name)
        loop = self._loop
        assert loop is not None
        with loop.state.writing_as(loop):
            self._fire_event(event_name)

    # Handlers as subscriptions ----------------------------------------------------------
    def add_event_handler(
        self, event_name: Any, handler: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> RemovableEventHandle:
        """Attach ``handler`` as ignite does; its entry becomes a subscription to the event's
        variable (see ``_HandlerList``)."""
        handle = super().add_event_handler(event_name, handler, *args, **kwargs)
        stateful = _stateful(handler)
        if stateful is not None:
            if self._persisted is None:
                self._persisted = _Handlers(self.statefire_engine)
            self._persisted.add(stateful)
        return handle

    def _subscribe_entry(self, event: Any, entry: tuple[Any, Any, Any]) -> Handle:
        """One entry of ignite's handler list as a subscription of ``event``'s variable.

        ignite's filter wrapper (``X(every=2)``, ``once``, an ``event_filter``) is taken
        apart: the handler inside is the subscriber and the filter is the subscription's
        (statefire's ``every`` for ignite's own ``every`` on an iteration or epoch counter,
        else a ``when=`` predicate that calls it), so the graph shows both.
        """
        ref = self._event_refs[event]
        func, args = entry[0], entry[1]
        flt = _wrapped_filter(func)
        handler = func.__wrapped__ if flt is not None else func
        plain_args = args[1:] if args and isinstance(args[0], weakref.ref) else args
        writes = declare_metric(self.state.metrics, event, handler, plain_args)
        dispatch = _dispatcher(self, entry, handler)
        if flt is None:
            return ref.subscribe(dispatch, writes=writes)
        every = _every(flt)
        if every is not None and ref.name in _POSITIONS:
            return ref.subscribe(dispatch, every=every, writes=writes)
        return ref.subscribe(dispatch, when=self._predicate(event, flt), writes=writes)

    def _entries_changed(self, entries: _HandlerList) -> None:
        """ignite's list of ``entries.event`` changed: its subscriptions follow. Entries
        removed lose theirs (the others keep theirs, so a handler removing itself does not
        stop the ones after it in this firing), entries appended get new ones after the
        others; any other change (an entry inserted first by a profiler, one replaced in
        place) subscribes the whole list again, in its order."""
        if self._loop is None or entries.event not in self._event_refs:
            return
        subscribed = self._entry_subscriptions.setdefault(entries.event, [])
        old = [entry for entry, _ in subscribed]
        new = list(entries)
        kept = _kept(old, new)
        if kept is not None:
            for i, (_, handle) in enumerate(subscribed):
                if i not in kept:
                    handle.remove()
            subscribed[:] = [subscribed[i] for i in sorted(kept)]
            return
        if len(new) > len(old) and all(_same(a, b) for a, b in zip(old, new, strict=False)):
            for entry in new[len(old) :]:
                subscribed.append((entry, self._subscribe_entry(entries.event, entry)))
            return
        for _, handle in subscribed:
            handle.remove()
        subscribed[:] = [(entry, self._subscribe_entry(entries.event, entry)) for entry in new]

    def _predicate(self, event: Any, flt: Callable[..., Any]) -> Callable[[Any], bool]:
        """ignite's filter as a statefire ``when=``: it sees the event's state attribute."""
        engine_ref = weakref.ref(self)

        def passes(new: Any) -> bool:
            engine = engine_ref()
            return engine is not None and bool(
                flt(engine, engine.state.get_event_attrib_value(event))
            )

        passes.__name__ = filter_text(flt)
        return passes

    # Runs ------------------------------------------------------------------------------
    def run(
        self,
        data: Iterable[Any] | None = None,
        max_epochs: int | None = None,
        max_iters: int | None = None,
        epoch_length: int | None = None,
    ) -> State:
        """Run as ignite's ``Engine.run``, on the statefire loop (``IgniteLoop.run_face``).

        The arguments mean what they mean to ignite (a new run, or the rest of an
        interrupted or terminated one). The statefire engine's guard comes first: a run
        inside its own run or inside ``state.hold()`` raises RuntimeError, and the state
        graph is validated (again whenever it changed since).
        """
        loop = self._loop
        assert loop is not None
        loop._check_can_run()
        return super().run(
            data, max_epochs=max_epochs, max_iters=max_iters, epoch_length=epoch_length
        )

    def _internal_run(self) -> State:
        """The run, set up by ``run``: the statefire engine's loop runs it."""
        assert self._loop is not None
        return self._loop.run_face(self)

    _internal_run_legacy = (
        _internal_run  # ``interrupt_resume_enabled = False``: interrupt() refuses
    )

    def set_data(self, data: Iterable[Any]) -> None:
        """Switch the data from the next batch on, as ignite's ``set_data``."""
        super().set_data(data)
        assert self._loop is not None
        self._loop.dataloader = data  # type: ignore[assignment]

    # The three stop flags ignite's loop checks after every event. The loop reads one
    # attribute, _signalled, which each flag's setter keeps up to date.
    _signalled = False
    should_terminate = _stop_flag("should_terminate")
    should_terminate_single_epoch = _stop_flag("should_terminate_single_epoch")
    should_interrupt = _stop_flag("should_interrupt")

    def terminate(self, skip_completed: bool = False) -> None:
        """Terminate the run after the current event, as ignite's ``terminate``; also sets
        the statefire engine's ``should_terminate``."""
        super().terminate(skip_completed)
        assert self._loop is not None
        self._loop.should_terminate = True


# The counters that hold ignite's iteration or epoch when their event fires: ignite's
# ``every`` filter on them is statefire's ``every`` filter.
_POSITIONS = {
    "n_epoch_started",
    "n_iteration_started",
    "n_iteration_completed",
    "n_epoch_completed",
}


def _every(flt: Callable[..., Any]) -> int | None:
    """The ``n`` of ignite's ``every=n`` filter (its own function only), else None."""
    if (
        getattr(flt, "__qualname__", "")
        != "CallableEventWithFilter.every_event_filter.<locals>.wrapper"
    ):
        return None
    every = inspect.getclosurevars(flt).nonlocals.get("every")
    return every if type(every) is int else None


def _identifier(event: Any) -> str:
    text = event.name if hasattr(event, "name") else str(event)
    return re.sub(r"\W+", "_", text).strip("_").lower() or "event"


def _set_count(loop: IgniteLoop, name: str, value: int) -> None:
    """Set the counter ``name`` to ``value`` so that its subscribers fire even if it holds it."""
    if getattr(loop, name) == value:
        loop.reset_variables(**{name: None})
    setattr(loop, name, value)


def _iteration_started(face: IgniteEngine, loop: IgniteLoop) -> None:
    iteration = face.state.iteration
    if loop.n_iteration_started == iteration:
        loop.reset_variables(n_iteration_started=None)
    loop.n_iteration_started = iteration


def _started(face: IgniteEngine, loop: IgniteLoop) -> None:
    s = face.state
    loop.reset_variables(
        max_iters=s.max_iters,
        n_epoch_started=s.epoch,
        n_iteration_started=s.iteration,
        n_iteration_completed=s.iteration,
        n_epoch_completed=s.epoch,
        max_epochs=s.max_epochs,
        epoch_length=s.epoch_length,
        should_terminate=False,
        exception=None,
    )
    loop.n_run_started += 1


def _iteration_completed(face: IgniteEngine, loop: IgniteLoop) -> None:
    s = face.state
    batch = s.batch
    loop.batch = batch
    loop.output = s.output
    loop.n_samples += batch_size(batch)
    iteration = s.iteration
    if loop.n_iteration_completed == iteration:
        loop.reset_variables(n_iteration_completed=None)
    loop.n_iteration_completed = iteration


def _epoch_completed(face: IgniteEngine, loop: IgniteLoop) -> None:
    loop.epoch_time = face.state.times.get("EPOCH_COMPLETED") or 0.0
    _set_count(loop, "n_epoch_completed", face.state.epoch)


def _completed(face: IgniteEngine, loop: IgniteLoop) -> None:
    loop.run_time = face.state.times.get("COMPLETED") or 0.0
    loop.n_run_completed += 1


def _exception_raised(face: IgniteEngine, loop: IgniteLoop) -> None:
    # ignite fires EXCEPTION_RAISED once per loop level with the same exception: the event
    # must reach the handlers each time, so that a re-raise from the second call propagates.
    exc = face._event_args[0][0]
    if loop.exception is exc:
        loop.reset_variables(exception=None)
    loop.exception = exc


def _get_batch_started(face: IgniteEngine, loop: IgniteLoop) -> None:
    loop.n_get_batch_started += 1


def _get_batch_completed(face: IgniteEngine, loop: IgniteLoop) -> None:
    loop.n_get_batch_completed += 1


def _counter(name: str) -> Callable[[IgniteEngine, IgniteLoop], None]:
    def count(face: IgniteEngine, loop: IgniteLoop) -> None:
        setattr(loop, name, getattr(loop, name) + 1)

    return count


def _count_in(ref: Ref) -> Callable[[IgniteEngine, IgniteLoop], None]:
    """Firing a custom event: its counter goes up by one."""

    def count(face: IgniteEngine, loop: IgniteLoop) -> None:
        ref.value = ref.value + 1

    return count


_NO_ARGS: tuple[tuple[Any, ...], dict[str, Any]] = ((), {})  # the arguments of most events


# The variable of each built-in event, and how firing it sets that variable.
_BUILTIN: dict[Any, str] = {
    Events.STARTED: "n_run_started",
    Events.EPOCH_STARTED: "n_epoch_started",
    Events.ITERATION_STARTED: "n_iteration_started",
    Events.ITERATION_COMPLETED: "n_iteration_completed",
    Events.EPOCH_COMPLETED: "n_epoch_completed",
    Events.COMPLETED: "n_run_completed",
    Events.EXCEPTION_RAISED: "exception",
    Events.GET_BATCH_STARTED: "n_get_batch_started",
    Events.GET_BATCH_COMPLETED: "n_get_batch_completed",
    Events.DATALOADER_STOP_ITERATION: "n_dataloader_stop_iteration",
    Events.TERMINATE: "n_terminate",
    Events.TERMINATE_SINGLE_EPOCH: "n_terminate_single_epoch",
    Events.INTERRUPT: "n_interrupt",
}
_SETTERS: dict[Any, Callable[[IgniteEngine, IgniteLoop], None]] = {
    Events.STARTED: _started,
    Events.EPOCH_STARTED: lambda face, loop: _set_count(loop, "n_epoch_started", face.state.epoch),
    Events.ITERATION_STARTED: _iteration_started,
    Events.GET_BATCH_STARTED: _get_batch_started,
    Events.GET_BATCH_COMPLETED: _get_batch_completed,
    Events.ITERATION_COMPLETED: _iteration_completed,
    Events.EPOCH_COMPLETED: _epoch_completed,
    Events.COMPLETED: _completed,
    Events.EXCEPTION_RAISED: _exception_raised,
}
for _event, _name in _BUILTIN.items():
    _SETTERS.setdefault(_event, _counter(_name))
_SETTERS_BY_VARIABLE = {_BUILTIN[event]: setter for event, setter in _SETTERS.items()}
