"""The view model: a state's graph at one level of detail, as plain data.

Every picture of a state (the Graphviz drawing of ``pipeline/render.py``, an
HTML page, a live view) is drawn from ``view_model``, which returns only
dicts, lists, strings, ints, bools and None, so ``json.dumps`` takes it as is.

Levels:

- ``"containers"``: one box per container; plain callbacks share one box
  ``"(callbacks)"``.
- ``"nodes"`` (the default, readable at real size): one box per node with its
  variables folded in; a container variable with a single writer node (a
  metric's value) is folded into that node; the other container variables
  form one box per container; the nodes of the ``writers`` container (output
  sinks that read many variables: TensorBoard, charts) fold into one box;
  the ``structure`` bookkeeping is left out unless something uses it or a
  trace saw it set; callbacks that are methods of one object (an ignite
  metric's ``started``, ``iteration_completed`` and ``completed``) fold into
  one box named after the object's class. Edges are merged per source, target and kind, and
  labelled with the variables and filters they carry.
- ``"variables"``: one box per variable, node and callback (containers and
  nodes also as boxes, the parents of their variables).

Focus: with ``focus`` (a variable path, node key, callback key or container
name) only the boxes within ``depth`` edges upstream and downstream of it are
kept, plus their parents; a focused variable always gets its own box.
``orders`` edges are not followed.

The exact shape (every key is always present)::

    {
      "level": "nodes",                 # "containers" | "nodes" | "variables"
      "focus": "metrics.x" | None,      # the focused box id
      "depth": 2,
      "title": "",                      # structure.title
      "boxes": [Box, ...],              # parents before their children
      "edges": [Edge, ...],
      "hidden": 5,                      # variables in no box (bookkeeping, unconnected)
      "trace": None | {
          "n_sets": 120, "n_events": 100,  # sets recorded; changes among the kept entries
          "running": "engines.trainer" | None,  # the node of the latest top-level set
          "ran": ["engines.trainer", ...],      # nodes that set variables at top level
      },
    }

    Box = {
      "id": "engines.trainer",          # variable path, node key, callback key,
                                        # container name, or "(callbacks)"
      "kind": "container" | "node" | "callback" | "variable",
      "label": "trainer: Trainer",      # the title to draw
      "parent": "engines" | None,       # id of the enclosing box
      "cls": "Trainer" | None,          # a node's class
      "doc": "...",                     # a variable's doc, a node's first doc line
      "value": "3" | None,              # a variable box's value summary
      "paths": ["engines.trainer.n_samples", ...],  # variables folded into this box
      "members": ["writers.tensorboard", ...],      # nodes folded into this box
      "hidden": 0,                      # its variables left out (unconnected, bookkeeping)
      "focus": False,                   # the focused box
      "variables": [Var, ...],          # one per path, for a side panel
      "subscriptions": [Sub, ...],      # what this node / callback subscribes to
      "trace": None | {"sets": 3, "changes": 2, "fired": 4, "running": False, "ran": True},
    }

    Var = {
      "path": "metrics.val_evaluator_accuracy", "name": "val_evaluator_accuracy",
      "value": "0.91", "doc": "Accuracy of val_evaluator (epoch)",
      "writers": [{"key": "handlers.val_evaluator_accuracy_metric",
                   "how": "declared" | "observed" | "declared, observed"}],
      "ordering_writers": ["handlers.val_evaluator_loss_metric"],  # orders only
      "readers": ["build_state.print_metrics (...)"],               # declared reads
      "subscribers": [Sub, ...],
      "last_writer": "val_evaluator_accuracy_metric (Metric)" | None,
      "trace": None | {"sets": 2, "changes": 2, "last": "0.85 -> 0.91" | None},
    }

    Sub = {
      "path": "engines.trainer.n_epoch_completed",   # the variable subscribed to
      "subscriber": "engines.val_evaluator",         # node or callback key
      "callback": "Evaluator._on_trigger",          # the function's qualified name
      "filter": "every=3" | "",                      # when= by name (+ file:line for a lambda)
      "fired": 0, "seen": 2,                         # calls; changes it saw
    }

    Edge = {
      "id": "engines.trainer->engines.val_evaluator:triggers",
      "source": "engines.trainer", "target": "engines.val_evaluator",
      "kind": "triggers" | "writes" | "reads" | "orders",
      "label": "n_epoch_completed [every=3]",  # short text to draw
      "variables": ["engines.trainer.n_epoch_completed"],  # the variables it carries
      "filters": ["every=3"],                # distinct filter texts of its triggers
      "count": 1,                            # graph edges merged into it
      "declared": True, "observed": False,   # for writes: how they are known
      "fired": 0,                            # traced changes that called the target
    }
"""

from __future__ import annotations

import inspect
from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Any

from pipeline.node import Node
from pipeline.values import did_you_mean, summarize

if TYPE_CHECKING:
    from pipeline.state import State
    from pipeline.subscription import Subscription
    from pipeline.trace import Trace

__all__ = [
    "DEFAULT_LEVEL",
    "FOLDED_CONTAINERS",
    "LEVELS",
    "TraceStats",
    "sub_info",
    "variable_info",
    "view_model",
]

#: The levels of detail, coarsest first.
LEVELS: tuple[str, ...] = ("containers", "nodes", "variables")
#: The level that keeps a real state readable.
DEFAULT_LEVEL = "nodes"
#: Containers whose nodes fold into one box at the ``nodes`` level (sinks reading many variables).
FOLDED_CONTAINERS: tuple[str, ...] = ("writers",)
#: Containers of the core's bookkeeping, left out unless used or traced.
BOOKKEEPING: tuple[str, ...] = ("structure",)
CALLBACKS_BOX = "(callbacks)"
_VALUE_WIDTH = 28


def view_model(
    state: State,
    level: str = DEFAULT_LEVEL,
    focus: str | None = None,
    depth: int = 2,
    trace: Trace | None = None,
    *,
    connected_only: bool = False,
) -> dict[str, Any]:
    """The state's graph at one level of detail as JSON-able data (shape in the module doc).

    Args:
        state: the state to look at.
        level: ``"containers"``, ``"nodes"`` or ``"variables"``.
        focus: keep only what lies within ``depth`` edges of this variable
            path, node key, callback key or container name.
        depth: how many edges upstream and downstream of ``focus`` to keep.
        trace: a ``Trace`` whose sets and calls to overlay.
        connected_only: at the ``variables`` level, leave out variables
            nothing uses besides their owner.

    Raises:
        ValueError: an unknown level, a negative depth, or a focus that names nothing.
    """
    if level not in LEVELS:
        raise ValueError(
            f"level must be one of {', '.join(LEVELS)}, got {level!r}"
            f"{did_you_mean(str(level), LEVELS)}"
        )
    if type(depth) is not int or depth < 0:
        raise ValueError(f"depth must be a non-negative int (edges around focus), got {depth!r}")
    return _Builder(state, level, trace, connected_only).build(focus, depth)


def sub_info(sub: Subscription) -> dict[str, Any]:
    """One subscription as data: its variable, subscriber, callback, filter and counts."""
    fn = getattr(sub.callback, "func", sub.callback)
    fn = getattr(fn, "__func__", fn)
    return {
        "path": sub.slot.path,
        "subscriber": sub.subscriber.key,
        "callback": getattr(fn, "__qualname__", type(fn).__name__)
        .replace(".<locals>.", ".")
        .replace("<lambda>", "lambda"),
        "filter": sub.filter_text,
        "fired": sub.fired,
        "seen": sub.seen,
    }


def variable_info(state: State, path: str, stats: TraceStats | None = None) -> dict[str, Any]:
    """One variable as data for a side panel or ``explain`` (``Var`` above)."""
    g = state._graph
    slot = state._slots[path]
    writers, ordering = [], []
    for u, _, d in g.in_edges(path, data=True):
        if d["kind"] == "orders":
            ordering.append(u)
        elif d["kind"] == "writes":
            how = [w for w in ("declared", "observed") if d.get(w)]
            writers.append({"key": u, "how": ", ".join(how)})
    readers = [
        v for _, v, d in g.out_edges(path, data=True) if d["kind"] == "reads" or d.get("reads")
    ]
    last = slot.last_writer
    info: dict[str, Any] = {
        "path": path,
        "name": slot.name,
        "value": summarize(slot.value, width=60),
        "doc": slot.doc,
        "writers": sorted(writers, key=lambda w: w["key"]),
        "ordering_writers": sorted(ordering),
        "readers": sorted(readers),
        "subscribers": [sub_info(s) for s in slot.subs],
        "last_writer": str(getattr(last, "label", last)) if last is not None else None,
        "trace": None,
    }
    if stats is not None and stats.sets[path]:
        info["trace"] = {
            "sets": stats.sets[path],
            "changes": stats.changes[path],
            "last": stats.last.get(path),
        }
    return info


class TraceStats:
    """What a trace says, per variable and per subscriber, from its public data."""

    def __init__(self, state: State, trace: Trace) -> None:
        self.sets: Counter[str] = Counter(trace.set_counts)
        self.changes: Counter[str] = Counter()
        self.last: dict[str, str] = {}
        self.fired_edge: Counter[tuple[str, str]] = Counter(trace.fire_counts)
        self.fired: Counter[str] = Counter()
        for (_, key), n in trace.fire_counts.items():
            self.fired[key] += n
        by_label = {node.label: key for key, node in state._nodes.items()}
        self.ran: list[str] = []
        self.running: str | None = None
        n_events = 0
        for entry in trace.entries:
            if entry.changed:
                n_events += 1
                self.changes[entry.path] += 1
            self.last[entry.path] = f"{entry.old} -> {entry.new}"
            if entry.depth == 0 and entry.writer in by_label:
                self.running = by_label[entry.writer]
                if self.running not in self.ran:
                    self.ran.append(self.running)
        self.summary = {
            "n_sets": trace.n_sets,
            "n_events": n_events,
            "running": self.running,
            "ran": list(self.ran),
        }


class _Builder:
    def __init__(self, state: State, level: str, trace: Trace | None, connected_only: bool):
        self.state = state
        self.g = state._graph
        self.level = level
        self.connected_only = connected_only
        self.stats = TraceStats(state, trace) if trace is not None else None
        self.boxes: dict[str, dict[str, Any]] = {}
        self.place: dict[str, str] = {}  # graph key -> box id
        self.subs_of: dict[str, list[Subscription]] = defaultdict(list)
        for slot in state._slots.values():
            for sub in slot.subs:
                self.subs_of[sub.subscriber.key].append(sub)
        self.hidden = 0
        self.focus_path: str | None = None

    # Boxes -------------------------------------------------------------------
    def box(
        self, box_id: str, kind: str, label: str, parent: str | None, **extra: Any
    ) -> dict[str, Any]:
        found = self.boxes.get(box_id)
        if found is not None:
            return found
        made: dict[str, Any] = {
            "id": box_id,
            "kind": kind,
            "label": label,
            "parent": parent,
            "cls": None,
            "doc": "",
            "value": None,
            "paths": [],
            "members": [],
            "hidden": 0,
            "focus": False,
            "variables": [],
            "subscriptions": [],
            "trace": None,
        }
        made.update(extra)
        self.boxes[box_id] = made
        return made

    def container_box(self, name: str) -> dict[str, Any]:
        return self.box(name, "container", name, None)

    def node_box(self, node: Node, parent: str) -> dict[str, Any]:
        doc = (type(node).__doc__ or "").strip().splitlines()
        return self.box(
            node.key,
            "node",
            f"{node.name}: {type(node).__name__}",
            parent,
            cls=type(node).__name__,
            doc=doc[0] if doc else "",
        )

    def variable_box(self, path: str, parent: str) -> dict[str, Any]:
        slot = self.state._slots[path]
        box = self.box(
            path,
            "variable",
            slot.name,
            parent,
            doc=slot.doc,
            value=summarize(slot.value, width=_VALUE_WIDTH),
        )
        self.put(path, box)
        return box

    def put(self, path: str, box: dict[str, Any]) -> None:
        self.place[path] = box["id"]
        box["paths"].append(path)

    def linked(self, path: str) -> bool:
        """Whether a variable has an edge besides its owner node writing it (or a traced set)."""
        if self.stats is not None and self.stats.sets[path]:
            return True
        g = self.g
        owner = g.nodes[path].get("owner")
        if any(d["kind"] != "writes" or u != owner for u, _, d in g.in_edges(path, data=True)):
            return True
        return bool(g.out_degree(path) > 0)

    def shown(self, path: str, container: str) -> bool:
        hide = container in BOOKKEEPING or (self.connected_only and self.level == "variables")
        if hide and not self.linked(path) and path != self.focus_path:
            self.hidden += 1
            return False
        return True

    def single_writer_node(self, path: str) -> str | None:
        writers = [u for u, _, d in self.g.in_edges(path, data=True) if d["kind"] == "writes"]
        if len(writers) == 1 and self.g.nodes[writers[0]]["kind"] == "node":
            return str(writers[0])
        return None

    def place_all(self, focus_path: str | None) -> None:
        state, level = self.state, self.level
        self.focus_path = focus_path
        for cname, container in state._containers.items():
            nodes_box = cname
            if level == "containers":
                self.container_box(cname)
            for node in container._nodes.values():
                if level == "containers" or (level == "nodes" and cname in FOLDED_CONTAINERS):
                    box = self.container_box(cname)
                    box["members"].append(node.key)
                    self.place[node.key] = cname
                else:
                    self.container_box(cname)
                    box = self.node_box(node, nodes_box)
                    self.place[node.key] = node.key
                for slot in node._vars.values():
                    if level == "variables":
                        if self.shown(slot.path, cname):
                            self.variable_box(slot.path, node.key)
                        else:
                            box["hidden"] += 1
                    else:
                        self.put(slot.path, box)
        objects: dict[int, str] = {}  # id of an object whose methods are callbacks -> its box
        for key, data in self.g.nodes(data=True):
            if data["kind"] != "callback":
                continue
            if level == "containers":
                box = self.box(CALLBACKS_BOX, "callback", "callbacks", None)
                box["members"].append(key)
                self.place[key] = CALLBACKS_BOX
                continue
            owner = self.method_owner(key) if level == "nodes" else None
            if owner is None:
                self.box(key, "callback", key, None)
                self.place[key] = key
                continue
            # One box for the methods of one object (a metric's started, iteration_completed
            # and completed): named after its class, numbered when several share the class.
            box_id = objects.get(id(owner))
            if box_id is None:
                name = type(owner).__qualname__.replace(".<locals>.", ".")
                box_id, n = name, 1
                while box_id in self.boxes or box_id in self.g or box_id in state._containers:
                    n += 1
                    box_id = f"{name} #{n}"
                objects[id(owner)] = box_id
            self.box(box_id, "callback", box_id, None)["members"].append(key)
            self.place[key] = box_id
        # Container variables last: at the nodes level they may fold into their writer.
        for cname, container in state._containers.items():
            for slot in container._vars.values():
                path = slot.path
                if not self.shown(path, cname):
                    if cname in self.boxes:
                        self.boxes[cname]["hidden"] += 1
                    continue
                if level == "variables":
                    self.container_box(cname)
                    self.variable_box(path, cname)
                    continue
                writer = self.single_writer_node(path) if level == "nodes" else None
                if writer is not None and writer in self.place:
                    self.put(path, self.boxes[self.place[writer]])
                else:
                    self.put(path, self.container_box(cname))
        if focus_path is not None and self.level != "variables":
            # The focused variable gets its own box inside the box it folds into.
            owner = self.boxes[self.place[focus_path]]
            owner["paths"].remove(focus_path)
            self.variable_box(focus_path, owner["id"])

    # Filling in --------------------------------------------------------------
    def method_owner(self, key: str) -> object | None:
        """The object a callback is a bound method of (through ``functools.partial`` and
        ``__wrapped__``), when it is not a node or a class; else None."""
        for sub in self.subs_of.get(key, ()):
            fn: Any = sub.callback
            for _ in range(8):  # a wrapper of a wrapper of a method, at most a few deep
                owner: object = getattr(fn, "__self__", None)
                if owner is not None:
                    if isinstance(owner, (Node, type)) or inspect.ismodule(owner):
                        return None
                    return owner
                fn = getattr(fn, "func", None) or getattr(fn, "__wrapped__", None)
                if fn is None:
                    break
            return None
        return None

    def var_info(self, path: str) -> dict[str, Any]:
        return variable_info(self.state, path, self.stats)

    def fill(self) -> None:
        stats = self.stats
        for box in self.boxes.values():
            box["variables"] = [self.var_info(p) for p in box["paths"]]
            keys = box["members"] or ([box["id"]] if box["kind"] in ("node", "callback") else [])
            box["subscriptions"] = [sub_info(s) for k in keys for s in self.subs_of.get(k, ())]
            if stats is None:
                continue
            sets = sum(stats.sets[p] for p in box["paths"])
            changes = sum(stats.changes[p] for p in box["paths"])
            fired = sum(stats.fired[k] for k in keys)
            running = stats.running is not None and stats.running in keys
            ran = any(k in stats.ran for k in keys)
            if sets or fired or ran:
                box["trace"] = {
                    "sets": sets,
                    "changes": changes,
                    "fired": fired,
                    "running": running,
                    "ran": ran,
                }

    def edges(self) -> list[dict[str, Any]]:
        merged: dict[tuple[str, str, str], dict[str, Any]] = {}
        stats = self.stats
        for u, v, d in self.g.edges(data=True):
            bu, bv = self.place.get(u), self.place.get(v)
            if bu is None or bv is None or bu == bv:
                continue
            kind = d["kind"]
            if kind == "writes" and self.g.nodes[v].get("owner") == u:
                continue  # a node writing its own variables: its box says so
            path = u if kind in ("triggers", "reads") else v
            edge = merged.get((bu, bv, kind))
            if edge is None:
                edge = merged[(bu, bv, kind)] = {
                    "id": f"{bu}->{bv}:{kind}",
                    "source": bu,
                    "target": bv,
                    "kind": kind,
                    "label": "",
                    "variables": [],
                    "filters": [],
                    "count": 0,
                    "declared": False,
                    "observed": False,
                    "fired": 0,
                }
            edge["count"] += 1
            if path not in edge["variables"]:
                edge["variables"].append(path)
            edge["declared"] = edge["declared"] or bool(d.get("declared"))
            edge["observed"] = edge["observed"] or bool(d.get("observed"))
            if kind == "triggers":
                for text in filter(None, d.get("label", "").split("; ")):
                    if text not in edge["filters"]:
                        edge["filters"].append(text)
                if stats is not None:
                    fired = stats.fired_edge[(u, v)]
                    if d.get("n", 1) > 1:  # several subscriptions: count the changes, not calls
                        fired = min(fired, stats.changes[u])
                    edge["fired"] += fired
        for edge in merged.values():
            edge["label"] = self.edge_label(edge)
        return list(merged.values())

    def edge_label(self, edge: dict[str, Any]) -> str:
        kind, filters = edge["kind"], edge["filters"]
        observed = " (observed)" if edge["observed"] and not edge["declared"] else ""
        if self.level == "variables":  # one variable per edge: say what the edge is
            return "; ".join(filters) if kind == "triggers" else f"{kind}{observed}"
        names = [self.state._slots[p].name for p in edge["variables"]]
        text = ", ".join(names[:2]) + (f" +{len(names) - 2}" if len(names) > 2 else "")
        if filters:
            text += f" [{'; '.join(filters)}]"
        return text + observed

    # Focus -------------------------------------------------------------------
    def resolve_focus(self, focus: str) -> tuple[str | None, str]:
        """(variable path or None, graph key or container name) of ``focus``."""
        state = self.state
        if not isinstance(focus, str):
            raise TypeError(f"focus must be a path or key string, got {type(focus).__name__}")
        if focus in state._containers or (focus in self.g and focus not in state._slots):
            return None, focus
        try:
            return state._resolve(focus).path, ""
        except AttributeError:
            names = list(state._slots) + list(self.g.nodes) + list(state._containers)
            raise ValueError(
                f"focus {focus!r} names no variable, node, callback or container of the state"
                f"{did_you_mean(focus, names)}"
            ) from None

    def keep_around(self, starts: set[str], edges: list[dict[str, Any]], depth: int) -> set[str]:
        """The boxes within ``depth`` edges downstream or upstream of ``starts``, and their parents."""
        down: dict[str, list[str]] = defaultdict(list)
        up: dict[str, list[str]] = defaultdict(list)
        for e in edges:
            if e["kind"] != "orders":
                down[e["source"]].append(e["target"])
                up[e["target"]].append(e["source"])
        keep = set(starts)
        for step in (down, up):
            seen, frontier = set(starts), set(starts)
            for _ in range(depth):
                frontier = {n for f in frontier for n in step.get(f, ())} - seen
                seen |= frontier
            keep |= seen
        for box_id in list(keep):
            parent = self.boxes[box_id]["parent"]
            while parent is not None:
                keep.add(parent)
                parent = self.boxes[parent]["parent"]
        return keep

    def focus_starts(self, focus: str, path: str | None, key: str) -> tuple[str, set[str]]:
        """The focused box id and the boxes to start from (a container: where its things are)."""
        if path is not None:
            return path, {path}
        box_id = self.place.get(key, key)
        if key in self.state._containers:
            container = self.state._containers[key]
            held = [s.path for s in container._vars.values()]
            held += [n.key for n in container._nodes.values()]
            starts = {self.place[k] for k in held if k in self.place}
            if box_id in self.boxes:
                starts |= {box_id} | {b["id"] for b in self.boxes.values() if b["parent"] == box_id}
            if not starts:
                raise ValueError(
                    f"focus {focus!r} is a container with nothing drawn at the {self.level!r} "
                    "level; focus on another container, a node or a variable"
                )
            return (box_id if box_id in self.boxes else sorted(starts)[0]), starts
        # A node (or callback): its box, and its variables' boxes at the variables level.
        return box_id, {box_id} | {b["id"] for b in self.boxes.values() if b["parent"] == box_id}

    def build(self, focus: str | None, depth: int) -> dict[str, Any]:
        focus_path, focus_key = self.resolve_focus(focus) if focus is not None else (None, "")
        self.place_all(focus_path)
        edges = self.edges()
        focus_id: str | None = None
        if focus is not None:
            focus_id, starts = self.focus_starts(focus, focus_path, focus_key)
            keep = self.keep_around(starts, edges, depth)
            self.boxes = {k: b for k, b in self.boxes.items() if k in keep}
            edges = [e for e in edges if e["source"] in keep and e["target"] in keep]
            self.boxes[focus_id]["focus"] = True
        self.fill()
        return {
            "level": self.level,
            "focus": focus_id,
            "depth": depth,
            "title": str(self.state.structure.title or ""),
            "boxes": _parents_first(list(self.boxes.values())),
            "edges": edges,
            "hidden": self.hidden,
            "trace": self.stats.summary if self.stats is not None else None,
        }


def _parents_first(boxes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_id = {b["id"]: b for b in boxes}
    out: list[dict[str, Any]] = []
    done: set[str] = set()

    def add(box: dict[str, Any]) -> None:
        if box["id"] in done:
            return
        parent = box["parent"]
        if parent is not None and parent in by_id:
            add(by_id[parent])
        done.add(box["id"])
        out.append(box)

    for box in boxes:
        add(box)
    return out
