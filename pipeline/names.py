"""What a name in the state may be: containers, nodes and container variables.

A name is a Python identifier that does not start with ``_`` and is not a
keyword (``state.configs.class`` would not parse). A container reserves only
``add_variable`` (``node.CONTAINER_RESERVED``); a node whose name is taken on
the State itself (``hold``, ``graph``, a container) gets no ``state.<name>``
alias, and is told so. Registering what the names name is the State's.
"""

from __future__ import annotations

import keyword
import os
import sys
import warnings

from pipeline.node import CONTAINER_RESERVED

__all__ = ["check_name", "warn_no_alias"]

# The framework's packages: a warning about a user's call points past them.
_FRAMEWORK_DIRS = tuple(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), d) + os.sep
    for d in ("pipeline", "nodes")
)


def check_name(kind: str, name: object, spelled: str) -> None:
    """Refuse ``name`` for a ``kind`` ("container", "node", "variable") written as ``spelled``.

    Raises:
        TypeError: the name is not a str.
        ValueError: it is not an identifier, starts with ``_``, is a Python
            keyword, or (for a node or a variable) is ``add_variable``.
    """
    if not isinstance(name, str):
        raise TypeError(f"a {kind} name must be a str, got {type(name).__name__}")
    if not name.isidentifier() or name.startswith("_"):
        raise ValueError(
            f"a {kind} name must be a Python identifier not starting with '_', got {name!r}"
        )
    if keyword.iskeyword(name):
        raise ValueError(
            f"a {kind} may not be named {name!r}: it is a Python keyword, so `{spelled}` "
            f"would be a syntax error; choose another name, e.g. {name.lower() + '_'!r}"
        )
    if kind != "container" and name in CONTAINER_RESERVED:
        raise ValueError(
            f"a {kind} may not be named {name!r}: it clashes with Container.{name}, the one "
            "name a container reserves; choose another name"
        )


def warn_no_alias(key: str, name: str, is_container: bool) -> None:
    """Say that node ``key`` gets no ``state.<name>`` alias, and how to reach it."""
    taken = f"the container state.{name}" if is_container else f"State.{name}, part of its API"
    warnings.warn(
        f"node {key} gets no alias state.{name}: that name is {taken}; reach the node as "
        f"state.{key} (or name it otherwise)",
        UserWarning,
        stacklevel=_user_stacklevel(),
    )


def _user_stacklevel() -> int:
    """The ``stacklevel`` of a warning that points at the first frame outside the framework."""
    frame, level = sys._getframe(2), 2
    while frame.f_back is not None and frame.f_code.co_filename.startswith(_FRAMEWORK_DIRS):
        frame, level = frame.f_back, level + 1
    return level
