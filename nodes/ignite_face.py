"""``engine.ignite``: a statefire engine seen as an ``ignite.engine.Engine``.

The face is an ignite ``Engine`` (``isinstance`` checks pass) that has no loop
and no event system of its own: each ignite event *is* one of the engine's
variables (``EVENT_VARIABLES``), a handler added to the face is a
subscription of that variable (it runs inside the statefire loop, in
dependency order, and shows in the graph and the trace under its own name),
an event filter is the subscription's ``when=`` predicate, and a custom
event is a counter variable of its own (``state.events.<engine>_<event>``).
``face.state`` reads the engine's variables; its ``metrics`` are the
``state.metrics.<engine>_<name>`` variables, whichever side wrote them.

This module holds the face and its state mirror only; the loop is the
engine's (``nodes/engine.py``), ignite's argument names on statefire's own
classes are ``nodes/ignite_names.py``'s business.
"""

from __future__ import annotations

import copy
import inspect
import warnings
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping, MutableMapping
from typing import Any

from ignite.engine import Engine as IgniteEngine
from ignite.engine import Events, EventsList, State
from ignite.engine.events import CallableEventWithFilter
from ignite.engine.utils import _check_signature

from nodes.engine import Engine
from nodes.ignite_handler_state import _FaceHandlers, _stateful
from nodes.metric import publish
from pipeline import Handle, Ref
from pipeline.values import did_you_mean, summarize

__all__ = ["EVENT_VARIABLES", "FaceState", "IgniteFace", "face_of"]

#: ignite event name -> the engine variable whose change is that event.
EVENT_VARIABLES: dict[str, str] = {
    "STARTED": "n_run_started",
    "EPOCH_STARTED": "n_epoch_started",
    "GET_BATCH_STARTED": "batch",
    "GET_BATCH_COMPLETED": "batch",
    "ITERATION_STARTED": "n_iteration_started",
    "ITERATION_COMPLETED": "n_iteration_completed",
    "EPOCH_COMPLETED": "n_epoch_completed",
    "COMPLETED": "n_run_completed",
    "EXCEPTION_RAISED": "exception",
    "TERMINATE": "should_terminate",
}

#: ignite events that no engine variable stands for, and what to use instead.
UNSUPPORTED: dict[str, str] = {
    "DATALOADER_STOP_ITERATION": "a new data iterator is not an event; subscribe to "
    "n_epoch_started or n_iteration_started instead",
    "TERMINATE_SINGLE_EPOCH": "attach to EPOCH_COMPLETED, which terminate_epoch() reaches",
    "INTERRUPT": "statefire does not interrupt runs; stop with terminate() and run() again",
}

_NOT_NONE = {"exception", "should_terminate"}  # events only when they become set


def face_of(engine: Engine) -> IgniteFace:
    """The ignite face of ``engine``, made on first use and kept."""
    face: IgniteFace | None = getattr(engine, "_ignite_face", None)
    if face is None:
        face = IgniteFace(engine)
        engine._ignite_face = face
    return face


#: ignite's events that happen every iteration: a metric computed on one is per iteration.
_ITERATION_EVENTS = {
    "GET_BATCH_STARTED",
    "GET_BATCH_COMPLETED",
    "ITERATION_STARTED",
    "ITERATION_COMPLETED",
}

#: state -> {metric variable name: the key of the engine whose metric it is}: a variable
#: that another engine's metric already uses is not shared (``a`` + ``b_c`` vs ``a_b`` + ``c``).
_METRIC_OWNERS: weakref.WeakKeyDictionary[Any, dict[str, str]] = weakref.WeakKeyDictionary()


class _Metrics(MutableMapping[str, Any]):
    """``face.state.metrics``: the engine's metric variables under their ignite names.

    ``metrics["acc"]`` reads ``state.metrics.<engine>_acc``, whether a statefire
    ``Metric`` or an ignite metric attached to the face wrote it; a new name
    creates that variable, so a value written the ignite way is an event too.
    A name that cannot be a variable (not an identifier, ending in ``_ref``, or
    taken by another engine's metric) stays in this mapping only. Names keep
    the order they were first written in, as in ignite's dict; ``copy()``,
    ``copy.deepcopy``, ``pickle`` and ``|`` give plain dicts.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._refs: dict[str, Ref] = {}
        self._plain: dict[str, Any] = {}
        self._order: dict[str, None] = {}  # names written through this mapping, in order
        self._refused: set[str] = set()  # names another engine's metric variable has
        #: variables of metrics computed on an iteration event (running averages, batch-wise)
        self.per_iteration: set[str] = set()

    def _all(self) -> dict[str, Ref]:
        from nodes.metric import Metric

        prefix = len(self._engine.name) + 1
        refs: dict[str, Ref] = {}
        for node in self._engine.state.nodes().values():
            if isinstance(node, Metric) and node.engine is self._engine:
                for var, ref in node.value_refs.items():
                    refs[var[prefix:]] = ref
        refs.update(self._refs)
        return refs

    def __getitem__(self, name: str) -> Any:
        if name in self._plain:
            return self._plain[name]
        ref = self._refs.get(name)  # written through this mapping: no search of the nodes
        if ref is not None:
            return ref.value
        refs = self._all()
        if name not in refs:
            raise KeyError(
                f"{name!r} is not a metric of {self._engine.name}"
                f"{did_you_mean(name, list(refs) + list(self._plain))}"
            )
        return refs[name].value

    def __setitem__(self, name: str, value: Any) -> None:
        ref = self._refs.get(name)
        if ref is not None:  # the common case: a metric written again, every epoch or iteration
            publish(ref, value)
            return
        if name in self._plain:
            self._plain[name] = value
            return
        ref = self._all().get(name)
        if ref is None:
            ref = self.declare(name)
            if ref is None:
                self._plain[name] = value
                self._order[name] = None
                return
        self._refs[name] = ref
        self._order[name] = None
        publish(ref, value)

    def declare(self, name: str, computed_on: Any = None) -> Ref | None:
        """The variable ``metrics.<engine>_<name>``, made now if it is not there (None,
        without an event), so that it can be drawn and subscribed to before the metric's
        first value; the name joins this mapping when a value is written. None for a name
        that cannot be a variable (kept in this mapping only): not an identifier, ending
        in ``_ref``, or the variable of another engine's metric (warned about).

        ``computed_on``: the ignite event the metric is computed on (its ``completed``
        handler's); an iteration event puts the variable in ``per_iteration`` (charts tag
        it ``iteration/...``), any other takes it out."""
        if not name.isidentifier() or name.endswith("_ref") or name in self._refused:
            return None
        engine = self._engine
        var = f"{engine.name}_{name}"
        if computed_on is not None:
            if getattr(computed_on, "name", None) in _ITERATION_EVENTS:
                self.per_iteration.add(var)
            else:
                self.per_iteration.discard(var)
        box = engine.state.metrics
        owners = _METRIC_OWNERS.setdefault(engine.state, {})
        if var in box:
            other = owners.get(var) or self._metric_node_engine(var)
            if other is not None and other != engine.key:
                warnings.warn(
                    f"{engine.key}: ignite metric {name!r} would be the variable metrics.{var}, "
                    f"which a metric of {other} already is; it stays in "
                    f"{engine.name}.state.metrics only. Give the metric or the engine another "
                    "name to see it in the state",
                    UserWarning,
                    stacklevel=3,
                )
                self._refused.add(name)
                self.per_iteration.discard(var)
                return None
            return getattr(box, f"{var}_ref")  # type: ignore[no-any-return]
        owners[var] = engine.key
        # Not saved, as ignite's state.metrics: a metric is computed again by its next run.
        return box.add_variable(  # type: ignore[no-any-return]
            var, None, doc=f"ignite metric {name!r} of {engine.key}", persistent=False
        )

    def _metric_node_engine(self, var: str) -> str | None:
        """The key of the engine whose statefire ``Metric`` node writes ``metrics.<var>``."""
        from nodes.metric import Metric

        for node in self._engine.state.nodes().values():
            if isinstance(node, Metric) and var in node.value_refs:
                return node.engine.key
        return None

    def __delitem__(self, name: str) -> None:
        # ignite's Metric.detach forgets the name; the statefire variable stays.
        if name in self._plain:
            del self._plain[name]
        elif self._refs.pop(name, None) is None:
            held = list(self._order)
            raise KeyError(
                f"{name!r} was not written through {self._engine.name}.ignite.state.metrics "
                f"(it holds {held or 'none'}); only those names can be deleted"
                f"{did_you_mean(name, held)}"
            )
        self._order.pop(name, None)

    def clear(self) -> None:
        """Forget every name written through this mapping (the variables stay)."""
        self._refs.clear()
        self._plain.clear()
        self._order.clear()

    def __iter__(self) -> Iterator[str]:
        for name in self._all():  # a statefire Metric's names first, then in written order
            if name not in self._order:
                yield name
        yield from self._order

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def copy(self) -> dict[str, Any]:
        """The metrics now, as a plain dict."""
        return dict(self.items())

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return copy.deepcopy(self.copy(), memo)

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (self.copy(),))  # pickled as the plain dict of its values

    def __or__(self, other: Any) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**self.copy(), **other}

    def __ror__(self, other: Any) -> dict[str, Any]:
        if not isinstance(other, Mapping):
            return NotImplemented
        return {**other, **self.copy()}

    def __repr__(self) -> str:
        return repr(self.copy())


def _mirror(variable: str, doc: str) -> property:
    def read(state: FaceState) -> Any:
        return getattr(state._engine, variable)

    def write(state: FaceState, value: Any) -> None:
        setattr(state._engine, variable, value)

    return property(read, write, doc=doc)


def _counter(variable: str, ignite_name: str) -> property:
    def read(state: FaceState) -> Any:
        return getattr(state._engine, variable)

    def write(state: FaceState, value: Any) -> None:
        engine = state._engine
        raise AttributeError(
            f"{engine.name}.ignite.state.{ignite_name} mirrors {engine.key}.{variable}, a counter "
            f"only the engine's loop writes (got {value!r}); to continue a run, load a state dict "
            f"(state.load_state_dict) or {engine.name}.ignite.load_state_dict(...)"
        )

    return property(read, write, doc=f"{variable} of the engine (read-only)")


class FaceState(State):
    """ignite's ``engine.state``, read from the statefire engine's variables.

    ``epoch`` is ``n_epoch_started``, ``iteration`` is ``n_iteration_started``
    (both read-only), ``max_epochs``, ``epoch_length``, ``output`` and
    ``batch`` are the variables of the same names, ``dataloader`` the engine's
    data, ``times`` its ``epoch_time``/``run_time``, ``metrics`` its metric
    variables. Any other attribute (``param_history``, ``max_iters``, ...)
    is a plain attribute, as on ignite's State.
    """

    epoch = _counter("n_epoch_started", "epoch")
    iteration = _counter("n_iteration_started", "iteration")
    max_epochs = _mirror("max_epochs", "the engine's max_epochs variable")
    epoch_length = _mirror("epoch_length", "the engine's epoch_length variable")
    output = _mirror("output", "the engine's output variable")
    batch = _mirror("batch", "the engine's batch variable")

    def __init__(self, engine: Engine) -> None:  # no super().__init__: nothing is copied
        self._engine = engine
        self._metrics = _Metrics(engine)
        self.max_iters: int | None = None
        self.seed: int | None = None
        self._update_attrs()

    @property
    def dataloader(self) -> Any:
        """The engine's data."""
        return self._engine.dataloader

    @dataloader.setter
    def dataloader(self, data: Any) -> None:
        self._engine.dataloader = data

    @property
    def metrics(self) -> _Metrics:  # type: ignore[override]
        """The engine's metrics by name, read from (and written to) ``state.metrics``."""
        return self._metrics

    @metrics.setter
    def metrics(self, value: Any) -> None:
        raise AttributeError(
            f"{self._engine.name}.ignite.state.metrics is the engine's metric variables; "
            "set one metric with state.metrics[name] = value"
        )

    @property
    def times(self) -> dict[str, float | None]:  # type: ignore[override]
        """ignite's timings: the last epoch's and run's seconds."""
        return {
            Events.EPOCH_COMPLETED.name: self._engine.epoch_time,
            Events.COMPLETED.name: self._engine.run_time,
        }

    @times.setter
    def times(self, value: Any) -> None:
        raise AttributeError(
            f"{self._engine.name}.ignite.state.times is read from the engine's epoch_time and "
            f"run_time variables and cannot be replaced (got {summarize(value)}); set "
            f"state.engines.{self._engine.name}.epoch_time or run_time instead"
        )

    def __repr__(self) -> str:
        keys = ("epoch", "iteration", "max_epochs", "epoch_length", "output", "batch")
        fields = "".join(f"\t{k}: {getattr(self, k)!r:.60}\n" for k in keys)
        return f"State (of {self._engine.key}):\n{fields}\tmetrics: {dict(self.metrics)!r:.200}\n"


def _filter_label(event: Any) -> str:
    """An ignite event's filter as text: ``every=10``, ``once=[3]``, or the function's name."""
    return filter_text(getattr(event, "filter", None))


def filter_text(fn: Callable[..., Any] | None) -> str:
    """An ignite event filter function as text (``""`` for None); see ``_filter_label``."""
    if fn is None:
        return ""
    try:
        found = inspect.getclosurevars(fn).nonlocals
    except (TypeError, ValueError):
        found = {}
    parts = [
        f"{key.rstrip('_')}={value}"
        for key, value in found.items()
        if key in ("every", "once", "before_", "after_")
        and value not in (0, float("inf"))
        and not callable(value)
    ]
    return ", ".join(parts) or getattr(fn, "__name__", "event_filter")


def handler_name(handler: Callable[..., Any]) -> str:
    """The name a handler's subscription shows in the graph and the trace.

    A method bound to an object is named after the object's class, not the class that
    defines it: ``Accuracy.completed``, where ``__qualname__`` says ``Metric.completed``.
    """
    owner = getattr(handler, "__self__", None)
    name = getattr(handler, "__name__", None)
    if owner is not None and name is not None and not isinstance(owner, type):
        return f"{type(owner).__qualname__}.{name}"
    return getattr(handler, "__qualname__", None) or type(handler).__qualname__


def declare_metric(
    metrics: Any, event: Any, handler: Callable[..., Any], args: tuple[Any, ...]
) -> tuple[Ref, ...]:
    """An ignite ``Metric`` attached under a name (its ``completed`` handler takes the name):
    its variable, made at attach time (see ``_Metrics.declare``) and noted as computed on
    ``event``, as the ``writes`` of the handler's subscription; ``()`` for any other handler."""
    if not (
        isinstance(metrics, _Metrics)
        and getattr(handler, "__name__", None) == "completed"
        and args
        and isinstance(args[0], str)
    ):
        return ()
    from ignite.metrics import Metric as IgniteMetric

    if not isinstance(getattr(handler, "__self__", None), IgniteMetric):
        return ()
    ref = metrics.declare(args[0], computed_on=event)
    return () if ref is None else (ref,)


def _caller(
    face: IgniteFace,
    event: Any,
    handler: Callable[..., Any],
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    with_engine: bool,
) -> Callable[[], None]:
    """The subscriber of one ignite handler: calls it the way ignite would.

    A closure (cheaper to call than an object's ``__call__``) that carries the
    handler's name, so the graph and the trace show the handler, not this.
    """
    first = (face,) if with_engine else ()
    call_args = first + args

    if event == Events.EXCEPTION_RAISED:

        def fire() -> None:
            face.last_event_name = event
            exc = face._sf.exception
            try:
                handler(*first, exc, *args, **kwargs)
            except BaseException:
                face._not_handled = exc  # a handler raised: the exception is not taken care of
                raise

    elif kwargs:

        def fire() -> None:
            face.last_event_name = event
            handler(*call_args, **kwargs)

    else:

        def fire() -> None:
            face.last_event_name = event
            handler(*call_args)

    fire.__qualname__ = handler_name(handler)
    fire.__module__ = getattr(handler, "__module__", None) or type(handler).__module__
    fire.__wrapped__ = handler  # type: ignore[attr-defined]  # for the label's file:line
    fire.__signature__ = inspect.Signature()  # type: ignore[attr-defined]  # called with nothing
    return fire


class FaceHandle:
    """What ``add_event_handler`` returns: ``remove()`` (or ``with``) detaches the handler."""

    def __init__(self, handles: list[Handle]) -> None:
        self._handles = handles

    def remove(self) -> None:
        """Detach the handler from every event it was added to."""
        for handle in self._handles:
            handle.remove()

    def __enter__(self) -> FaceHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()


class IgniteFace(IgniteEngine):
    """A statefire engine as an ``ignite.engine.Engine``: ``engine.ignite``.

    Every ignite handler, logger and ``Metric.attach`` works on it unchanged.
    ``add_event_handler(event, handler, *args)`` subscribes ``handler`` to the
    variable of ``event`` (see ``EVENT_VARIABLES``), with the event's
    filter as the subscription's predicate; ``run``, ``terminate`` and
    ``terminate_epoch`` act on the statefire engine.

    Differences from an ignite Engine, on purpose: ``GET_BATCH_STARTED`` and
    ``GET_BATCH_COMPLETED`` fire when the ``batch`` variable changes (after
    ``ITERATION_STARTED``, the batch already drawn); ``TERMINATE`` fires when
    ``terminate()`` is called; ``EXCEPTION_RAISED`` handlers run, and the
    exception propagates out of the statefire engine's ``run()``; out of this face's
    ``run()`` it does not when every such handler returned, as in ignite.

    Example:
        >>> from ignite.engine import Events  # doctest: +SKIP
        >>> @trainer.ignite.on(Events.EPOCH_COMPLETED(every=2))  # doctest: +SKIP
        ... def log(engine):
        ...     print(engine.state.epoch, engine.state.metrics)
    """

    def __init__(self, engine: Engine) -> None:
        if not isinstance(engine, Engine):
            raise TypeError(f"an ignite face needs a statefire Engine, got {type(engine).__name__}")
        self._sf = engine
        self._registered: list[tuple[Any, Callable[..., Any], Handle]] = []
        self._custom: dict[Any, Ref] = {}
        self._persisted: _FaceHandlers | None = None
        self._not_handled: BaseException | None = None  # what an EXCEPTION_RAISED handler raised on
        super().__init__(lambda face, batch: engine.process_fn(engine, batch))
        self.state = FaceState(engine)

    @property
    def engine(self) -> Engine:
        """The statefire engine behind this face."""
        return self._sf

    # Events ------------------------------------------------------------------------------
    def _ref_of(self, event: Any) -> Ref:
        name = getattr(event, "name", event)
        if event in self._custom:
            return self._custom[event]
        if isinstance(event, CallableEventWithFilter) and name in EVENT_VARIABLES:
            return self._sf.ref(EVENT_VARIABLES[name])
        if name in UNSUPPORTED:
            raise ValueError(
                f"{self._sf.name}.ignite: Events.{name} is not supported: {UNSUPPORTED[name]}"
            )
        known = list(EVENT_VARIABLES) + [getattr(e, "name", str(e)) for e in self._custom]
        raise ValueError(
            f"{self._sf.name}.ignite: {event!r} is not an event of this engine"
            f"{did_you_mean(str(name), known)}; register a custom event first with "
            f"{self._sf.name}.ignite.register_events(...)"
        )

    def register_events(
        self, *event_names: Any, event_to_attr: dict[Any, str] | None = None
    ) -> None:
        """Register custom events; each becomes the counter ``state.events.<engine>_<event>``.

        ``fire_event(event)`` adds one to it, so its handlers run as its subscribers.
        """
        super().register_events(*event_names, event_to_attr=event_to_attr)
        if not hasattr(self, "_sf"):  # ignite's own __init__ registering Events
            return
        state = self._sf.state
        for event in event_names:
            if isinstance(event, Events) or event in self._custom:
                continue
            box = state.events if "events" in state.containers else state.add_container("events")
            raw = str(getattr(event, "name", event)).lower()
            var = f"{self._sf.name}_{''.join(c if c.isalnum() else '_' for c in raw)}"
            self._custom[event] = (
                getattr(box, f"{var}_ref")
                if var in box
                else box.add_variable(
                    var,
                    0,
                    doc=f"times {self._sf.name}.ignite fired {event}",
                    persistent=False,  # handlers register their events lazily (Checkpoint)
                )
            )

    def fire_event(self, event_name: Any) -> None:
        """Fire a custom event: its counter variable goes up by one."""
        if event_name not in self._custom:
            if getattr(event_name, "name", None) in EVENT_VARIABLES:
                variable = EVENT_VARIABLES[event_name.name]
                raise ValueError(
                    f"{self._sf.name}.ignite: Events.{event_name.name} is the variable "
                    f"{self._sf.key}.{variable}; it changes when the engine's loop does, "
                    "it cannot be fired by hand"
                )
            self._ref_of(event_name)  # raises with the known events
        ref = self._custom[event_name]
        ref.value = ref.value + 1

    def _fire_event(self, event_name: Any, *event_args: Any, **event_kwargs: Any) -> None:
        self.fire_event(event_name)

    def _predicate(self, event: Any, ref: Ref) -> Callable[[Any], bool] | None:
        flt = getattr(event, "filter", None)
        needs_set = ref.name in _NOT_NONE and ref.owner is self._sf
        if flt is None and not needs_set:
            return None
        state, custom = self.state, event in self._custom
        # ignite fetches a batch before counting its iteration; here the batch variable
        # changes after n_iteration_started, so a GET_BATCH_* filter sees one less.
        lag = 1 if getattr(event, "name", "") in ("GET_BATCH_STARTED", "GET_BATCH_COMPLETED") else 0

        def passes(new: Any) -> bool:
            if needs_set and (new is None or new is False):
                return False
            if flt is None:
                return True
            if custom and event not in State.event_to_attr:
                return bool(flt(self, new))  # a custom event counts its own firings
            return bool(flt(self, state.get_event_attrib_value(event) - lag))

        passes.__name__ = _filter_label(event) or ("set" if needs_set else "passes")
        return passes

    def add_event_handler(
        self, event_name: Any, handler: Callable[..., Any], *args: Any, **kwargs: Any
    ) -> FaceHandle:
        """Subscribe ``handler`` to the variable of ``event_name`` (filters included).

        Raises:
            ValueError: the event is not one of this engine's, or ``handler``
                cannot be called with the engine (or without it) and ``args``.
        """
        if isinstance(event_name, EventsList):
            handles: list[Handle] = []
            for event in event_name:
                handles += self.add_event_handler(event, handler, *args, **kwargs)._handles
            return FaceHandle(handles)
        ref = self._ref_of(event_name)
        extra: tuple[Any, ...] = (Exception(),) if event_name == Events.EXCEPTION_RAISED else ()
        try:
            _check_signature(handler, "handler", self, *extra, *args, **kwargs)
            with_engine = True
        except ValueError:
            _check_signature(handler, "handler", *extra, *args, **kwargs)
            with_engine = False
        writes = declare_metric(self.state.metrics, event_name, handler, args)
        base = self._custom_key(event_name)
        wrapper = _caller(self, base, handler, args, kwargs, with_engine)
        handle = ref.subscribe(wrapper, when=self._predicate(event_name, ref), writes=writes)
        self._registered.append((base, handler, handle))
        obj = _stateful(handler)
        if obj is not None:
            if self._persisted is None:
                self._persisted = _FaceHandlers(self)
            self._persisted.add(obj)
        return FaceHandle([handle])

    def _custom_key(self, event: Any) -> Any:
        for key in self._custom:
            if key == event:
                return key
        return event

    def has_event_handler(self, handler: Callable[..., Any], event_name: Any | None = None) -> bool:
        """Whether ``handler`` is attached (to ``event_name``, or to any event)."""
        return any(
            h == handler and (event_name is None or e == event_name) and handle.active
            for e, h, handle in self._registered
        )

    def remove_event_handler(self, handler: Callable[..., Any], event_name: Any) -> None:
        """Detach ``handler`` from ``event_name``.

        Raises:
            ValueError: it is not attached to that event.
        """
        found = [r for r in self._registered if r[1] == handler and r[0] == event_name]
        if not found:
            raise ValueError(
                f"{self._sf.name}.ignite: handler {handler!r} is not attached to {event_name!r}"
            )
        for registration in found:
            registration[2].remove()
            self._registered.remove(registration)

    # The run --------------------------------------------------------------------------
    def run(
        self,
        data: Iterable[Any] | None = None,
        max_epochs: int | None = None,
        epoch_length: int | None = None,
        **kwargs: Any,
    ) -> State:
        """Run the statefire engine (on ``data`` when given); return this face's state.

        Raises:
            TypeError: ignite-only arguments (``max_iters``).
        """
        if kwargs:
            raise TypeError(
                f"{self._sf.name}.ignite.run() takes data, max_epochs and epoch_length; "
                f"got {sorted(kwargs)} (stop early with terminate() from a handler)"
            )
        if data is not None and data is not self._sf.dataloader:
            self._sf.set_dataloader(data)
        self._not_handled = None
        try:
            self._sf.run(max_epochs=max_epochs, epoch_length=epoch_length)
        except Exception as exc:
            # As ignite's run: EXCEPTION_RAISED handlers that all returned took care of it.
            handled = self._sf.exception is exc and self._not_handled is not exc
            if not (handled and self._has_handlers_for(Events.EXCEPTION_RAISED)):
                raise
        return self.state

    def _has_handlers_for(self, event_name: Any) -> bool:
        """Whether any handler is attached to ``event_name``."""
        return any(e == event_name and handle.active for e, _, handle in self._registered)

    def terminate(self, skip_completed: bool = False) -> None:
        """End the statefire engine's run after the current iteration."""
        if skip_completed:
            raise ValueError(
                f"{self._sf.name}.ignite.terminate(skip_completed=True) is not supported: a "
                "terminated statefire run completes (n_run_completed); filter that handler instead"
            )
        self._sf.terminate()

    def terminate_epoch(self, skip_epoch_completed: bool = False) -> None:
        """End the statefire engine's current epoch after the current iteration."""
        if skip_epoch_completed:
            raise ValueError(
                f"{self._sf.name}.ignite.terminate_epoch(skip_epoch_completed=True) is not "
                "supported: the epoch completes (n_epoch_completed)"
            )
        self._sf.terminate_epoch()

    def load_state_dict(self, state_dict: Any) -> None:
        """Put the engine at the position of an ignite ``Engine.state_dict()``.

        The counters are set without events (``iteration``, and ``epoch`` from it
        unless given), as ignite does; the next run continues from there on a
        new data iterator.

        Raises:
            ValueError: neither ``iteration`` nor ``epoch`` is given, or no epoch length is known.
        """
        sf = self._sf
        iteration, epoch = state_dict.get("iteration"), state_dict.get("epoch")
        length = state_dict.get("epoch_length") or sf.epoch_length
        if (iteration is None and epoch is None) or not length:
            raise ValueError(
                f"{sf.name}.ignite.load_state_dict needs 'iteration' or 'epoch' and an epoch "
                f"length, got keys {sorted(state_dict)} (engine epoch_length={sf.epoch_length})"
            )
        if iteration is None:
            iteration = epoch * length
        if epoch is None:
            epoch = iteration // length
        sf.set_dataloader(sf.dataloader)  # drop the data position: a new iterator, as ignite
        sf.reset_variables(
            n_iteration_started=iteration,
            n_iteration_completed=iteration,
            n_epoch_completed=epoch,
            n_epoch_started=epoch + (1 if iteration % length else 0),
            epoch_length=length,
            max_epochs=state_dict.get("max_epochs", sf.max_epochs),
        )

    @property
    def should_terminate(self) -> bool:  # type: ignore[override]
        """The engine's ``should_terminate`` variable."""
        return getattr(self, "_sf", None) is not None and bool(self._sf.should_terminate)

    @should_terminate.setter
    def should_terminate(self, value: Any) -> None:
        if getattr(self, "_sf", None) is not None and value:
            self._sf.terminate()

    def __repr__(self) -> str:
        return f"<IgniteFace of {self._sf.key}: {len(self._registered)} handlers>"
