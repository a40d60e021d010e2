"""The set hook: compiled (``pipeline._speedups``) when built, else pure Python.

``COMPILED`` tells which one is in use. Setting the environment variable
``STATEFIRE_PURE_PYTHON`` to ``1`` (or ``true``, ``yes``, ``on``) before
importing ``pipeline`` forces the pure-Python twin (``pipeline/_pyhooks.py``);
both behave the same for the framework, the compiled one is faster
(docs/performance.md). An extension that is there but fails to import gives a
``RuntimeWarning`` and the pure-Python twin.
"""

from __future__ import annotations

import importlib.util
import os
import warnings
from typing import TYPE_CHECKING

__all__ = ["COMPILED", "NO_VARIABLES", "OwnerBase", "RuntimeBase", "SlotBase", "generic_setattr"]

if TYPE_CHECKING:
    from pipeline._pyhooks import NO_VARIABLES, OwnerBase, RuntimeBase, SlotBase, generic_setattr

    COMPILED: bool
else:
    COMPILED = False
    _pure = os.environ.get("STATEFIRE_PURE_PYTHON", "").strip().lower()
    if _pure in ("", "0", "false", "no", "off"):
        try:
            from pipeline._speedups import (
                NO_VARIABLES,
                OwnerBase,
                RuntimeBase,
                SlotBase,
                generic_setattr,
            )

            COMPILED = True
        except ImportError as exc:
            if importlib.util.find_spec("pipeline._speedups") is not None:
                warnings.warn(
                    f"pipeline._speedups is installed but does not import ({exc}); using the "
                    "pure-Python set hook, which is slower. Reinstall the project to rebuild it.",
                    RuntimeWarning,
                    stacklevel=2,
                )
    if not COMPILED:
        from pipeline._pyhooks import (
            NO_VARIABLES,
            OwnerBase,
            RuntimeBase,
            SlotBase,
            generic_setattr,
        )
