"""``Checkpoint``: the whole state saved to disk, atomically, and loaded back safely.

A checkpoint file is ``torch.save`` of ``{"format", "metadata", "state"}``
where ``state`` is ``state.state_dict()``. It is written to a temporary file
in the same directory, flushed and fsynced, then renamed over the final name
(``os.replace``), so a crash or a full disk never leaves a partial file under
a checkpoint's name and never touches the previous checkpoints. Files are
loaded with ``torch.load(..., weights_only=True)`` only: a file holding
pickled code is refused before anything runs.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import math
import numbers
import os
import platform
import re
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nodes.atomic_file import _HOST, _TMP_MARK, save_atomic
from nodes.distributed import is_writer_process, world_size
from nodes.engine import Engine
from nodes.ignite_names import speaks_ignite
from pipeline import Container, Node, Ref, State, StateDictError, Variable

__all__ = ["Checkpoint", "CheckpointError"]

FORMAT = "statefire.checkpoint/1"
SUFFIX = ".pt"


class CheckpointError(RuntimeError):
    """A checkpoint could not be written or read; ``path`` names the file.

    Attributes:
        path: the checkpoint file concerned.
    """

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(message)
        self.path = path


def _sanitise(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.=-]+", "-", text).strip("-")


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "torch": str(torch.__version__)}
    for module in ("ignite", "statefire"):
        with contextlib.suppress(Exception):
            if module == "statefire":
                from importlib.metadata import version

                out[module] = version("statefire")
            else:
                out[module] = str(__import__(module).__version__)
    return out


def graph_summary(state: State) -> dict[str, Any]:
    """What a checkpoint records about the graph it came from (plain strings and ints)."""
    paths = sorted(state.variables())
    return {
        "n_variables": len(paths),
        "n_nodes": len(state.nodes()),
        "nodes": [f"{key} ({type(node).__name__})" for key, node in state.nodes().items()],
        "variables_sha256": hashlib.sha256("\n".join(paths).encode()).hexdigest(),
    }


def _corrupted(path: Path, size: int, why: str) -> CheckpointError:
    return CheckpointError(
        f"checkpoint {path} ({size} bytes) is truncated or corrupted and cannot be read "
        f"({why}); load an earlier checkpoint, e.g. Checkpoint.latest() of another directory",
        path,
    )


def _check_records(path: Path, size: int) -> None:
    """Check the CRC-32 of every record of a zip-format torch file.

    ``torch.load`` does not verify them, so bytes flipped inside a tensor would
    load silently as other weights. Files that are not zip archives (truncated
    ones, the legacy format) are left to ``torch.load``'s own errors.
    """
    if not zipfile.is_zipfile(path):
        return
    try:
        with zipfile.ZipFile(path) as archive:
            bad = archive.testzip()
    # A broken directory raises anything from BadZipFile to NotImplementedError.
    except Exception as exc:
        why = f"{type(exc).__name__}: {exc}"
    else:
        why = f"the checksum of its record {bad} does not match" if bad else ""
    if why:
        raise _corrupted(path, size, why)


def _head(prefix: str, engine: str) -> str:
    return f"{_sanitise(prefix)}_{_sanitise(engine)}_"


def _engine_counters() -> frozenset[str]:
    """The names of the engine's own counters, those a checkpoint file's name can carry."""
    return frozenset(
        name
        for name, var in vars(Engine).items()
        if isinstance(var, Variable) and type(var.default) is int
    )


def _saved_by(path: Path, engine: str) -> bool:
    """Whether the checkpoint at ``path`` names the engine ``engine`` in its metadata."""
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
        key = str(payload["metadata"]["engine"])
    except Exception:  # not readable: not this engine's checkpoint
        return False
    return _sanitise(key.rpartition(".")[2]) == engine


def _is_node_file(path: Path, prefix: str | None, engine: str | None) -> bool:
    """Whether the name of ``path`` is a checkpoint name of a node with this ``prefix`` and
    ``engine`` (None: any), ``<prefix>_<engine>_<counter>=<n>[_<score>=<x>][_<tag>].pt``.

    The whole name is matched, so ``trainer`` does not take ``trainer_ft``'s files nor
    ``best`` ``best_val``'s; when the counter is not one of the engine's own counters
    (``trainer_ft_step=3`` could be engine ``trainer``, counter ``ft_step``), the engine
    the file's metadata names decides.
    """
    p = re.escape(_sanitise(prefix)) if prefix is not None else ".*"
    e = re.escape(_sanitise(engine)) if engine is not None else "[^_].*?"
    match = re.fullmatch(
        rf"(?:{p})_(?:{e})_(?P<counter>[A-Za-z0-9.-][^=]*)=-?[0-9]+(?:_.*)?{re.escape(SUFFIX)}",
        path.name,
    )
    if match is None:
        return False
    if engine is None or match["counter"] in _engine_counters():
        return True
    return _saved_by(path, _sanitise(engine))


def _is_checkpoint(path: Path) -> bool:
    """Whether ``path`` is a statefire checkpoint, judged without unpickling it: a torch
    zip file whose pickle names the format (exported weights and other files are not)."""
    try:
        with zipfile.ZipFile(path) as archive:
            name = next((n for n in archive.namelist() if n.endswith("/data.pkl")), None)
            return name is not None and FORMAT.encode() in archive.read(name)
    except (OSError, zipfile.BadZipFile, RuntimeError, ValueError):
        return False


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _file_size_limit() -> int | None:
    """This process's file-size limit (RLIMIT_FSIZE, ``ulimit -f``) in bytes, None when unlimited."""
    try:
        import resource
    except ImportError:  # not on this platform
        return None
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    return None if soft == resource.RLIM_INFINITY else int(soft)


def _as_number(value: Any) -> float | None:
    """A score as a float: Python, NumPy (what scikit-learn-backed metrics return) and
    one-element tensor or array numbers; None for anything else (None, NaN, bool, text)."""
    if isinstance(value, torch.Tensor):
        value = value.item() if value.numel() == 1 else None
    elif isinstance(value, (np.ndarray, np.generic)):
        value = value.item() if value.size == 1 else None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    number = float(value)
    return None if math.isnan(number) else number


@speaks_ignite
class Checkpoint(Node):
    """Save the state when a trigger fires; keep the last ``n_saved``, or the best by a score.

    Args:
        state: the state to save.
        dirname: the directory (created if needed).
        trigger: the variable whose changes save (with ``every``/``once``/``when``),
            e.g. ``state.trainer.n_epoch_completed_ref``.
        n_saved: how many files to keep (None: all).
        score: a Ref of a number (e.g. ``state.metrics.val_evaluator_accuracy_ref``):
            keep the best ``n_saved`` by it instead of the last ones.
        mode: ``"max"`` or ``"min"``: which scores are best.
        save_on_exception: also save when ``engine``'s run ends with an exception
            or ``KeyboardInterrupt`` (the state as of the last completed iteration);
            in a run of several processes this is skipped (the other ranks cannot
            join the collectives a state dict may need), resume from the last regular file.
        engine: the engine whose counters name the files (default: the trigger's
            owner if it is an engine, else ``state.trainer``).
        prefix: the start of the file names.
        name: the node's name in ``state.handlers``.

    Raises:
        TypeError: ``trigger``/``score`` are not Refs.
        ValueError: bad ``n_saved`` or ``mode``, or no engine to name the files.

    Example:
        >>> Checkpoint(state, "outputs/ckpt", trigger=state.trainer.n_epoch_completed_ref,  # doctest: +SKIP
        ...            n_saved=2, score=state.metrics.val_evaluator_accuracy_ref)
        >>> state.load_state_dict(torch.load(Checkpoint.latest("outputs/ckpt"),  # doctest: +SKIP
        ...                       weights_only=True)["state"])
    """

    n_saves = Variable(0, doc="checkpoints written by this node")
    last_saved = Variable(None, doc="path of the newest checkpoint written", persistent=False)

    def __init__(
        self,
        state: State,
        dirname: str | Path,
        trigger: Ref,
        n_saved: int | None = 1,
        score: Ref | None = None,
        mode: str = "max",
        save_on_exception: bool = True,
        *,
        every: int | None = None,
        once: int | None = None,
        when: Callable[[Any], Any] | None = None,
        engine: Engine | None = None,
        prefix: str = "checkpoint",
        name: str = "checkpoint",
    ) -> None:
        owner = f"Checkpoint '{name}'"
        if not isinstance(trigger, Ref):
            raise TypeError(
                f"{owner}: trigger must be a Ref such as state.trainer.n_epoch_completed_ref, got {trigger!r}"
            )
        if score is not None and not isinstance(score, Ref):
            raise TypeError(
                f"{owner}: score must be a Ref such as state.metrics.val_evaluator_accuracy_ref, got {score!r}"
            )
        if n_saved is not None and (type(n_saved) is not int or n_saved < 1):
            raise ValueError(
                f"{owner}: n_saved must be a positive integer or None (keep all), got {n_saved!r}"
            )
        if mode not in ("max", "min"):
            raise ValueError(f"{owner}: mode must be 'max' or 'min', got {mode!r}")
        if engine is None:
            engine = trigger.owner if isinstance(trigger.owner, Engine) else None
        if engine is None:
            found = Container.nodes(state.engines).get("trainer")
            engine = found if isinstance(found, Engine) else None
        if engine is None:
            raise ValueError(
                f"{owner}: no engine to name the files after; pass engine=state.<your trainer>"
            )
        for other in state.nodes().values():
            if (
                isinstance(other, Checkpoint)
                and other.dirname.resolve() == Path(dirname).resolve()
                and other.prefix == _sanitise(prefix)
                and other.engine is engine
            ):
                raise ValueError(
                    f"{owner}: {other.key} already saves {engine.name}'s checkpoints in "
                    f"{other.dirname} with the prefix {other.prefix!r}; the two would count "
                    "(and delete) each other's files: give this one another prefix="
                )
        super().__init__(state, name)
        self.dirname = Path(dirname)
        self.is_writer = is_writer_process()
        self.world_size = world_size()
        if self.is_writer:
            if self.dirname.exists() and not self.dirname.is_dir():
                raise ValueError(
                    f"{owner}: dirname {self.dirname} is a file, not a directory; pass the "
                    "directory the checkpoints go to"
                )
            self.dirname.mkdir(parents=True, exist_ok=True)
        self.trigger = trigger
        self.n_saved = n_saved
        self.score = score
        self.mode = mode
        self.engine = engine
        self.prefix = _sanitise(prefix)
        self.counter = (
            trigger
            if trigger.owner is engine and type(trigger.value) is int
            else engine.n_iteration_completed_ref
        )
        self._kept: list[tuple[float, Path]] = []  # (rank, path); the lowest rank goes first
        if self.is_writer:
            self._adopt_existing()
        reads = [self.counter] + ([score] if score is not None else [])
        trigger.subscribe(self.save, every=every, once=once, when=when, reads=reads)
        if save_on_exception:
            engine.exception_ref.subscribe(self._save_exception, when=lambda exc: exc is not None)

    def _adopt_existing(self) -> None:
        """Count files this node wrote in an earlier run of the same script (for retention)."""
        head = re.escape(_sanitise(f"{self._head}{self.counter.name}"))
        score = (
            rf"(?:_{re.escape(_sanitise(self.score.name))}=-?(?:[0-9.]+|inf))?"
            if self.score is not None
            else ""
        )
        mine = re.compile(rf"{head}=-?[0-9]+{score}{re.escape(SUFFIX)}")
        found = sorted(
            (p for p in self.dirname.glob(f"{self._head}*{SUFFIX}") if mine.fullmatch(p.name)),
            key=lambda p: p.stat().st_mtime_ns,
        )
        for i, path in enumerate(found):
            if self.score is None:
                self._kept.append((float(-len(found) + i), path))
                continue
            match = re.search(rf"_{re.escape(self.score.name)}=(-?[0-9.]+)", path.stem)
            if match:
                value = float(match.group(1))
                self._kept.append((value if self.mode == "max" else -value, path))
        self._kept.sort(key=lambda item: item[0])

    @property
    def _head(self) -> str:
        """How the names of this node's files start."""
        return _head(self.prefix, self.engine.name)

    # Saving ----------------------------------------------------------------------------
    def _score_value(self) -> float | None:
        if self.score is None:
            return None
        return _as_number(self.score.value)

    def filename(self, tag: str = "", counter: Ref | None = None) -> str:
        """The name the next file gets: engine, counter and score, sanitised."""
        return self._filename(self._score_value(), tag, counter)

    def _filename(self, score: float | None, tag: str = "", counter: Ref | None = None) -> str:
        counter = counter or self.counter
        parts = [self.prefix, self.engine.name, f"{counter.name}={counter.value}"]
        if score is not None and self.score is not None:
            parts.append(f"{self.score.name}={score:.4f}")
        if tag:
            parts.append(tag)
        return _sanitise("_".join(parts)) + SUFFIX

    def save(self) -> Path | None:
        """Save now if the retention rule keeps the file; return its path (None when skipped).

        In a distributed run every rank builds the state dict (some metrics gather
        their state from all ranks) and only rank 0 writes; the other ranks return
        None. Whether a score is good enough to keep is rank 0's decision (it alone
        knows the files kept), sent to the other ranks: a rank that built a state
        dict alone would wait forever for the others in its collectives.
        """
        score = self._score_value()
        if self.score is not None:
            if score is None:
                return None  # no score yet (no evaluation has run); alike on every rank
            rank = score if self.mode == "max" else -score
            full = self.n_saved is not None and len(self._kept) >= self.n_saved
            keep = not (full and rank <= min(r for r, _ in self._kept))
            if self.world_size > 1:
                import ignite.distributed as idist

                keep = bool(idist.broadcast(float(keep), src=0))
            if not keep:
                return None
        else:
            rank = float(self.n_saves + 1)
        path = self.write(self.dirname / self._filename(score))
        if not self.is_writer:
            return None
        self._kept = [(r, p) for r, p in self._kept if p != path]
        self._kept.append((rank, path))
        self._kept.sort(key=lambda item: item[0])
        while self.n_saved is not None and len(self._kept) > self.n_saved:
            _, old = self._kept.pop(0)
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
        return path

    def _save_exception(self) -> None:
        if self.world_size > 1:
            # The other ranks are not here: building the state dict could wait
            # forever on a collective they will never join. Resume from the
            # last regular checkpoint instead.
            return
        name = self.filename("exception", counter=self.engine.n_iteration_completed_ref)
        try:
            self.write(self.dirname / name)
        except Exception as failed:
            # The exception that ended the run goes on to the caller; a failed save,
            # of the file or of the state dict before it, must not replace it (an
            # interrupt would become a disk error or a TypeError).
            exc = self.engine.exception
            if exc is None:
                raise
            why = (
                str(failed)
                if isinstance(failed, CheckpointError)
                else (f"{type(failed).__name__}: {failed}")
            )
            exc.add_note(f"and saving it on exception failed: {why}")

    def write(self, path: Path) -> Path:
        """Write the state to ``path`` atomically.

        Raises:
            CheckpointError: the write failed; no partial file is left and earlier
                checkpoints are untouched (the message says which is the newest).
        """
        payload = {
            "format": FORMAT,
            "metadata": {
                "versions": _versions(),
                "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                "engine": self.engine.key,
                "counter": f"{self.counter.path}={self.counter.value}",
                "graph": graph_summary(self.state),
                "command": " ".join(sys.argv),
            },
            "state": self.state.state_dict(),
        }
        if not self.is_writer:
            return path
        self._remove_orphans()
        save_atomic(payload, path, lambda exc, written: self._write_failed(path, exc, written))
        self.n_saves += 1
        self.last_saved = str(path)
        return path

    def _write_failed(self, path: Path, exc: BaseException, written: int) -> None:
        """Raise the CheckpointError that says why writing ``path`` failed (an OSError or
        torch's RuntimeError; other errors, interrupts included, go on as they are)."""
        if isinstance(exc, (OSError, RuntimeError)):
            previous = Checkpoint.latest(self.dirname, prefix=self.prefix, engine=self.engine.name)
            kept = (
                f"the newest complete checkpoint is still {previous}"
                if previous
                else "no earlier checkpoint exists"
            )
            why = os.strerror(exc.errno) if isinstance(exc, OSError) and exc.errno else str(exc)
            limit = _file_size_limit()
            # torch's writer turns EFBIG into a RuntimeError without errno: the size tells.
            if (isinstance(exc, OSError) and exc.errno == errno.EFBIG) or (
                limit is not None and written >= limit
            ):
                why = (
                    f"File too large (EFBIG): the file-size limit of this process "
                    f"(RLIMIT_FSIZE, ulimit -f) is {limit} bytes and the checkpoint needs "
                    "more; raise the limit (ulimit -f unlimited)"
                )
            raise CheckpointError(
                f"could not write checkpoint {path}: {why}; no partial file was left and {kept}",
                path,
            ) from exc

    def _remove_orphans(self) -> None:
        """Delete the temporary files a killed save of this node left: written on this host
        (``.name.pt.tmp-<host>-<pid>``) by a process that no longer runs. Files of other hosts
        (a shared file system) are left alone: their processes cannot be seen from here."""
        for tmp in self.dirname.glob(f".{self._head}*{SUFFIX}{_TMP_MARK}*"):
            host, _, pid = tmp.name.rpartition(_TMP_MARK)[2].rpartition("-")
            if host not in ("", _HOST) or not pid.isdigit():
                continue
            if int(pid) == os.getpid() or not _alive(int(pid)):
                with contextlib.suppress(OSError):
                    tmp.unlink()

    # Loading -----------------------------------------------------------------------------
    @staticmethod
    def latest(
        dirname: str | Path, *, prefix: str | None = None, engine: str | None = None
    ) -> Path | None:
        """The newest statefire checkpoint in ``dirname`` (None when there is none).

        Other ``.pt`` files (exported weights, files of other programs) and temporary
        files are never returned. ``prefix`` and ``engine`` (the ``prefix=`` and engine
        name of a ``Checkpoint`` node) keep only that node's files.
        """
        folder = Path(dirname)
        if not folder.is_dir():
            return None
        start = f"{_sanitise(prefix)}_" if prefix is not None else ""
        files = [p for p in folder.glob(f"{start}*{SUFFIX}") if not p.name.startswith(".")]
        files.sort(key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
        return next(
            (
                p
                for p in files
                if ((prefix is None and engine is None) or _is_node_file(p, prefix, engine))
                and p.is_file()
                and _is_checkpoint(p)
            ),
            None,
        )

    @staticmethod
    def read(path: str | Path) -> dict[str, Any]:
        """Read a checkpoint file safely (``weights_only=True``) and check its format.

        Raises:
            CheckpointError: the file is missing, truncated, corrupted, holds
                objects other than tensors and plain data (refused, nothing run),
                or is not a statefire checkpoint.
        """
        path = Path(path)
        if path.is_dir():
            newest = Checkpoint.latest(path)
            hint = f"its newest checkpoint is {newest}" if newest else "it holds no checkpoint"
            raise CheckpointError(
                f"checkpoint {path} is a directory, not a file; pass a checkpoint file ({hint}, "
                "Checkpoint.latest(directory) finds it)",
                path,
            )
        if not path.is_file():
            raise CheckpointError(f"checkpoint {path} does not exist", path)
        size = path.stat().st_size
        _check_records(path, size)
        try:
            payload = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            text = str(exc)
            if (
                "Weights only load failed" in text
                or "Unsupported global" in text
                or "weights_only" in text
            ):
                first = next(
                    (line for line in text.splitlines() if "global" in line.lower()),
                    text.splitlines()[0],
                )
                raise CheckpointError(
                    f"refused checkpoint {path}: it holds pickled objects other than tensors and "
                    f"plain data ({first.strip()}); nothing in it was executed. Only load files "
                    "you trust, and never with weights_only=False",
                    path,
                ) from None
            detail = text.splitlines()[0] if text else "no detail"
            raise _corrupted(path, size, f"{type(exc).__name__}: {detail}") from None
        if (
            not isinstance(payload, dict)
            or payload.get("format") != FORMAT
            or "state" not in payload
        ):
            got = sorted(payload)[:6] if isinstance(payload, dict) else type(payload).__name__
            raise CheckpointError(
                f"{path} is not a statefire checkpoint (expected format {FORMAT!r}, got {got})",
                path,
            )
        return payload

    @staticmethod
    def load(state: State, path: str | Path, strict: bool = True) -> dict[str, Any]:
        """Load a checkpoint into ``state`` (no events fire); return its metadata.

        Raises:
            CheckpointError: the file cannot be read (see ``read``).
            StateDictError: with ``strict``, every mismatch between the file and
                the state in one error (nothing is loaded then); ``strict=False``
                loads what matches.
        """
        payload = Checkpoint.read(path)
        try:
            state.load_state_dict(payload["state"], strict=strict)
        except StateDictError as exc:
            if exc.malformed:  # the file's state is no state dict: say what is wrong with it
                header = f"checkpoint {path} holds no valid state dict under 'state'"
            else:
                n = payload.get("metadata", {}).get("graph", {}).get("n_variables", "?")
                header = (
                    f"checkpoint {path} does not match this state (it came from a graph of "
                    f"{n} variables)"
                )
            raise StateDictError(
                exc.missing, exc.unexpected, exc.mismatched, header, malformed=exc.malformed
            ) from None
        return dict(payload.get("metadata", {}))
