"""Read what a statefire checkpoint holds without building a state, and export it for ignite.

A statefire checkpoint keeps every model's and optimizer's ``state_dict()``
under ``state["objects"]["modules.<name>"]`` / ``["optimizers.<name>"]`` and
the engines' counters under ``state["variables"]``. ``object_state``
reads one of them (``object_state(path, "model")`` is a plain model
``state_dict`` for ``model.load_state_dict``); ``export_for_ignite``
writes the file ignite's ``Checkpoint.load_objects`` reads. Files are read with
``Checkpoint.read`` (``weights_only=True``, records checked). Writing
checkpoints is ``nodes/checkpoint.py``'s business, not this module's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nodes.atomic_file import save_atomic
from nodes.checkpoint import Checkpoint
from pipeline.values import did_you_mean

__all__ = ["export_for_ignite", "object_state"]

_CONTAINERS = ("modules", "optimizers")


def _objects(path: str | Path) -> tuple[dict[str, Any], dict[str, Any]]:
    state = Checkpoint.read(path)["state"]
    return state.get("objects", {}), state.get("variables", {})


def _resolve(objects: dict[str, Any], name: str, path: str | Path) -> str:
    if name in objects:
        return name
    found = [f"{box}.{name}" for box in _CONTAINERS if f"{box}.{name}" in objects]
    if len(found) == 1:
        return found[0]
    short = [key.split(".", 1)[1] for key in objects]
    raise KeyError(
        f"{path} holds no object {name!r}{did_you_mean(name, short + list(objects))}; it holds "
        f"{', '.join(objects) or 'none'}"
        + (f" ({' and '.join(found)}: give the full path)" if found else "")
    )


def object_state(path: str | Path, name: str = "model") -> dict[str, Any]:
    """The saved ``state_dict()`` of one object of a statefire checkpoint, no state built.

    Args:
        path: a statefire checkpoint file.
        name: the object's name in its container (``"model"``) or its path
            (``"modules.model"``, ``"optimizers.optimizer"``).

    Returns:
        The object's ``state_dict`` as saved: for a model, what
        ``model.load_state_dict`` takes.

    Raises:
        CheckpointError: the file cannot be read (see ``Checkpoint.read``).
        KeyError: no such object, with the names the file holds.

    Example:
        >>> model.load_state_dict(object_state("outputs/ckpt/checkpoint_100.pt"))  # doctest: +SKIP
    """
    objects, _ = _objects(path)
    return objects[_resolve(objects, name, path)]  # type: ignore[no-any-return]


def export_for_ignite(
    path: str | Path,
    out: str | Path,
    objects: dict[str, str] | None = None,
    engine: str | None = "trainer",
) -> Path:
    """Write the objects of a statefire checkpoint as a file ignite's ``Checkpoint.load_objects`` reads.

    Args:
        path: a statefire checkpoint file.
        out: the file to write (written to a temporary name, then renamed).
        objects: ignite key -> object name or path in the checkpoint; default:
            every module and optimizer under its own name (``{"model": ...,
            "optimizer": ...}``).
        engine: an engine whose position (``iteration``, ``epoch_length``,
            ``max_epochs``) is written under its name, for ignite's
            ``Engine.load_state_dict``; None writes none.

    Returns:
        ``out`` as a Path.

    Raises:
        CheckpointError: the file cannot be read.
        KeyError: an object or the engine is not in the checkpoint.

    Example:
        >>> export_for_ignite("ckpt/checkpoint_3.pt", "for_ignite.pt")  # doctest: +SKIP
        >>> ignite.handlers.Checkpoint.load_objects(  # doctest: +SKIP
        ...     {"model": model, "optimizer": optimizer, "trainer": trainer}, "for_ignite.pt")
    """
    saved, variables = _objects(path)
    if objects is None:
        objects = {key.split(".", 1)[1]: key for key in saved if key.split(".")[0] in _CONTAINERS}
    payload: dict[str, Any] = {
        key: saved[_resolve(saved, name, path)] for key, name in objects.items()
    }
    if engine is not None:
        prefix = f"engines.{engine}."
        if f"{prefix}n_iteration_completed" not in variables:
            engines = sorted({p.split(".")[1] for p in variables if p.startswith("engines.")})
            raise KeyError(
                f"{path} holds no engine {engine!r}{did_you_mean(engine, engines)} (engines: "
                f"{', '.join(engines) or 'none'}); pass engine=None to export no position"
            )
        payload[engine] = {
            "iteration": variables[f"{prefix}n_iteration_completed"],
            "epoch_length": variables[f"{prefix}epoch_length"],
            "max_epochs": variables[f"{prefix}max_epochs"],
        }
    out = Path(out)
    save_atomic(payload, out)
    return out
