"""``state_dict`` and ``load_state_dict`` of a State.

What is saved: every persistent variable whose value is plain data (scalars,
strings, tensors, lists/tuples/dicts of those), the ``state_dict()`` of values
that have one (modules, optimizers, schedulers), every node's own
``state_dict()``, and the change counters of ``every``/``once`` filters. The
result holds only what ``torch.load(..., weights_only=True)`` accepts.
Loading checks everything it can first and changes nothing when that check
fails; an object or node that still refuses its part while loading itself
raises with a note saying what was already loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.errors import StateDictError
from pipeline.values import is_plain_data, is_tensor

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


def _section_of(slot: Slot) -> str | None:
    """Where a variable goes in the state dict, or None when it is not saved."""
    if slot.persistent is False:
        return None
    value = slot.value
    if _has_state_dict(value):
        return "objects"
    if is_plain_data(value):
        return "variables"
    if slot.persistent:
        raise TypeError(
            f"{slot.path} is persistent but holds a {type(value).__name__}, which a state "
            "dict cannot hold (plain data, tensors and objects with state_dict() only); "
            "declare it Variable(..., persistent=False) or store plain data"
        )
    return None


def _filter_keys(state: State) -> dict[str, Subscription]:
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


def collect(state: State) -> dict[str, Any]:
    """Build the state dict of ``state`` (see the module docstring)."""
    out: dict[str, Any] = {"format": FORMAT, **{s: {} for s in _SECTIONS}}
    for path, slot in state._slots.items():
        section = _section_of(slot)
        if section == "variables":
            out["variables"][path] = slot.value
        elif section == "objects":
            out["objects"][path] = slot.value.state_dict()
    for key, node in state._nodes.items():
        own = node.state_dict()
        if own:
            out["nodes"][key] = own
    out["filters"] = {key: sub.n_changes for key, sub in _filter_keys(state).items()}
    return out


def _mismatch(path: str, current: Any, loaded: Any) -> str | None:
    if is_tensor(current) and is_tensor(loaded):
        if tuple(current.shape) != tuple(loaded.shape):
            return (
                f"{path}: tensor of shape {tuple(loaded.shape)} in the file, "
                f"{tuple(current.shape)} in the state"
            )
        return None
    if not is_plain_data(loaded):
        return f"{path}: holds a {type(loaded).__name__}, not plain data"
    return None


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
    """Load ``sd`` into ``state`` without firing events (see :meth:`State.load_state_dict`)."""
    if not isinstance(sd, dict) or sd.get("format") != FORMAT:
        got = sorted(sd)[:8] if isinstance(sd, dict) else type(sd).__name__
        raise StateDictError(
            header=f"not a statefire state dict (expected format {FORMAT!r} and sections "
            f"{list(_SECTIONS)}, got {got})"
        )
    for section in _SECTIONS:
        if not isinstance(sd.get(section), dict):
            raise StateDictError(
                header=f"the state dict's section {section!r} is missing or not a dict"
            )

    expected: dict[str, dict[str, Any]] = {"variables": {}, "objects": {}}
    for path, slot in state._slots.items():
        where = _section_of(slot)
        if where is not None:
            expected[where][path] = slot
    filters = _filter_keys(state)

    missing: list[str] = []
    unexpected: list[str] = []
    mismatched: list[str] = []
    bad: set[str] = set()  # paths with a mismatch: never loaded, even with strict=False
    for section, have in (*expected.items(), ("filters", filters)):
        given = sd[section]
        missing += [f"{section}:{k}" for k in have if k not in given]
        unexpected += [f"{section}:{k}" for k in given if k not in have]
    # A node's own state may be empty before it has run (an engine's data order):
    # missing only when the node has something now, unexpected only for unknown nodes.
    missing += [
        f"nodes:{k}" for k, n in state._nodes.items() if k not in sd["nodes"] and n.state_dict()
    ]
    unexpected += [f"nodes:{k}" for k in sd["nodes"] if k not in state._nodes]
    for path, slot in expected["variables"].items():
        if path in sd["variables"]:
            problem = _mismatch(path, slot.value, sd["variables"][path])
            if problem:
                mismatched.append(problem)
                bad.add(path)
    for path, slot in expected["objects"].items():
        if path not in sd["objects"]:
            continue
        loaded = sd["objects"][path]
        if not isinstance(loaded, dict):
            problems = [f"{path}: expected a state_dict (dict), got {type(loaded).__name__}"]
        elif hasattr(slot.value, "named_parameters"):  # a module: its tensors must fit exactly
            problems = _module_mismatches(path, slot.value.state_dict(), loaded)
        else:
            problems = []
        if problems:
            mismatched += problems
            bad.add(path)
    if strict and (missing or unexpected or mismatched):
        raise StateDictError(missing, unexpected, mismatched)

    for path, slot in expected["variables"].items():
        if path in sd["variables"] and path not in bad:
            slot.store_quietly(sd["variables"][path])
    # Objects and nodes load themselves; the checks above cannot see inside
    # them, so one may still refuse. Say what is already loaded when it does.
    done = "the variables"
    for path, slot in expected["objects"].items():
        if path in sd["objects"] and path not in bad:
            _load_part(slot.value, sd["objects"][path], path, done)
            done = f"{done}, {path}"
    for key, node in state._nodes.items():
        if key in sd["nodes"]:
            _load_part(node, sd["nodes"][key], f"the state of node {key}", done)
            done = f"{done}, node {key}"
    for key, sub in filters.items():
        if key in sd["filters"]:
            sub.n_changes = int(sd["filters"][key])


def _load_part(target: Any, part: Any, what: str, done: str) -> None:
    try:
        target.load_state_dict(part)
    except Exception as exc:
        exc.add_note(
            f"while loading {what}; {done} were already loaded, so the state is only "
            "partly restored: load into a freshly built state again"
        )
        raise
