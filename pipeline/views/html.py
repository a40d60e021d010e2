"""The interactive view: one self-contained HTML page drawn from the view model.

What belongs here: the page's JSON document (the view models of
``pipeline.views.model`` at the three levels, where each box of a level
folds into at the next coarser one, the variables' details, the trace's
entries) and filling the page template with it. What does not: what a box or
an edge is (the model decides), drawing and interaction (the page's own
script, ``static/page.js``, with the vendored cytoscape.js and its dagre
layout, ``static/README.md``), and serving it live (``live.py``).

The page needs nothing from the network: the libraries, the styles, the
script and the document are all inline, so it works from ``file://``.
"""

from __future__ import annotations

import itertools
import json
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pipeline.views.model import LEVELS, view_model

if TYPE_CHECKING:
    from pipeline.state import State
    from pipeline.trace import Trace

__all__ = ["page_document", "page_html", "write_html"]

STATIC = Path(__file__).parent / "static"
#: The vendored libraries, in the order the page loads them (see static/README.md).
LIBRARIES = ("cytoscape.min.js", "cytoscape-dagre.min.js")
#: How many of a trace's most recent entries the page carries (for its panel and replay).
MAX_ENTRIES = 5_000
#: How often a live page asks its server for a snapshot, in milliseconds.
POLL_MS = 1_000


def page_document(
    state: State,
    trace: Trace | None = None,
    *,
    level: str = "nodes",
    focus: str | None = None,
    depth: int = 2,
    live: bool = False,
) -> dict[str, Any]:
    """The one JSON document the page draws (plain data, ``json.dumps`` takes it).

    Its keys: ``levels`` (the view model at each level, unfocused, every box's
    ``variables`` moved to the shared ``variables``), ``variables`` (path to
    the ``Var`` of ``pipeline.views.model``), ``homes`` (for ``"nodes"``
    and ``"variables"``: box id to the id of the box it folds into one level
    coarser, for expanding and collapsing on the page), ``entries`` (the
    trace's last entries as ``[seq, path, writer, old, new, depth,
    changed]``), ``writers`` (a trace's writer label to its node or callback
    key), ``start`` (the level, focus and depth the page opens at), ``live``
    (whether the page polls a server) and ``poll_ms`` (how often).

    Raises:
        ValueError: an unknown level, a negative depth, or a focus that names nothing.
    """
    start_focus = None
    if focus is not None:  # the model's own checks and messages; the box id it focuses
        start_focus = view_model(state, level, focus, depth)["focus"]
    elif level not in LEVELS:
        view_model(state, level)
    models = {lv: view_model(state, lv, None, depth, trace) for lv in LEVELS}
    variables: dict[str, Any] = {}
    for model in models.values():
        for box in model["boxes"]:
            for var in box.pop("variables"):
                variables.setdefault(var["path"], var)
    homes = {
        finer: _homes(models[finer]["boxes"], models[coarser]["boxes"])
        for coarser, finer in itertools.pairwise(LEVELS)
    }
    entries: list[list[Any]] = []
    if trace is not None:
        kept = list(trace.entries)[-MAX_ENTRIES:]
        entries = [[e.seq, e.path, e.writer, e.old, e.new, e.depth, e.changed] for e in kept]
    writers = {node.label: key for key, node in state._nodes.items()}
    writers.update((cb.label, cb.key) for cb in state._callbacks.values())
    return {
        "version": 1,
        "title": models[level]["title"],
        "levels": models,
        "variables": variables,
        "homes": homes,
        "writers": writers,
        "entries": entries,
        "start": {"level": level, "focus": start_focus, "depth": depth},
        "live": live,
        "poll_ms": POLL_MS,
    }


def _homes(fine: list[dict[str, Any]], coarse: list[dict[str, Any]]) -> dict[str, str]:
    """For each box of a finer level, the box of the coarser level it folds into."""
    where: dict[str, str] = {}
    for box in coarse:
        for name in (*box["paths"], *box["members"]):
            where.setdefault(name, box["id"])
    for box in coarse:
        where[box["id"]] = box["id"]
    homes: dict[str, str] = {}
    for box in fine:
        for name in (box["id"], *box["paths"], *box["members"], box["parent"]):
            if name is not None and name in where:
                homes[box["id"]] = where[name]
                break
    return homes


def page_html(document: dict[str, Any]) -> str:
    """The page: the template with the libraries, the styles, the script and ``document`` inline."""
    template = (STATIC / "page.html").read_text(encoding="utf-8")
    libraries = "\n".join(_script(name) for name in LIBRARIES)
    parts = {
        "/*STATEFIRE_STYLE*/": (STATIC / "page.css").read_text(encoding="utf-8"),
        "<!--STATEFIRE_LIBRARIES-->": libraries,
        "<!--STATEFIRE_SCRIPT-->": _script("page.js"),
        "/*STATEFIRE_DOCUMENT*/": _json_for_script(document),
        "STATEFIRE_TITLE": escape(document["title"] or "state graph"),
    }
    for marker, text in parts.items():
        if marker not in template:
            raise RuntimeError(f"the page template {STATIC / 'page.html'} lacks {marker}")
        template = template.replace(marker, text, 1)
    return template


def write_html(
    state: State,
    path: Path,
    trace: Trace | None = None,
    *,
    level: str = "nodes",
    focus: str | None = None,
    depth: int = 2,
) -> Path:
    """Write the interactive page of ``state`` to ``path``; see ``pipeline.State.render``."""
    text = page_html(page_document(state, trace, level=level, focus=focus, depth=depth))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _script(name: str) -> str:
    code = (STATIC / name).read_text(encoding="utf-8")
    if "</script" in code.lower():
        raise RuntimeError(f"{name} contains '</script' and cannot be inlined as it is")
    return f"<script>/* {name} */\n{code}\n</script>"


def _json_for_script(document: dict[str, Any]) -> str:
    """JSON that is safe inside ``<script>``: no ``</`` and no ``<!--`` can end or bend it."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    return text.replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
