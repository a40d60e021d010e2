"""The set hook in pure Python: the twin of ``pipeline/_speedups.c``.

Used when the compiled extension is not built (or ``STATEFIRE_PURE_PYTHON=1``
is set); ``pipeline/_hooks.py`` picks one. Both define the same three bases
with the same fields and the same logic, and behave the same for the
framework's use (the core's tests run against both). They differ at the
edges: the compiled hook requires ``_vars`` to be a dict, treats an unset
field as None/False where this one raises AttributeError, and its objects
cannot be copied.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pipeline.variable import Slot

__all__ = ["NO_VARIABLES", "OwnerBase", "RuntimeBase", "SlotBase", "generic_setattr"]

NO_VARIABLES: Mapping[str, Any] = MappingProxyType({})  # the class default of _vars
generic_setattr = object.__setattr__


class RuntimeBase:
    """The fields of a Runtime that the set hook reads."""

    __slots__ = ("slow", "writer")

    slow: bool  # a trace or a hold block is active: every set goes to on_set
    writer: Any  # the node or callback whose code is running now (None: user code)


class SlotBase:
    """The fields of a Slot that the set hook reads and writes."""

    __slots__ = ("last_writer", "rt", "value", "watch")

    value: Any  # the variable's current value (the core's copy)
    rt: Any  # the state's Runtime
    last_writer: object  # who set the variable last
    watch: bool  # someone subscribes to the variable: every set goes to on_set


class OwnerBase:
    """Where a variable set enters the framework."""

    _vars: Mapping[str, Slot] = NO_VARIABLES

    def __setattr__(self, name: str, value: Any, _store: Any = generic_setattr) -> None:
        # The value is stored as an ordinary attribute, so that a read stays a
        # plain attribute read; the slot keeps a second copy for the core.
        # Everything beyond that (subscribers, traces, hold blocks, new
        # writers) is decided by one flag check and done in Runtime.on_set.
        try:
            slot = self._vars[name]
        except KeyError:
            self._set_other(name, value)
            return
        # object.__setattr__ costs ~70 ns more than writing into vars(self), but
        # touching vars(self) makes CPython 3.11 drop its fast path for every
        # later read of the object (~5x slower reads), and reads are the common case.
        _store(self, name, value)
        old = slot.value
        slot.value = value
        rt = slot.rt
        if slot.watch or rt.slow or rt.writer is not slot.last_writer:
            rt.on_set(slot, old, value)

    def _set_other(self, name: str, value: Any) -> None:
        raise NotImplementedError
