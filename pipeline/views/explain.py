"""``explain``: one variable in words: its value, who writes it (and how that
is known), who reads it, every subscriber with its filter and what the filter
decided, and the last writer.

The facts come from ``pipeline.views.model.variable_info``, the same data
a picture's side panel shows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pipeline.views.model import TraceStats, variable_info

if TYPE_CHECKING:
    from pipeline.state import State
    from pipeline.trace import Trace
    from pipeline.variable import Ref

__all__ = ["explain"]


def explain(state: State, target: Ref | str, trace: Trace | None = None) -> str:
    """Describe one variable; see ``pipeline.State.explain``."""
    slot = state._resolve(target)
    info = variable_info(state, slot.path, TraceStats(state, trace) if trace is not None else None)
    lines = [f"{info['path']} = {info['value']}"]
    if info["doc"]:
        lines.append(f"  doc: {info['doc']}")
    lines.append(f"  owner: {state._graph.nodes[slot.path].get('owner')}")
    writers = [f"{w['key']} ({w['how'] or 'declared'})" for w in info["writers"]]
    writers += [
        f"{key} (ordering only: declared to run first, never writes)"
        for key in info["ordering_writers"]
    ]
    lines.extend(_listed("writers", writers, "none besides top-level code"))
    lines.append(
        f"  last writer: {info['last_writer'] or 'top-level code, or not seen (no subscriber or trace watched it)'}"
    )
    lines.extend(_listed("readers (declared)", info["readers"], "none declared"))
    subs = [_sub_line(s) for s in info["subscribers"]]
    lines.extend(_listed("subscribers", subs, "none"))
    traced = info["trace"]
    if traced is not None:
        lines.append(
            f"  traced: set {traced['sets']} times, {traced['changes']} changes; "
            f"last {traced['last']}"
        )
    return "\n".join(lines)


def _sub_line(sub: dict[str, Any]) -> str:
    filters = f"  {sub['filter']}" if sub["filter"] else "  (no filter)"
    # A plain callback's key already starts with its name.
    who = sub["subscriber"]
    if not who.startswith(sub["callback"]):
        who += f"  {sub['callback']}"
    return f"{who}{filters}  fired {sub['fired']} of {sub['seen']}"


def _listed(title: str, items: list[str], empty: str) -> list[str]:
    if not items:
        return [f"  {title}: {empty}"]
    return [f"  {title}:", *(f"    {item}" for item in items)]
