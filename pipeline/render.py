"""Looking at a state: ``to_dot`` draws a view model (``pipeline/views/model.py``)
as Graphviz DOT, ``render`` writes it as an image, ``overview`` prints the text
tree with values.

Graphviz is imported here, lazily; nothing else in the core needs it. What a
picture shows (levels, focus, folding, the trace overlay's numbers) is decided
by the view model; this module only decides how it looks.
"""

from __future__ import annotations

import shutil
import warnings
from collections import defaultdict
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.errors import RenderWarning
from pipeline.values import summarize

if TYPE_CHECKING:
    from pipeline.state import State

__all__ = ["mimebundle", "overview", "render", "to_dot"]

_FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}
_HIGHLIGHT = "#d62728"
_UNCHANGED = "#ff9f1c"
_COLORS = {"triggers": "#1f77b4", "writes": "#2ca02c", "reads": "#8c8c8c", "orders": "#c7c7c7"}
_NODE_FILL = "#f3f6fa"
_CALLBACK_FILL = "#fff4d6"
_FOCUS_FILL = "#fff2a8"
_RUNNING_FILL = "#fde0dd"
_BR = '<BR ALIGN="LEFT"/>'
#: Variable lines shown in a folded box (traced ones are always shown).
_MAX_LINES = 6


def _html(text: str) -> str:
    return escape(text, quote=True)


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _var_line(var: dict[str, Any], name: str) -> tuple[str, str]:
    """(text, colour) of one variable line in a folded box."""
    traced = var["trace"]
    if traced is None:
        return f"{name} = {_cut(var['value'], 24)}", ""
    last = traced["last"] or var["value"]
    if traced["changes"] == 0:
        return f"{name}: {last}  (set {traced['sets']}x, unchanged)", _UNCHANGED
    return f"{name}: {last}  (set {traced['sets']}x, {traced['changes']} changes)", _HIGHLIGHT


def _folded_label(box: dict[str, Any], connected: set[str]) -> str:
    """An HTML label: the box's title, then its most telling variables."""
    rows = [f'<TR><TD ALIGN="LEFT"><B>{_html(box["label"])}</B></TD></TR>']
    members = box["members"]
    if members:
        # A node by its name in the container, a callback by its name without file:line.
        callbacks = box["kind"] == "callback"
        names = [m.split(" (", 1)[0] if callbacks else m.split(".", 1)[-1] for m in members]
        prefix = box["label"].split(" #", 1)[0] + "."
        if callbacks and all(n.startswith(prefix) for n in names):  # one object's methods
            names = [n[len(prefix) :] for n in names]
        what = ("callback" if callbacks else "node") + ("s" if len(members) > 1 else "")
        lines = [", ".join(names[i : i + 2]) for i in range(0, len(names), 2)]
        rows.append(
            f'<TR><TD ALIGN="LEFT" BALIGN="LEFT"><FONT POINT-SIZE="9">{len(members)} {what}: '
            f"{_BR.join(_html(line) for line in lines)}</FONT></TD></TR>"
        )
    traced = [v for v in box["variables"] if v["trace"] is not None]
    linked = [v for v in box["variables"] if v["trace"] is None and v["path"] in connected]
    shown = traced + linked[: max(0, _MAX_LINES - len(traced))]
    if len(shown) < _MAX_LINES:
        picked = {v["path"] for v in shown}
        rest = [v for v in box["variables"] if v["path"] not in picked]
        shown += rest[: _MAX_LINES - len(shown)]
    for var in shown:
        # In a box of several nodes, say whose variable it is.
        name = var["path"].split(".", 1)[-1] if members else var["name"]
        text, color = _var_line(var, name)
        text = _cut(text, 60)
        font = f' COLOR="{color}"' if color else ""
        rows.append(
            f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9"{font}>{_html(text)}</FONT></TD></TR>'
        )
    more = len(box["variables"]) - len(shown) + box["hidden"]
    if more > 0:
        rows.append(
            f'<TR><TD ALIGN="LEFT"><FONT POINT-SIZE="9" COLOR="#777777">'
            f"+{more} more</FONT></TD></TR>"
        )
    return '<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="1">' + "".join(rows) + "</TABLE>>"


def _box_attrs(box: dict[str, Any], level: str, connected: set[str]) -> dict[str, str]:
    kind = box["kind"]
    attrs: dict[str, str]
    if kind == "variable":
        label = f"{box['label']}\n{box['value']}"
        traced = box["variables"][0]["trace"] if box["variables"] else None
        attrs = {"shape": "box", "style": "rounded"}
        if traced is not None:
            label = f"{box['label']}\n{traced['last'] or box['value']}\nset x{traced['sets']}"
            if traced["changes"] == 0:
                attrs.update(color=_UNCHANGED, penwidth="2", style="rounded,dashed")
                label += " (unchanged)"
            else:
                attrs.update(color=_HIGHLIGHT, penwidth="2")
                label += f", {traced['changes']} changes"
        attrs["label"] = label
    elif kind == "callback" and not box["members"]:
        attrs = {"shape": "ellipse", "style": "filled", "fillcolor": _CALLBACK_FILL}
        attrs["label"] = box["label"].replace(" (", "\n(", 1)  # its file:line below the name
    elif kind == "node" and level == "variables":
        attrs = {"shape": "component", "label": box["id"].split(".", 1)[-1]}
    else:
        fill = _CALLBACK_FILL if kind == "callback" else _NODE_FILL
        attrs = {
            "shape": "box",
            "style": "rounded,filled",
            "fillcolor": fill,
            "color": "#6b8db5",
            "label": _folded_label(box, connected),
        }
    trace = box["trace"]
    if trace is not None and (trace["fired"] or trace["ran"]) and kind != "variable":
        attrs.update(color=_HIGHLIGHT, penwidth="2")
        if trace["running"]:
            attrs.update(style="rounded,filled,bold", fillcolor=_RUNNING_FILL, penwidth="3")
    if box["focus"]:
        attrs.update(style="rounded,filled,bold", fillcolor=_FOCUS_FILL, penwidth="3")
    return attrs


def _short_label(edge: dict[str, Any], sink: bool) -> str:
    """An edge label for a folded picture: variable names, filters without their file:line."""
    filters = [f.split(" (", 1)[0] for f in edge["filters"]]
    names = [p.rsplit(".", 1)[-1] for p in edge["variables"]]
    # Labels widen the gaps between ranks: a variable name only where it is the one
    # that matters (a filtered trigger); every edge's variables are in its tooltip.
    if sink:  # a sink of many edges (TensorBoard, charts): its box lists what it is
        return ""
    text = names[0] + (f" +{len(names) - 1}" if len(names) > 1 else "") if filters else ""
    if filters:
        text = f"{text} [{'; '.join(filters)}]".strip()
    if edge["kind"] == "writes" and edge["observed"] and not edge["declared"]:
        text = f"{text} (observed)".strip()
    return text


def _legend(title: str, level: str, traced: bool) -> str:
    """The picture's heading: its title, then what the edge colours mean."""
    kinds = [
        ("triggers", "triggers [filter]"),
        ("writes", "writes (dashed: observed only)"),
        ("reads", "reads (declared)"),
    ]
    if level == "variables":
        kinds.append(("orders", "orders (written for ordering only)"))
    parts = [f'<FONT COLOR="{_COLORS[k]}">&#8594; {_html(text)}</FONT>' for k, text in kinds]
    if traced:
        parts.append(
            f'<FONT COLOR="{_HIGHLIGHT}">red: set or called while traced (xN events)</FONT>'
        )
        parts.append(f'<FONT COLOR="{_UNCHANGED}">orange: set to the same value</FONT>')
    legend = f'<FONT POINT-SIZE="9">{"   ".join(parts)}</FONT>'
    head = f"{_html(title)}<BR/>" if title else ""
    return f"<{head}{legend}>"


def to_dot(model: dict[str, Any]) -> str:
    """The DOT source of a view model (what ``render`` draws)."""
    import graphviz

    level = model["level"]
    boxes = model["boxes"]
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for box in boxes:
        children[box["parent"]].append(box)
    connected = {p for e in model["edges"] for p in e["variables"]}
    ids: dict[str, str] = {}

    def nid(key: str) -> str:
        # Graphviz reads "a:b" in an edge as node a, port b; keys are mapped to plain ids.
        if key not in ids:
            ids[key] = f"n{len(ids)}"
        return ids[key]

    dot = graphviz.Digraph("state", strict=False)
    dot.attr(rankdir="LR", fontname="Helvetica", fontsize="12", compound="true")
    dot.attr(nodesep="0.2", ranksep="0.45")
    dot.attr("node", fontname="Helvetica", fontsize="11", margin="0.08,0.04")
    dot.attr("edge", fontname="Helvetica", fontsize="10")
    title = model["title"]
    if model["focus"] is not None:
        title = f"{title}  " if title else ""
        title += f"around {model['focus']} (depth {model['depth']})"
    dot.attr(label=_legend(title, level, model["trace"] is not None), labelloc="t")

    def draws_itself(box: dict[str, Any]) -> bool:
        return box["kind"] != "container" or bool(box["paths"] or box["members"])

    def draw(box: dict[str, Any], into: Any) -> None:
        inner = children.get(box["id"], [])
        if not inner:
            into.node(nid(box["id"]), **_box_attrs(box, level, connected))
            return
        with into.subgraph(name=f"cluster_{box['id']}") as sub:
            if box["kind"] == "container":
                sub.attr(label=box["label"], style="rounded", color="#999999")
            else:  # a node with its variables; folded, the node's own box carries the title
                sub.attr(
                    label=box["label"] if level == "variables" else "",
                    style="rounded,filled",
                    fillcolor=_NODE_FILL,
                    color="#6b8db5",
                )
            if draws_itself(box):
                attrs = _box_attrs(box, level, connected)
                if box["kind"] == "container":
                    attrs["label"] = _folded_label(
                        {**box, "label": box["label"] + " (variables)"}, connected
                    )
                sub.node(nid(box["id"]), **attrs)
            for child in inner:
                draw(child, sub)

    for box in children.get(None, []):
        if box["kind"] == "container" and not draws_itself(box) and not children.get(box["id"]):
            continue
        draw(box, dot)

    folded = {b["id"] for b in boxes if b["members"]}
    triggered = {(e["source"], e["target"]) for e in model["edges"] if e["kind"] == "triggers"}
    for edge in model["edges"]:
        kind = edge["kind"]
        pair = (edge["source"], edge["target"])
        if kind == "orders" and level != "variables":
            continue  # only ordering: drawn at the variables level, apart
        if kind == "reads" and level != "variables" and pair in triggered:
            continue  # the trigger edge between the two boxes says enough
        attrs = {"color": _COLORS[kind], "label": edge["label"]}
        attrs["tooltip"] = f"{edge['kind']}: " + ", ".join(edge["variables"])
        if edge["filters"]:
            attrs["tooltip"] += f" [{'; '.join(edge['filters'])}]"
        if level != "variables":
            attrs["label"] = _short_label(edge, sink=edge["target"] in folded)
            if edge["target"] in folded:  # a sink of many edges: drawn light
                attrs["penwidth"] = "0.7"
        if kind == "writes":
            attrs["style"] = "dashed" if edge["observed"] and not edge["declared"] else "solid"
        elif kind == "reads":
            attrs.update(style="dotted", arrowhead="empty")
        elif kind == "orders":
            attrs.update(style="dashed", arrowhead="empty", fontcolor="#999999", constraint="false")
        if edge["fired"]:
            attrs.update(color=_HIGHLIGHT, penwidth="2.5")
            attrs["label"] = f"{attrs['label']} x{edge['fired']}".strip()
        dot.edge(nid(edge["source"]), nid(edge["target"]), **attrs)
    return str(dot.source)


def render(model: dict[str, Any], path: Path) -> Path:
    """Write a view model's picture to ``path``; see ``pipeline.State.render``."""
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise ValueError(
            f"cannot render to '{path}': unsupported suffix {path.suffix!r}; "
            "use .svg, .png, .pdf, .dot (or .gv), or .html (or .htm) for the interactive page"
        )
    source = to_dot(model)
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
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(pipe(source, fmt))
    tmp.replace(path)
    return path


def pipe(source: str, fmt: str) -> bytes:
    """Run Graphviz's ``dot`` on ``source``; the drawing in format ``fmt`` (svg, png, ...)."""
    import graphviz

    return bytes(graphviz.pipe("dot", fmt, source.encode()))


def mimebundle(state: State) -> dict[str, str]:
    """How a notebook shows ``state``: its overview and its graph at the nodes level.

    Without Graphviz's ``dot`` the graph is left out (no warning: a display
    must not fail). Nor does a failure fail it: a graph that cannot be drawn
    is left out with a line saying why, an overview that cannot be built
    leaves the state's repr.
    """
    try:
        text = overview(state)
    except Exception as exc:  # a display shows what it can
        text = f"{state!r}\n(no overview: {type(exc).__name__}: {exc})"
    html = f"<pre>{_html(text)}</pre>"
    bundle = {"text/plain": text}
    if shutil.which("dot") is not None:
        from pipeline.views.model import view_model

        try:
            svg = pipe(to_dot(view_model(state)), "svg").decode()
        except Exception as exc:  # a display shows what it can
            why = f"(the graph could not be drawn: {type(exc).__name__}: {exc})"
            bundle["text/html"] = f"{html}<pre>{_html(why)}</pre>"
            return bundle
        svg = svg[svg.find("<svg") :]  # without the XML prolog, to sit inside HTML
        bundle["image/svg+xml"] = svg
        html = f"<details><summary>overview</summary>{html}</details>{svg}"
    bundle["text/html"] = html
    return bundle


def overview(state: State) -> str:
    """The text tree of ``state``; see ``pipeline.State.overview``."""
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
