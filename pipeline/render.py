"""Looking at a state: ``render`` draws the graph with Graphviz, ``overview``
prints the text tree with values.

Graphviz is imported here, lazily; nothing else in the core needs it.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import RenderWarning
from pipeline.node import Node
from pipeline.values import summarize

if TYPE_CHECKING:
    from pipeline.state import State
    from pipeline.trace import Trace

__all__ = ["overview", "render", "to_dot"]

_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}
_HIGHLIGHT = "#d62728"
_COLORS = {"triggers": "#1f77b4", "writes": "#2ca02c", "reads": "#7f7f7f"}


def _var_label(state: State, path: str) -> str:
    slot = state._slots[path]
    return f"{slot.name}\n{summarize(slot.value, width=28)}"


def _linked(state: State, path: str) -> bool:
    """Whether a variable has an edge besides its owner node writing it."""
    g = state._graph
    owner = g.nodes[path].get("owner")
    edges = list(g.in_edges(path, data=True)) + list(g.out_edges(path, data=True))
    return any(not (d["kind"] == "writes" and u == owner) for u, _, d in edges)


def to_dot(
    state: State,
    trace: Trace | None = None,
    title: str | None = None,
    connected_only: bool = False,
) -> str:
    """The DOT source of the state graph (what :func:`render` draws)."""
    import graphviz

    g = state._graph
    fired_edges = trace.fire_counts if trace is not None else {}
    set_counts = trace.set_counts if trace is not None else {}
    fired_nodes = {v for (_, v) in fired_edges}
    ids: dict[str, str] = {}

    def nid(key: str) -> str:
        # Graphviz reads "a:b" in an edge as node a, port b; keys are mapped to plain ids.
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key]

    dot = graphviz.Digraph("state", strict=False)
    dot.attr(rankdir="LR", fontname="Helvetica", fontsize="11", compound="true")
    dot.attr("node", fontname="Helvetica", fontsize="10")
    dot.attr("edge", fontname="Helvetica", fontsize="9")
    if title:
        dot.attr(label=title, labelloc="t")

    def var_node(sub: Any, path: str) -> None:
        count = set_counts.get(path, 0)
        attrs = {"shape": "box", "style": "rounded"}
        label = _var_label(state, path)
        if count:
            attrs.update(color=_HIGHLIGHT, penwidth="2")
            label += f"\nset x{count}"
        sub.node(nid(path), label=label, **attrs)

    for cname, container in state._containers.items():
        own = [s.path for s in container._vars.values()]
        if cname == "structure" or connected_only:  # drawn only where something uses them
            own = [p for p in own if _linked(state, p)]
        members = list(container._nodes.values())
        if not own and not members:
            continue
        with dot.subgraph(name=f"cluster_{cname}") as c:
            c.attr(label=cname, style="rounded", color="#999999")
            for path in own:
                var_node(c, path)
            for node in members:
                with c.subgraph(name=f"cluster_{node.key}") as n:
                    n.attr(
                        label=f"{node.name}: {type(node).__name__}",
                        style="rounded,filled",
                        fillcolor="#f3f6fa",
                        color="#6b8db5",
                    )
                    hot = node.key in fired_nodes
                    n.node(
                        nid(node.key),
                        label=node.name,
                        shape="component",
                        color=_HIGHLIGHT if hot else "black",
                    )
                    shown = [
                        slot.path
                        for slot in node._vars.values()
                        if not connected_only or _linked(state, slot.path)
                    ]
                    for path in shown:
                        var_node(n, path)
                    if len(shown) < len(node._vars):
                        n.attr(
                            label=f"{node.name}: {type(node).__name__} "
                            f"(+{len(node._vars) - len(shown)} unconnected)"
                        )
    for key, data in g.nodes(data=True):
        if data["kind"] == "callback":
            hot = key in fired_nodes
            dot.node(
                nid(key),
                label=key,
                shape="ellipse",
                style="filled",
                fillcolor="#fff4d6",
                color=_HIGHLIGHT if hot else "black",
            )

    for u, v, data in g.edges(data=True):
        kind = data["kind"]
        if (
            kind == "writes"
            and isinstance(state._nodes.get(u), Node)
            and (state._slots.get(v) is not None and state._slots[v].owner is state._nodes[u])
        ):
            continue  # a node writing its own variables is what its cluster says
        attrs = {"color": _COLORS[kind]}
        label = data.get("label", "")
        if kind == "writes":
            attrs["style"] = (
                "dashed" if data.get("observed") and not data.get("declared") else "solid"
            )
            attrs["arrowhead"] = "normal"
            label = "writes" + (
                " (observed)" if data.get("observed") and not data.get("declared") else ""
            )
        elif kind == "reads":
            attrs["style"] = "dotted"
            label = "reads"
        count = fired_edges.get((u, v), 0)
        if count:
            attrs.update(color=_HIGHLIGHT, penwidth="2.5")
            label = f"{label} x{count}".strip()
        dot.edge(nid(u), nid(v), label=label, **attrs)
    return str(dot.source)


def render(
    state: State, path: Path, trace: Trace | None = None, connected_only: bool = False
) -> Path:
    """Write the graph to ``path``; see :meth:`pipeline.State.render`."""
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot render to '{path}': unsupported suffix {path.suffix!r}; "
            "use .svg, .png, .pdf or .dot"
        )
    source = to_dot(state, trace, state.structure.title or None, connected_only)
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "dot":
        path.write_text(source)
        return path
    dot_path = path.with_suffix(".dot")
    if shutil.which("dot") is None:
        dot_path.write_text(source)
        warnings.warn(
            f"Graphviz's 'dot' program was not found on PATH, so {path.name} was not drawn; "
            f"wrote the DOT source to {dot_path} instead. Install Graphviz "
            "(apt-get install graphviz, brew install graphviz or conda install graphviz) "
            f"and run: dot -T{fmt} {dot_path} -o {path}",
            RenderWarning,
            stacklevel=3,
        )
        return dot_path
    import graphviz

    data = graphviz.pipe("dot", fmt, source.encode())
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return path


def overview(state: State) -> str:
    """The text tree of ``state``; see :meth:`pipeline.State.overview`."""
    title = state.structure.title
    lines = [f"State ({title})" if title else "State"]
    boxes = [(n, c) for n, c in state._containers.items() if len(c)]
    empty = [n for n, c in state._containers.items() if not len(c)]

    def branch(last: bool) -> tuple[str, str]:
        return ("└── ", "    ") if last else ("├── ", "│   ")

    for i, (cname, container) in enumerate(boxes):
        tee, pad = branch(i == len(boxes) - 1 and not empty)
        lines.append(f"{tee}{cname}")
        items: list[tuple[str, Any]] = [("var", s) for s in container._vars.values()]
        items += [("node", n) for n in container._nodes.values()]
        for j, (what, item) in enumerate(items):
            tee2, pad2 = branch(j == len(items) - 1)
            if what == "var":
                lines.append(f"{pad}{tee2}{item.name} = {summarize(item.value, width=50)}")
                continue
            lines.append(f"{pad}{tee2}{item.name} ({type(item).__name__})")
            slots = list(item._vars.values())
            for k, slot in enumerate(slots):
                tee3, _ = branch(k == len(slots) - 1)
                lines.append(f"{pad}{pad2}{tee3}{slot.name} = {summarize(slot.value, width=50)}")
    if empty:
        lines.append(f"└── (empty: {', '.join(empty)})")
    return "\n".join(lines)
