"""The ignite handlers attached to a face that carry a state, saved with the statefire state.

A handler with ``state_dict``/``load_state_dict`` (an ignite metric, ``EarlyStopping``,
``Checkpoint``, ...) attached through ``engine.ignite`` or to an ``IgniteEngine`` is kept
in one node per engine, ``handlers.<engine>_ignite``: its state goes into the state's
``state_dict`` (as data a ``weights_only`` load reads) and comes back on load. This
module holds that node and its checks only; attaching is the face's (``nodes/ignite_face.py``).
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from pipeline import Node
from pipeline.values import NOT_DATA, summarize, to_plain_data

if TYPE_CHECKING:
    from nodes.ignite_face import IgniteFace

__all__: list[str] = []


class _FaceHandlers(Node):
    """Saves and restores, with the state, the handlers of a face that have a ``state_dict``."""

    def __init__(self, face: IgniteFace) -> None:
        self.objects: dict[str, Any] = {}
        super().__init__(face._sf.state, f"{face._sf.name}_ignite", container="handlers")

    def add(self, obj: Any) -> None:
        if any(o is obj for o in self.objects.values()):
            return
        base, n = type(obj).__name__, 1
        key = base
        while key in self.objects:
            n += 1
            key = f"{base}_{n}"
        self.objects[key] = obj

    def state_dict(self) -> dict[str, Any]:
        """Each stateful handler's ``state_dict()``, by class name (and attach order).

        A handler that cannot serialise itself (ignite's ``state_dict`` raises
        NotImplementedError) is left out, as ``Metric`` does; any other error inside
        a handler's ``state_dict`` is warned about, and that handler left out. NumPy
        scalars become the Python numbers they hold.

        Raises:
            TypeError: a handler's state dict holds something other than tensors and
                plain data, which a checkpoint read with ``weights_only=True`` refuses.
        """
        out = {}
        for key, obj in self.objects.items():
            try:
                saved = obj.state_dict()
            except NotImplementedError:
                continue
            except Exception as exc:
                warnings.warn(
                    f"{self.key}: {type(obj).__name__}.state_dict() raised "
                    f"{type(exc).__name__}: {exc}; the handler is not saved (fix its state_dict)",
                    RuntimeWarning,
                    stacklevel=2,
                )
                continue
            out[key] = _plain_handler_state(obj, dict(saved), self.key)
        return out

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the handlers that ``state_dict`` saved; warn about an attached
        stateful handler that has no saved entry (it keeps its current state)."""
        unknown = sorted(set(state_dict) - set(self.objects))
        if unknown:
            raise ValueError(
                f"{self.key}: saved handlers {unknown} are not attached now "
                f"(attached: {sorted(self.objects) or 'none'}); attach them before loading"
            )
        unsaved = sorted(set(self.objects) - set(state_dict))
        if unsaved:
            warnings.warn(
                f"{self.key}: attached handlers {unsaved} have no saved state "
                f"(saved: {sorted(state_dict) or 'none'}); they keep their current state",
                RuntimeWarning,
                stacklevel=2,
            )
        for key, saved in state_dict.items():
            self.objects[key].load_state_dict(saved)


def _plain_handler_state(obj: Any, saved: dict[str, Any], where: str) -> dict[str, Any]:
    """``saved`` as data ``torch.load(weights_only=True)`` reads (mappings as dicts, NumPy
    scalars as Python numbers); TypeError naming the handler and the key otherwise."""

    def dicts(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {k: dicts(v) for k, v in value.items()}
        if type(value) in (list, tuple):
            return type(value)(dicts(v) for v in value)
        return value

    out = {}
    for key, value in saved.items():
        plain = to_plain_data(dicts(value))
        if plain is NOT_DATA:
            raise TypeError(
                f"{where}: {type(obj).__name__}.state_dict()[{key!r}] is {summarize(value)} "
                f"({type(value).__name__}), which a checkpoint read with weights_only=True "
                "cannot hold; return tensors, numbers, strings and lists, tuples and dicts "
                "of those from its state_dict()"
            )
        out[key] = plain
    return out


def _stateful(handler: Any) -> Any:
    """The object whose state a handler carries (itself, or a bound method's owner), or None."""
    for obj in (handler, getattr(handler, "__self__", None)):
        if callable(getattr(obj, "state_dict", None)) and callable(
            getattr(obj, "load_state_dict", None)
        ):
            return obj
    return None
