"""Writing a file atomically: ``torch.save`` into a temporary file, fsynced, renamed.

Checkpoints (``nodes/checkpoint.py``) and exports (``nodes/export.py``) are written this
way, so a crash or a full disk never leaves a partial file under the final name. The
temporary file's name (``.<name>.tmp-<host>-<pid>``) says which process wrote it, so
a later run can remove the leftovers of a killed one and no two processes share one.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

__all__: list[str] = []

_TMP_MARK = ".tmp-"
_HOST = re.sub(r"[^A-Za-z0-9.]+", ".", socket.gethostname()) or "host"  # no "-": it ends the host


def save_atomic(
    payload: Any, path: Path, on_error: Callable[[BaseException, int], None] | None = None
) -> None:
    """``torch.save(payload)`` to ``path`` atomically: into a temporary file of a name unique
    to this host and process (``.<name>.tmp-<host>-<pid>``), flushed and fsynced, renamed
    over ``path``, the directory fsynced. On an error the temporary file is removed (no
    partial file is left, an earlier ``path`` is untouched); ``on_error(exc, bytes_written)``
    is then called (it may raise an error of its own) and the error raised.
    """
    tmp = path.with_name(f".{path.name}{_TMP_MARK}{_HOST}-{os.getpid()}")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        written = tmp.stat().st_size if tmp.is_file() else 0
        with contextlib.suppress(OSError):
            tmp.unlink()
        if on_error is not None:
            on_error(exc, written)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some file systems do not open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
