"""``state_dict`` and ``load_state_dict`` of a State.

What is saved: every persistent variable whose value is plain data (scalars,
strings, tensors, lists/tuples/dicts of those; NumPy scalars and 0-d arrays
are saved as the Python numbers they hold, tensors (0-d ones too) as
tensors), the ``state_dict()``
of values that have one (modules, optimizers, schedulers), every node's own
``state_dict()``, and the change counters of ``every``/``once`` filters that
count changes (filters on int variables test the value and keep no state).
The result holds only what ``torch.load(..., weights_only=True)`` accepts.

Loading checks everything it can first (the dict's shape, every entry's type
and tensor shapes, module keys, filter counts) and changes nothing when that
check fails; an object or node that still refuses its part while loading
itself raises with a note saying what was already loaded.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from pipeline.errors import StateDictError, StateDictWarning
from pipeline.node import Node
from pipeline.values import NOT_DATA, is_plain_data, is_tensor, short_repr, to_plain_data

if TYPE_CHECKING:
    from pipeline.state import State
    from pipeline.subscription import Subscription
    from pipeline.variable import Slot

__all__ = ["FORMAT", "collect", "restore"]

FORMAT = "statefire.state/1"
_SECTIONS = ("variables", "objects", "nodes", "filters")


def _has_state_dict(value: object) -> bool:
    return (
        not isinstance(value, type)
        and callable(getattr(value, "state_dict", None))
        and callable(getattr(value, "load_state_dict", None))
    )


def _saved_form(slot: Slot) -> tuple[str | None, Any]:
    """Where a variable goes in the state dict and the value saved there ((None, None): not saved)."""
    if slot.persistent is False:
        return None, None
    value = slot.value
    if _has_state_dict(value):
        return "objects", value
    plain = to_plain_data(value)
    if plain is not NOT_DATA:
        return "variables", plain
    if slot.persistent:
        raise TypeError(
            f"{slot.path} is persistent but holds a {type(value).__name__}, which a state "
            "dict cannot hold (plain data, tensors and objects with state_dict() only); "
            "declare it Variable(..., persistent=False) or store plain data"
        )
    return None, None


def _filter_keys(state: State) -> dict[str, Subscription]:
    """Every subscription with ``every``/``once``, by its key in the ``filters`` section."""
    keys: dict[str, Subscription] = {}
    for slot in state._slots.values():
        for sub in slot.subs:
            if sub.every is None and sub.once is None:
                continue
            key, n = sub.key, 2
            while key in keys:
                key, n = f"{sub.key}#{n}", n + 1
            keys[key] = sub
    return keys


def _counts_changes(sub: Subscription) -> bool:
    """Whether a filter keeps state: it counts changes (its variable is not an int)."""
    return sub.n_changes > 0 or type(sub.slot.value) is not int


def collect(state: State) -> dict[str, Any]:
    """Build the state dict of ``state`` (see the module docstring)."""
    out: dict[str, Any] = {"format": FORMAT, **{s: {} for s in _SECTIONS}}
    for path, slot in state._slots.items():
        section, value = _saved_form(slot)
        if section == "variables":
            out["variables"][path] = value
        elif section == "objects":
            out["objects"][path] = value.state_dict()
    for key, node in state._nodes.items():
        own = node.state_dict()
        if own:
            out["nodes"][key] = own
    out["filters"] = {
        key: sub.n_changes for key, sub in _filter_keys(state).items() if _counts_changes(sub)
    }
    return out


#: The types a loaded value may have, by the type of the value in the state.
_ACCEPTED: dict[type, tuple[type, ...]] = {
    bool: (bool,),
    int: (int,),
    float: (int, float),
    complex: (int, float, complex),
    str: (str,),
    bytes: (bytes,),
    list: (list,),
    tuple: (tuple,),
    dict: (dict,),
}


def _a(t: type) -> str:
    return ("an " if t.__name__[0] in "aeiouAEIOU" else "a ") + t.__name__


def _described(value: object) -> str:
    """``an int (3)``, ``None``: a value in an error message."""
    return "None" if value is None else f"{_a(type(value))} ({short_repr(value)})"


def _malformed(sd: object) -> list[str]:
    """What makes ``sd`` something other than a state dict (empty: it is one)."""
    if not isinstance(sd, dict):
        return [f"expected the dict state.state_dict() returns, got {_described(sd)}"]
    if sd.get("format") != FORMAT:
        if not sd:
            got = "an empty dict"
        elif "format" in sd:
            got = f"format {short_repr(sd['format'])}"
        else:
            got = f"a dict with keys {sorted(map(str, sd))[:8]} and no 'format'"
        return [f"expected format {FORMAT!r} and sections {list(_SECTIONS)}, got {got}"]
    problems = []
    for section in _SECTIONS:
        part = sd.get(section)
        if not isinstance(part, dict):
            what = "is missing" if section not in sd else f"is {_described(part)}, not a dict"
            problems.append(f"section {section!r} {what}")
            continue
        keys = [k for k in part if not isinstance(k, str)]
        if keys:
            problems.append(
                f"section {section!r}: keys must be paths (str), got {short_repr(keys[:4])}"
            )
    return problems


def _real(value: object) -> bool:
    """A float or a 0-d tensor: what a metric or a score holds, in either form."""
    return type(value) is float or (is_tensor(value) and getattr(value, "ndim", None) == 0)


def _mismatch(path: str, current: Any, loaded: Any, declared: bool = True) -> str | None:
    """What keeps ``loaded`` from replacing ``current`` (None: it fits).

    ``current`` is the state's value as it would be saved (plain data); a
    value of None in the state takes any plain data. A variable declared on a
    node class (``declared``) keeps its type: an int counter takes an int. A
    container's variable (a config, often set from the command line, where
    an option is None in one run and a value in the next) also takes None
    over a value, and an int and a float for each other.
    """
    if not is_plain_data(loaded):
        return f"{path}: holds a {type(loaded).__name__}, not plain data"
    if _real(current) and _real(loaded):
        return None  # a float and a 0-d tensor are both a real number (a score, a loss)
    if is_tensor(current):
        if not is_tensor(loaded):
            return f"{path}: the state holds a Tensor, the file {_described(loaded)}"
        if tuple(current.shape) != tuple(loaded.shape):
            return (
                f"{path}: tensor of shape {tuple(loaded.shape)} in the file, "
                f"{tuple(current.shape)} in the state"
            )
        return None
    if current is None or type(loaded) in _ACCEPTED.get(type(current), ()):
        return None
    if not declared and (loaded is None or {type(current), type(loaded)} == {int, float}):
        return None
    hint = ""
    if type(current) is int and type(loaded) is float:
        hint = " (a variable that may hold floats needs a float initial value, e.g. 0.0)"
    return f"{path}: the state holds {_described(current)}, the file {_described(loaded)}{hint}"


def _module_mismatches(path: str, current: dict[str, Any], loaded: dict[str, Any]) -> list[str]:
    """Every key and tensor shape in which a module's saved state differs from the module."""
    problems = []
    missing = [k for k in current if k not in loaded]
    unexpected = [k for k in loaded if k not in current]
    if missing:
        problems.append(f"{path}: the file lacks {', '.join(missing)}")
    if unexpected:
        problems.append(f"{path}: the file has unknown {', '.join(unexpected)}")
    for key, tensor in current.items():
        problem = _mismatch(f"{path}.{key}", tensor, loaded[key]) if key in loaded else None
        if problem:
            problems.append(problem)
    return problems


def restore(state: State, sd: dict[str, Any], strict: bool = True) -> None:
    """Load ``sd`` into ``state`` without firing events (see ``State.load_state_dict``)."""
    malformed = _malformed(sd)
    if malformed:
        header = "the state dict is malformed"
        if len(malformed) == 1 and malformed[0].startswith("expected "):
            header = f"not a statefire state dict ({malformed[0]})"
        raise StateDictError(header=header, malformed=malformed)

    expected: dict[str, dict[str, Any]] = {"variables": {}, "objects": {}}
    for path, slot in state._slots.items():
        where, value = _saved_form(slot)
        if where is not None:
            expected[where][path] = (slot, value)
    filters = _filter_keys(state)

    missing: list[str] = []
    unexpected: list[str] = []
    mismatched: list[str] = []
    bad: set[str] = set()  # entries with a mismatch: never loaded, even with strict=False
    for section, have in expected.items():
        given = sd[section]
        missing += [f"{section}:{k}" for k in have if k not in given]
        unexpected += [f"{section}:{k}" for k in given if k not in have]
    # A node's own state may be empty before it has run (an engine's data order):
    # missing only when the node has something now, unexpected only for unknown nodes.
    missing += [
        f"nodes:{k}" for k, n in state._nodes.items() if k not in sd["nodes"] and n.state_dict()
    ]
    unexpected += [f"nodes:{k}" for k in sd["nodes"] if k not in state._nodes]
    for path, (slot, value) in expected["variables"].items():
        if path in sd["variables"]:
            loaded = sd["variables"][path]
            if is_tensor(slot.value) and is_tensor(loaded):
                value = slot.value  # a tensor (a 0-d one too, from an older file) for a tensor
            problem = _mismatch(path, value, loaded, declared=isinstance(slot.owner, Node))
            if problem:
                mismatched.append(problem)
                bad.add(path)
    for path, (_, obj) in expected["objects"].items():
        if path not in sd["objects"]:
            continue
        loaded = sd["objects"][path]
        if not isinstance(loaded, dict):
            problems = [f"{path}: expected a state_dict (dict), got {type(loaded).__name__}"]
        elif hasattr(obj, "named_parameters"):  # a module: its tensors must fit exactly
            problems = _module_mismatches(path, obj.state_dict(), loaded)
        else:
            problems = []
        if problems:
            mismatched += problems
            bad.add(path)
    for key, node in state._nodes.items():
        if key not in sd["nodes"]:
            continue
        part = sd["nodes"][key]
        if isinstance(part, dict):
            problems = [f"nodes:{key}: {p}" for p in node.check_state_dict(part)]
        else:
            problems = [
                f"nodes:{key}: expected the node's state_dict (a dict), got {_a(type(part))}"
            ]
        if problems:
            mismatched += problems
            bad.add(f"nodes:{key}")
    # Filter counters are the phase of callbacks: one the state does not save
    # (a callback added since) starts at 0; one of a callback that is gone is
    # reported by a warning, never a refusal (a crashing callback removed
    # after the crash must not make the checkpoint unloadable).
    for key in filters:
        count = sd["filters"].get(key, 0)
        if type(count) is not int or count < 0:
            mismatched.append(
                f"filters:{key}: expected a change count (an int >= 0), got {_described(count)}"
            )
            bad.add(f"filters:{key}")
    gone = [key for key in sd["filters"] if key not in filters]
    if strict and (missing or unexpected or mismatched):
        raise StateDictError(missing, unexpected, mismatched)

    if gone:
        warnings.warn(
            f"the state dict holds filter counters of {len(gone)} subscription"
            f"{'s' if len(gone) != 1 else ''} this state does not have, ignored: "
            f"{', '.join(gone)} (a callback removed, renamed, or given other filters since "
            "the save)",
            StateDictWarning,
            stacklevel=3,
        )
    for path, (slot, _) in expected["variables"].items():
        if path in sd["variables"] and path not in bad:
            slot.store_quietly(sd["variables"][path])
    # Objects and nodes load themselves; the checks above cannot see inside
    # them, so one may still refuse. Say what is already loaded when it does.
    done = "the variables"
    for path, (_, obj) in expected["objects"].items():
        if path in sd["objects"] and path not in bad:
            _load_part(obj, sd["objects"][path], path, done)
            done = f"{done}, {path}"
    for key, node in state._nodes.items():
        if key in sd["nodes"] and f"nodes:{key}" not in bad:
            _load_part(node, sd["nodes"][key], f"the state of node {key}", done)
            done = f"{done}, node {key}"
    for key, sub in filters.items():
        if f"filters:{key}" not in bad:
            sub.n_changes = sd["filters"].get(key, 0)


def _load_part(target: Any, part: Any, what: str, done: str) -> None:
    try:
        target.load_state_dict(part)
    except Exception as exc:
        exc.add_note(
            f"while loading {what}; {done} were already loaded, so the state is only "
            "partly restored: load into a freshly built state again"
        )
        raise
