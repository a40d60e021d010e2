"""A pytest plugin: ignite's ``Engine`` names statefire's ``nodes.IgniteEngine``.

Loaded with ``-p statefire_engine`` by ``run_peer.py``, before any test module
is imported. ``ignite.engine.Engine`` and ``ignite.engine.engine.Engine`` then
name ``IgniteEngine``, and so does ``Engine`` in every ``ignite.*`` or
``tests.*`` module already imported with ``from ignite.engine import Engine``
(ignite's ``create_supervised_*`` and ``ParamScheduler.simulate_values`` build
their engines from it). ``IgniteEngine`` subclasses ignite's ``Engine``, so
ignite's ``isinstance`` checks keep passing. statefire's own modules keep the
original class, the base they subclass.

With ``PEER_ENGINE=face`` in the environment (``run_peer.py --face``), the
engines are :class:`FaceEngine` instead: the ``engine.ignite`` face of a new
statefire ``Engine``, whose loop is statefire's.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import ignite.engine
import ignite.engine.engine
from ignite.engine.utils import _check_signature

from nodes import Engine, IgniteEngine
from nodes.ignite_face import IgniteFace
from pipeline import State

ORIGINAL = ignite.engine.engine.Engine


class FaceEngine(IgniteFace):
    """``Engine(process_function)`` as the ``engine.ignite`` face of a new statefire engine."""

    def __init__(self, process_function: Callable[[Any, Any], Any]) -> None:
        if process_function is None:  # ignite's own checks, with ignite's messages
            raise ValueError("Engine must be given a processing function in order to run.")
        _check_signature(process_function, "process_function", None, None)
        engine = Engine(State(), "engine", lambda e, batch: process_function(self, batch), [None])
        engine._ignite_face = self
        super().__init__(engine)


ENGINE: type = FaceEngine if os.environ.get("PEER_ENGINE") == "face" else IgniteEngine


def _swap() -> list[str]:
    """Point every ``Engine`` name of ignite's and its tests' modules at ``ENGINE``."""
    swapped = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in ("ignite", "tests"):
            continue
        if getattr(module, "Engine", None) is ORIGINAL:
            module.Engine = ENGINE  # type: ignore[attr-defined]
            swapped.append(name)
    return swapped


SWAPPED = _swap()


def pytest_report_header() -> str:
    return f"ignite's Engine is {ENGINE.__qualname__} in: {', '.join(sorted(SWAPPED))}"


def pytest_collection_finish(session: object) -> None:
    """Refuse a run in which a collected test module still builds ignite's own ``Engine``."""
    unswapped = sorted(
        name
        for name, module in list(sys.modules.items())
        if name.split(".")[0] in ("ignite", "tests") and getattr(module, "Engine", None) is ORIGINAL
    )
    if unswapped:
        raise RuntimeError(
            f"these modules still name ignite's own Engine: {', '.join(unswapped)}; "
            "they imported it in a way this plugin does not patch"
        )
