"""The dependency graph and what is computed from it: the order in which the
subscribers of one variable run, the topological rank of variables (for
``hold``), validation, and the one-call queries.

Functions here take the ``networkx.DiGraph`` kept by the State and never
change it; the State adds and removes nodes and edges as things happen.
Node attribute ``kind``: ``"variable" | "node" | "callback"``; edge attribute
``kind``: ``"triggers" | "writes" | "reads" | "orders"`` (a subscriber that
also declares it reads its trigger keeps one ``triggers`` edge with
``reads=True``; ``orders`` is a write declared only to order propagation, such
as the members of a metric group declaring each other's values: it orders like
a write, but it is no writer and no loop goes through it).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import networkx as nx

if TYPE_CHECKING:
    from pipeline.subscription import Subscription

__all__ = [
    "dependency_order",
    "find_problems",
    "flow_view",
    "ordering_writers_of",
    "readers_of",
    "subscribers_of",
    "variable_ranks",
    "writers_of",
]

_MAX_CYCLES_REPORTED = 20


def flow_view(graph: nx.DiGraph) -> nx.DiGraph:
    """The subgraph of ``triggers``, ``writes`` and ``orders`` edges: what orders propagation."""

    def keep(u: str, v: str) -> bool:
        return graph.edges[u, v]["kind"] in ("triggers", "writes", "orders")

    return nx.subgraph_view(graph, filter_edge=keep)


def _change_view(graph: nx.DiGraph) -> nx.DiGraph:
    """The subgraph of ``triggers`` and real ``writes`` edges: what a change can cause."""

    def keep(u: str, v: str) -> bool:
        return graph.edges[u, v]["kind"] in ("triggers", "writes")

    return nx.subgraph_view(graph, filter_edge=keep)


def _reads(graph: nx.DiGraph, key: str) -> set[str]:
    return {
        u for u, _, d in graph.in_edges(key, data=True) if d["kind"] == "reads" or d.get("reads")
    }


def dependency_order(graph: nx.DiGraph, subs: Sequence[Subscription]) -> list[Subscription]:
    """Order the subscriptions of one variable: writers before the readers of what they write.

    B runs after A when B's subscriber declares it reads a variable that A's
    subscriber writes, directly or through the changes it triggers. Ties keep
    subscription order; subscriptions caught in a read/write loop keep it too.
    """
    live = [s for s in subs if not s.removed]
    if len(live) < 2:
        return live
    reads = {s.subscriber.key: _reads(graph, s.subscriber.key) for s in live}
    if not any(reads.values()):
        return live
    flow = flow_view(graph)
    reach = {}
    for s in live:
        key = s.subscriber.key
        if key not in reach:
            reach[key] = nx.descendants(flow, key) if key in graph else set()
    after: dict[int, set[int]] = {i: set() for i in range(len(live))}
    n_before = [0] * len(live)
    for i, a in enumerate(live):
        for j, b in enumerate(live):
            ka, kb = a.subscriber.key, b.subscriber.key
            if i != j and ka != kb and reads[kb] & reach[ka]:
                after[i].add(j)
                n_before[j] += 1
    ready = [i for i in range(len(live)) if n_before[i] == 0]
    heapq.heapify(ready)
    order: list[int] = []
    while ready:
        i = heapq.heappop(ready)
        order.append(i)
        for j in after[i]:
            n_before[j] -= 1
            if n_before[j] == 0:
                heapq.heappush(ready, j)
    if len(order) < len(live):  # a loop of reads and writes: the rest keep their order
        seen = set(order)
        order.extend(i for i in range(len(live)) if i not in seen)
    return [live[i] for i in order]


def variable_ranks(graph: nx.DiGraph) -> dict[str, int]:
    """Topological rank of every variable along triggers and writes (cycles share a rank)."""
    flow = flow_view(graph)
    condensed = nx.condensation(flow)
    ranks: dict[str, int] = {}
    for rank, component in enumerate(nx.topological_sort(condensed)):
        for key in condensed.nodes[component]["members"]:
            ranks[key] = rank
    return ranks


def writers_of(graph: nx.DiGraph, path: str) -> list[str]:
    """Keys of the nodes and callbacks with a ``writes`` edge into ``path`` (not ``orders``)."""
    return sorted(u for u, _, d in graph.in_edges(path, data=True) if d["kind"] == "writes")


def ordering_writers_of(graph: nx.DiGraph, path: str) -> list[str]:
    """Keys of the nodes that declare they write ``path`` only to order propagation."""
    return sorted(u for u, _, d in graph.in_edges(path, data=True) if d["kind"] == "orders")


def readers_of(graph: nx.DiGraph, path: str) -> list[str]:
    """Keys of the nodes and callbacks that declare they read ``path``."""
    return sorted(
        v for _, v, d in graph.out_edges(path, data=True) if d["kind"] == "reads" or d.get("reads")
    )


def subscribers_of(graph: nx.DiGraph, path: str) -> list[str]:
    """Keys of what a change of ``path`` triggers directly."""
    return sorted(v for _, v, d in graph.out_edges(path, data=True) if d["kind"] == "triggers")


def _distinct_cycles(graph: nx.DiGraph) -> Iterable[list[str]]:
    """The trigger cycles of the graph, each loop once.

    A node and its own variables count as one place (the graph knows writes
    per node, not per method), so the cycles that go through the same places
    (the same callbacks, nodes and variables, entered by different variables
    of one node) are one loop, reported by its first cycle. A loop that stays
    inside one node (an engine's terminate on its own counter) is none, and
    ``orders`` edges are not followed: they order, they write nothing.
    """

    def place(key: str) -> str:
        owner = graph.nodes[key].get("owner")
        return (
            owner if owner is not None and graph.nodes.get(owner, {}).get("kind") == "node" else key
        )

    seen: set[frozenset[str]] = set()
    for cycle in nx.simple_cycles(_change_view(graph)):
        edges = list(zip(cycle, cycle[1:] + cycle[:1], strict=True))
        triggers = [(u, v) for u, v in edges if graph.edges[u, v]["kind"] == "triggers"]
        if not triggers or any(graph.edges[u, v].get("allow_cycle") for u, v in triggers):
            continue
        places = frozenset(place(k) for k in cycle)
        if len(places) == 1 or places in seen:
            continue
        seen.add(places)
        # Start at the variable that triggers the first plain callback: usually the culprit.
        first = next((i for i, k in enumerate(cycle) if graph.nodes[k]["kind"] == "callback"), 1)
        yield cycle[first - 1 :] + cycle[: first - 1]


def find_problems(
    graph: nx.DiGraph,
    value_of: Callable[[str], Any],
    single_writer: Iterable[str],
) -> list[str]:
    """Every problem of the graph, one line each (empty when it is sound).

    Args:
        graph: the state graph.
        value_of: the current value of a variable path.
        single_writer: paths that accept only one writer.
    """
    problems: list[str] = []
    n_cycles = 0
    for cycle in _distinct_cycles(graph):
        n_cycles += 1
        if n_cycles <= _MAX_CYCLES_REPORTED:
            loop = " -> ".join(cycle + cycle[:1])
            problems.append(
                f"trigger cycle that can loop forever: {loop}; break it, or subscribe "
                "one of its callbacks with allow_cycle=True if it stops by itself"
            )
    if n_cycles > _MAX_CYCLES_REPORTED:
        problems.append(f"... and {n_cycles - _MAX_CYCLES_REPORTED} more trigger cycles")

    for path, data in graph.nodes(data=True):
        if data["kind"] != "variable":
            continue
        users = subscribers_of(graph, path) + [
            r for r in readers_of(graph, path) if r not in subscribers_of(graph, path)
        ]
        if users and value_of(path) is None and not writers_of(graph, path):
            problems.append(
                f"{path} is used by {', '.join(users)} but nobody writes it and it holds "
                "no value (None); give it a value or declare its writer (writes=...)"
            )
    for path in single_writer:
        writers = writers_of(graph, path)
        if len(writers) > 1:
            problems.append(
                f"{path} has {len(writers)} writers ({', '.join(writers)}) but only its "
                "owner may write it; declare it Variable(..., shared=True) or write it "
                "through its owner"
            )
    return problems
