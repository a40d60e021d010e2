"""What a value is to the core: when a new value counts as a change, how a value
is summarised for humans, and which values a state dict may hold.

Nothing here knows about torch or NumPy; tensors are recognised by duck typing
(``shape`` and ``dtype`` attributes on an object from a ``torch`` module), and
so are NumPy scalars and 0-d arrays and tensors (``ndim == 0`` and ``item()``).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

__all__ = [
    "NOT_DATA",
    "SCALAR_TYPES",
    "as_number",
    "did_you_mean",
    "is_changed",
    "is_plain_data",
    "is_tensor",
    "summarize",
    "to_plain_data",
]

#: Types compared by value (``new != old``); every other object is compared by identity.
SCALAR_TYPES: frozenset[type] = frozenset({int, float, bool, complex, str, bytes, type(None)})


def is_changed(old: object, new: object) -> bool:
    """Tell whether setting ``new`` over ``old`` is an event.

    Plain Python scalars and strings change when ``new != old``; any other
    object changes when ``new is not old`` (a new batch or output tensor is
    always a change).

    Example:
        >>> is_changed(3, 3), is_changed(3, 4), is_changed([1], [1])
        (False, True, True)
    """
    if new is old:
        return False
    if type(new) in SCALAR_TYPES and type(old) in SCALAR_TYPES:
        return bool(new != old)
    return True


def is_tensor(value: object) -> bool:
    """Tell whether ``value`` is a torch tensor, without importing torch."""
    t = type(value)
    return t.__module__.startswith("torch") and hasattr(value, "shape") and hasattr(value, "dtype")


def summarize(value: object, width: int = 40) -> str:
    """Summarise a value in one short line: shape and dtype for tensors, a cut repr otherwise.

    Example:
        >>> summarize(0.5), summarize("a" * 50, width=10)
        ('0.5', "'aaaaaa...")
    """
    if is_tensor(value):
        shape = "x".join(str(int(s)) for s in value.shape)  # type: ignore[attr-defined]
        dtype = str(value.dtype).replace("torch.", "")  # type: ignore[attr-defined]
        device = getattr(value, "device", None)
        where = "" if device is None or str(device) == "cpu" else f" {device}"
        return f"Tensor[{shape or 'scalar'}] {dtype}{where}"
    if type(value) is float:
        text = f"{value:.6g}"
    elif type(value) in SCALAR_TYPES:
        text = repr(value)
    elif isinstance(value, (list, tuple)):
        inner = ", ".join(summarize(v, width) for v in value[:4])
        more = ", ..." if len(value) > 4 else ""
        text = f"[{inner}{more}]" if isinstance(value, list) else f"({inner}{more})"
    elif isinstance(value, dict):
        text = f"dict({len(value)} keys)"
    else:
        text = f"<{type(value).__name__}>"
    return text if len(text) <= width else text[: width - 3] + "..."


def is_plain_data(value: object) -> bool:
    """Tell whether ``value`` is data that ``torch.load(weights_only=True)`` accepts.

    Plain scalars and strings, tensors, and lists, tuples and dicts (with
    string or int keys) of those.
    """
    if type(value) in SCALAR_TYPES or is_tensor(value):
        return True
    if isinstance(value, (list, tuple)) and type(value) in (list, tuple):
        return all(is_plain_data(v) for v in value)
    if type(value) is dict:
        return all(type(k) in (str, int) and is_plain_data(v) for k, v in value.items())
    return False


#: The Python number types a 0-d value may stand for.
_NUMBER_TYPES = (bool, int, float, complex)

#: What ``to_plain_data`` returns for a value a state dict cannot hold.
NOT_DATA: Any = type("NotData", (), {"__repr__": lambda self: "NOT_DATA"})()


def as_number(value: object) -> bool | int | float | complex | None:
    """The Python number a NumPy scalar or a 0-d array or tensor holds, else None.

    Duck-typed (``ndim == 0`` and ``item()``), so neither NumPy nor torch is
    imported. ``item()`` copies a device tensor to the host.

    Example:
        >>> class Zero:  # what numpy.float64(0.5) and torch.tensor(0.5) look like here
        ...     ndim = 0
        ...     def item(self):
        ...         return 0.5
        >>> as_number(Zero()), as_number([0.5])
        (0.5, None)
    """
    if type(value) in SCALAR_TYPES or getattr(value, "ndim", None) != 0:
        return None
    item = getattr(value, "item", None)
    if not callable(item):
        return None
    try:
        number = item()
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if type(number) in _NUMBER_TYPES else None


def to_plain_data(value: object) -> Any:
    """``value`` as data a state dict may hold, or ``NOT_DATA``.

    Plain data (see ``is_plain_data``) is returned as it is, except that
    NumPy scalars and 0-d arrays, alone or inside lists, tuples and dicts,
    become the Python numbers they hold, and tensors (0-d included) stay
    tensors: whether a variable is saved must not depend on which kind of
    number it holds at the time.

    Example:
        >>> to_plain_data([1, "a"]), to_plain_data(object()) is NOT_DATA
        ([1, 'a'], True)
    """
    t = type(value)
    if t in SCALAR_TYPES:
        return value
    if is_tensor(value):
        # A tensor stays a tensor, 0-d included: a node that keeps a running
        # tensor (``torch.maximum(best, new)``) must get a tensor back on load.
        return value
    if t is list or t is tuple:
        items = [to_plain_data(v) for v in value]  # type: ignore[attr-defined]
        if any(v is NOT_DATA for v in items):
            return NOT_DATA
        return items if t is list else tuple(items)
    if t is dict:
        out = {}
        for k, v in value.items():  # type: ignore[attr-defined]
            plain = to_plain_data(v)
            if type(k) not in (str, int) or plain is NOT_DATA:
                return NOT_DATA
            out[k] = plain
        return out
    number = as_number(value)
    return NOT_DATA if number is None else number


def did_you_mean(name: str, candidates: Iterable[str]) -> str:
    """Return ``"; did you mean 'x'?"`` for the closest candidate, or ``""`` when none is close."""
    close = difflib.get_close_matches(name, list(candidates), n=3, cutoff=0.6)
    if not close:
        return ""
    return "; did you mean " + " or ".join(repr(c) for c in close) + "?"


def short_repr(value: Any) -> str:
    """A repr cut to one short line, for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
