"""The dependency graph: node and edge kinds, one-call queries, read-only view, validate()."""

from __future__ import annotations

import networkx as nx
import pytest
from core_toys import Counter, Loop

from pipeline import GraphError, Node, State, Variable


class TestGraph:
    def test_node_kinds(self, state: State, counter: Counter) -> None:
        """Variables, nodes and callbacks are graph nodes with a kind attribute."""

        def cb() -> None:
            pass

        state.configs.x_ref.subscribe(cb)
        g = state.graph
        assert isinstance(g, nx.DiGraph)
        assert g.nodes["configs.x"]["kind"] == "variable"
        assert g.nodes["handlers.counter.n"] == {
            "kind": "variable",
            "owner": "handlers.counter",
            "doc": "how many times it counted",
        }
        assert g.nodes["handlers.counter"]["kind"] == "node"
        assert g.nodes["handlers.counter"]["cls"] == "Counter"
        (cb_key,) = state.subscribers_of("configs.x")
        assert g.nodes[cb_key]["kind"] == "callback"
        assert cb_key.startswith("TestGraph.test_node_kinds.cb (")

    def test_edge_kinds(self, state: State, counter: Counter) -> None:
        """triggers carry the filter label; writes are declared or observed; reads are declared."""

        def cb() -> None:
            pass

        state.configs.x_ref.subscribe(cb, every=2, reads=["configs.lr"], writes=[counter.n_ref])
        (key,) = state.subscribers_of("configs.x")
        g = state.graph
        assert g.edges["configs.x", key]["kind"] == "triggers"
        assert g.edges["configs.x", key]["label"] == "every=2"
        assert g.edges["configs.lr", key]["kind"] == "reads"
        assert g.edges[key, "handlers.counter.n"] == {"kind": "writes", "declared": True}
        assert g.edges["handlers.counter", "handlers.counter.n"]["kind"] == "writes"

    def test_filter_labels(self, state: State) -> None:
        """Edge labels list every filter of the subscriptions on that edge."""

        def positive(v: int) -> bool:
            return v > 0

        def cb() -> None:
            pass

        state.configs.x_ref.subscribe(cb, once=3, when=positive, allow_cycle=True)
        (key,) = state.subscribers_of("configs.x")
        assert state.graph.edges["configs.x", key]["label"] == "once=3, when=positive, allow_cycle"

    def test_queries(self, state: State, loop: Loop, counter: Counter) -> None:
        """writers_of, readers_of and subscribers_of answer in one call each."""
        counter.declare_reads(state.configs.lr_ref)
        loop.declare_writes("configs.x")
        loop.n_iteration_completed_ref.subscribe(counter.step)
        assert state.writers_of("configs.x") == ["engines.loop"]
        assert state.readers_of(state.configs.lr_ref) == ["handlers.counter"]
        assert state.subscribers_of("engines.loop.n_iteration_completed") == ["handlers.counter"]
        assert state.writers_of("handlers.counter.n") == ["handlers.counter"]

    def test_subscriber_declaring_read_of_trigger(self, state: State) -> None:
        """A subscriber that also reads its trigger keeps one triggers edge marked reads."""

        def cb() -> None:
            pass

        state.configs.x_ref.subscribe(cb, reads=["configs.x"])
        (key,) = state.subscribers_of("configs.x")
        assert state.graph.edges["configs.x", key]["kind"] == "triggers"
        assert state.readers_of("configs.x") == [key]

    def test_graph_is_read_only(self, state: State) -> None:
        """state.graph is a view that refuses changes."""
        g = state.graph
        with pytest.raises(nx.NetworkXError, match="Frozen graph"):
            g.add_node("intruder")
        with pytest.raises(nx.NetworkXError):
            g.remove_node("configs.x")
        assert "configs.x" in state.graph

    def test_graph_follows_state(self, state: State) -> None:
        """A view taken earlier sees variables added later."""
        g = state.graph
        state.configs.later = 1
        assert "configs.later" in g

    def test_same_callback_one_node(self, state: State) -> None:
        """One callback subscribed to two variables is one graph node with two triggers."""

        def cb() -> None:
            pass

        state.configs.x_ref.subscribe(cb)
        state.configs.lr_ref.subscribe(cb)
        assert state.subscribers_of("configs.x") == state.subscribers_of("configs.lr")

    def test_two_lambdas_distinct_nodes(self, state: State) -> None:
        """Two callbacks with the same label become two nodes."""
        for _ in range(2):
            state.configs.x_ref.subscribe(lambda: None)
        a, b = state.subscribers_of("configs.x")
        assert a != b and b.endswith("#2")


class TestValidate:
    def test_sound_graph_passes(self, state: State, loop: Loop, counter: Counter) -> None:
        """A graph without problems validates silently."""
        loop.n_iteration_completed_ref.subscribe(counter.step)
        state.validate()

    def test_trigger_cycle(self, state: State) -> None:
        """A callback that writes its own trigger is a cycle that can loop forever."""

        def bump() -> None:
            state.configs.x += 1

        state.configs.x_ref.subscribe(bump, writes=["configs.x"])
        with pytest.raises(GraphError, match="trigger cycle that can loop forever") as info:
            state.validate()
        assert len(info.value.problems) == 1
        assert "configs.x -> " in info.value.problems[0]

    def test_cycle_allowed(self, state: State) -> None:
        """allow_cycle=True accepts the cycle at validate()."""

        def bump() -> None:
            if state.configs.x < 3:
                state.configs.x += 1

        state.configs.x_ref.subscribe(bump, writes=["configs.x"], allow_cycle=True)
        state.validate()
        state.configs.x = 1
        assert state.configs.x == 3

    def test_observed_cycle_found(self, state: State) -> None:
        """A cycle made of an observed write is found too."""
        state.configs.y = 0

        def a() -> None:
            state.configs.y = state.configs.x

        def b() -> None:
            state.configs.x = 0

        state.configs.x_ref.subscribe(a)
        state.configs.y_ref.subscribe(b)
        state.configs.x = 1
        with pytest.raises(GraphError, match="trigger cycle"):
            state.validate()

    def test_graph_version_unchanged_by_plain_sets(self, state: State, loop: Loop) -> None:
        """Running (sets of known writers) does not change the graph version."""
        loop.run(1)
        version = state.graph_version
        loop.run(3)
        state.configs.x = 5
        assert state.graph_version == version

    def test_unwritten_none_subscription(self, state: State) -> None:
        """Subscribing to a variable nobody writes and that holds None is a problem."""
        state.configs.empty = None
        state.configs.empty_ref.subscribe(lambda: None)
        with pytest.raises(GraphError, match=r"configs.empty is used by .* nobody writes it"):
            state.validate()

    def test_unwritten_none_read(self, state: State, counter: Counter) -> None:
        """Declaring a read of such a variable is a problem too; a writer fixes it."""
        state.configs.empty = None
        counter.declare_reads("configs.empty")
        with pytest.raises(GraphError, match=r"handlers\.counter but nobody writes it"):
            state.validate()
        Loop(state, "loop").declare_writes("configs.empty")
        state.validate()

    def test_two_writers_of_single_writer_variable(self, state: State, counter: Counter) -> None:
        """A node Variable written by another node is a problem unless shared."""

        class Meddler(Node):
            n = Variable(0)

        meddler = Meddler(state, "meddler")
        meddler.declare_writes(counter.n_ref)
        with pytest.raises(GraphError, match=r"handlers.counter.n has 2 writers") as info:
            state.validate()
        assert "handlers.counter, handlers.meddler" in info.value.problems[0]

    def test_shared_variable_accepts_writers(self, state: State, loop: Loop) -> None:
        """A shared=True Variable may have several writers."""
        Counter(state, "stopper").declare_writes(loop.should_stop_ref)
        state.validate()

    def test_every_problem_in_one_error(self, state: State, counter: Counter) -> None:
        """validate() lists every problem in one GraphError with a .problems list."""
        state.configs.empty = None
        state.configs.empty_ref.subscribe(lambda: None)

        def bump() -> None:
            pass

        state.configs.x_ref.subscribe(bump, writes=["configs.x"])
        Counter(state, "other").declare_writes(counter.n_ref)
        with pytest.raises(GraphError) as info:
            state.validate()
        problems = info.value.problems
        assert len(problems) == 3
        assert str(info.value).startswith("3 problems in the state graph:\n  1. ")
        assert any("trigger cycle" in p for p in problems)
        assert any("nobody writes it" in p for p in problems)
        assert any("2 writers" in p for p in problems)
        assert isinstance(info.value, ValueError)
