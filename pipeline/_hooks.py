"""The set hook: compiled (``pipeline._speedups``) when built, else pure Python.

``COMPILED`` tells which one is in use. Setting the environment variable
``STATEFIRE_PURE_PYTHON=1`` before importing ``pipeline`` forces the pure-Python
twin (``pipeline/_pyhooks.py``); both behave the same, the compiled one is
faster (docs/performance.md).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

__all__ = ["COMPILED", "NO_VARIABLES", "OwnerBase", "RuntimeBase", "SlotBase", "generic_setattr"]

if TYPE_CHECKING:
    from pipeline._pyhooks import NO_VARIABLES, OwnerBase, RuntimeBase, SlotBase, generic_setattr

    COMPILED: bool
else:
    COMPILED = False
    if os.environ.get("STATEFIRE_PURE_PYTHON", "") in ("", "0"):
        try:
            from pipeline._speedups import (
                NO_VARIABLES,
                OwnerBase,
                RuntimeBase,
                SlotBase,
                generic_setattr,
            )

            COMPILED = True
        except ImportError:
            pass
    if not COMPILED:
        from pipeline._pyhooks import (
            NO_VARIABLES,
            OwnerBase,
            RuntimeBase,
            SlotBase,
            generic_setattr,
        )
