"""A pytest plugin: ignite's ``Engine`` names statefire's ``nodes.IgniteEngine``.

Loaded with ``-p statefire_engine`` by ``run_peer.py``, before any test module
is imported. ``ignite.engine.Engine`` and ``ignite.engine.engine.Engine`` then
name ``IgniteEngine``, and so does ``Engine`` in every ``ignite.*`` or
``tests.*`` module already imported with ``from ignite.engine import Engine``
(ignite's ``create_supervised_*`` and ``ParamScheduler.simulate_values`` build
their engines from it). ``IgniteEngine`` subclasses ignite's ``Engine``, so
ignite's ``isinstance`` checks keep passing. statefire's own modules keep the
original class, the base they subclass.
"""

from __future__ import annotations

import sys

import ignite.engine
import ignite.engine.engine

from nodes import IgniteEngine

ORIGINAL = ignite.engine.engine.Engine


def _swap() -> list[str]:
    """Point every ``Engine`` name of ignite's and its tests' modules at ``IgniteEngine``."""
    swapped = []
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] not in ("ignite", "tests"):
            continue
        if getattr(module, "Engine", None) is ORIGINAL:
            module.Engine = IgniteEngine  # type: ignore[attr-defined]
            swapped.append(name)
    return swapped


SWAPPED = _swap()


def pytest_report_header() -> str:
    return f"ignite's Engine is nodes.IgniteEngine in: {', '.join(sorted(SWAPPED))}"


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
