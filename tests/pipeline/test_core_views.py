"""Views of a state: the view model's levels, focus and trace overlay, explain(),
the subscription counts on the Handle, ordering-only writes, one report per loop."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from core_toys import Counter, Loop

from pipeline import GraphError, Node, State, Variable


class Scorer(Node):
    """A toy metric of a group: its value and its partner's, ordered together."""

    value = Variable(0.0)

    def compute(self) -> None:
        self.value += 1.0


def box(model: dict, box_id: str) -> dict:
    return next(b for b in model["boxes"] if b["id"] == box_id)


class TestCounts:
    def test_every_counts_fired_and_seen(self, counter: Counter) -> None:
        """every=3 over 7 changes: fired 2 of 7, on the handle and in explain."""
        handle = counter.n_ref.subscribe(lambda: None, every=3)
        for _ in range(7):
            counter.step()
        assert (handle.n_fired, handle.n_seen) == (2, 7)
        assert handle.filters == "every=3"
        assert "every=3  fired 2 of 7" in counter.state.explain(counter.n_ref)

    def test_when_filter_counts(self, counter: Counter) -> None:
        """A when= predicate decides; what it let through is counted."""

        def is_even(n: int) -> bool:
            return n % 2 == 0

        handle = counter.n_ref.subscribe(lambda: None, when=is_even)
        for _ in range(5):
            counter.step()
        assert (handle.n_fired, handle.n_seen) == (2, 5)

    def test_unfiltered_counts_every_change(self, counter: Counter) -> None:
        """Without filters every change is seen and fired; unchanged sets are neither."""
        handle = counter.n_ref.subscribe(lambda: None)
        counter.n = 1
        counter.n = 1
        counter.n = 2
        assert (handle.n_fired, handle.n_seen) == (2, 2)

    def test_removed_handle_keeps_counts(self, counter: Counter) -> None:
        """After remove() the handle still says what the subscription did."""
        handle = counter.n_ref.subscribe(lambda: None, once=2)
        for _ in range(3):
            counter.step()
        handle.remove()
        counter.step()
        assert (handle.n_fired, handle.n_seen) == (1, 3)
        assert repr(handle) == "<Handle removed, fired 1 of 3>"

    def test_held_changes_are_seen_once(self, state: State, counter: Counter) -> None:
        """Inside hold() a variable changed three times is one change seen."""
        handle = counter.n_ref.subscribe(lambda: None, every=1)
        with state.hold():
            for _ in range(3):
                counter.step()
        assert (handle.n_fired, handle.n_seen) == (1, 1)


class TestFilterText:
    def test_lambda_shows_its_line(self, state: State) -> None:
        """A lambda predicate is named with its file:line, never a bare <lambda>."""
        state.configs.x = 0
        state.configs.x_ref.subscribe(lambda: None, when=lambda v: v > 1)
        text = state.explain("configs.x")
        assert "when=TestFilterText.test_lambda_shows_its_line.lambda (" in text
        assert "test_core_views.py:" in text and "<lambda>" not in text
        (key,) = state.subscribers_of("configs.x")
        assert "<lambda>" not in state.graph.edges["configs.x", key]["label"]

    def test_named_predicate_by_name(self, state: State) -> None:
        """A named predicate is its name alone."""

        def positive(v: int) -> bool:
            return v > 0

        state.configs.x = 0
        handle = state.configs.x_ref.subscribe(lambda: None, when=positive)
        assert handle.filters == "when=positive"


class TestExplain:
    def test_everything_about_a_variable(self, toy: State, loop: Loop) -> None:
        """Value, doc, writers with how they are known, readers, subscribers, last writer."""
        toy.configs.lr = 0.2
        text = toy.explain("configs.lr")
        lines = text.splitlines()
        assert lines[0] == "configs.lr = 0.2"
        assert "readers (declared):" in text and "handlers.counter" in text
        assert "log_lr" in text and "(no filter)  fired 1 of 1" in text
        assert "last writer: top-level code" in text
        text = toy.explain("configs.x")
        assert "(observed)" in text and "last writer: " in text

    def test_unknown_path(self, toy: State) -> None:
        """An unknown path is refused with a close name."""
        with pytest.raises(AttributeError, match=r"did you mean 'lr'"):
            toy.explain("configs.lrr")


def test_explain_with_a_trace(toy: State, loop: Loop) -> None:
    """With a trace, explain adds what it saw of the variable."""
    with toy.trace() as t:
        loop.run(3)
    text = toy.explain("engines.loop.n_iteration_completed", trace=t)
    assert text.splitlines()[-1] == "  traced: set 3 times, 3 changes; last 2 -> 3"


class TestOrderingOnly:
    @pytest.fixture
    def group(self, state: State) -> tuple[Scorer, Scorer]:
        """Two scorers declaring each other's value for ordering only."""
        a, b = Scorer(state, "a", "handlers"), Scorer(state, "b", "handlers")
        a.declare_writes(b.value_ref, ordering_only=True)
        b.declare_writes(a.value_ref, ordering_only=True)
        return a, b

    def test_not_a_writer(self, state: State, group: tuple[Scorer, Scorer]) -> None:
        """writers_of leaves ordering-only edges out; the graph marks them 'orders'."""
        _, b = group
        assert state.writers_of(b.value_ref) == ["handlers.b"]
        assert state.graph.edges["handlers.a", "handlers.b.value"]["kind"] == "orders"
        state.validate()  # a <-> b ordering is no cycle

    def test_still_orders(self, state: State, group: tuple[Scorer, Scorer]) -> None:
        """A reader of b's value runs after a, which declared it for ordering only."""
        a, b = group
        state.configs.go = 0
        seen: list[float] = []

        @state.on("configs.go", reads=[b.value_ref])
        def reader() -> None:
            seen.append(a.value)

        state.configs.go_ref.subscribe(a.compute)  # subscribed after the reader
        state.configs.go = 1
        assert seen == [1.0]  # a computed first

    def test_observed_write_becomes_a_writer(
        self, state: State, group: tuple[Scorer, Scorer]
    ) -> None:
        """An ordering-only node seen writing is a writer after all."""
        a, b = group
        b.value_ref.subscribe(lambda: None)
        with state.writing_as(a):
            b.value = 5.0
        assert state.writers_of(b.value_ref) == ["handlers.a", "handlers.b"]
        assert state.graph.edges["handlers.a", "handlers.b.value"]["kind"] == "writes"

    def test_flag_must_be_bool(self, group: tuple[Scorer, Scorer]) -> None:
        """ordering_only takes a bool."""
        a, b = group
        with pytest.raises(TypeError, match=r"ordering_only must be a bool, got 'yes'"):
            a.declare_writes(b.value_ref, ordering_only="yes")  # type: ignore[arg-type]

    def test_drawn_apart(self, state: State, group: tuple[Scorer, Scorer], tmp_path: Path) -> None:
        """Hidden at the nodes level; dashed and labelled at the variables level."""
        nodes = state.render(tmp_path / "n.dot").read_text()
        assert "orders" not in nodes
        variables = state.render(tmp_path / "v.dot", level="variables").read_text()
        assert "label=orders" in variables and "style=dashed" in variables


class Pair(Node):
    """A toy engine with three counters, each triggering the consumer."""

    default_container = "engines"
    started = Variable(0)
    step = Variable(0)
    done = Variable(0)

    def run(self) -> None:
        self.started += 1
        self.step += 1
        self.done += 1


class Consumer(Node):
    """Reacts to each counter of a Pair by writing configs.total."""

    def __init__(self, state: State, pair: Pair) -> None:
        super().__init__(state, "consumer", "handlers")
        for ref in (pair.started_ref, pair.step_ref, pair.done_ref):
            ref.subscribe(self.add)
        self.declare_writes("configs.total")

    def add(self) -> None:
        self.state.configs.total += 1


def pair_and_consumer(state: State) -> Pair:
    """A Pair run by configs.go, whose three counters each trigger a Consumer
    writing configs.total."""
    state.configs.total = 0
    state.configs.go = 0
    pair = Pair(state, "pair")
    state.configs.go_ref.subscribe(pair.run)
    Consumer(state, pair)
    return pair


def trigger_cycles(state: State) -> list[str]:
    with pytest.raises(GraphError) as info:
        state.validate()
    return [p for p in info.value.problems if p.startswith("trigger cycle")]


class TestCycles:
    def test_one_loop_through_one_callback_is_reported_once(self, state: State) -> None:
        """Three cycles through the same places (one per counter of the pair) are one problem."""
        pair_and_consumer(state)

        @state.on("configs.total", writes=["configs.go"])
        def restart() -> None: ...

        cycles = trigger_cycles(state)
        assert len(cycles) == 1, cycles
        assert cycles[0].startswith("trigger cycle that can loop forever: configs.total -> ")
        assert "restart (" in cycles[0]

    def test_two_callbacks_are_two_loops(self, state: State) -> None:
        """Two different callbacks closing a loop are two problems."""
        pair_and_consumer(state)

        @state.on("configs.total", writes=["configs.go"])
        def restart() -> None: ...

        @state.on("configs.total", writes=["configs.go"])
        def finish() -> None: ...

        assert len(trigger_cycles(state)) == 2


class TestViewModel:
    def test_levels(self, toy: State) -> None:
        """Each level has its boxes; all of it is plain JSON data."""
        nodes = toy.view_model()
        assert nodes["level"] == "nodes"
        loop = box(nodes, "engines.loop")
        assert loop["kind"] == "node" and loop["cls"] == "Loop"
        assert "engines.loop.n_iteration_completed" in loop["paths"]
        assert {s["subscriber"] for s in box(nodes, "handlers.counter")["subscriptions"]} == {
            "handlers.counter"
        }
        containers = toy.view_model("containers")
        assert {b["id"] for b in containers["boxes"]} >= {"engines", "handlers", "configs"}
        variables = toy.view_model("variables")
        assert box(variables, "configs.lr")["value"] == "0.1"
        assert box(variables, "configs.lr")["parent"] == "configs"
        assert json.loads(json.dumps(variables)) == variables

    def test_edge_of_the_nodes_level(self, toy: State) -> None:
        """The loop triggers the counter: one edge with its variable and filter."""
        (edge,) = [
            e
            for e in toy.view_model()["edges"]
            if e["source"] == "engines.loop" and e["target"] == "handlers.counter"
        ]
        assert edge["kind"] == "triggers" and edge["filters"] == ["every=2"]
        assert edge["label"] == "n_iteration_completed [every=2]"

    def test_bad_level_depth_and_focus(self, toy: State) -> None:
        """Each wrong argument is refused with what was given and what fits."""
        with pytest.raises(
            ValueError,
            match=r"level must be one of containers, nodes, variables, got 'node'; did you mean 'nodes'",
        ):
            toy.view_model("node")
        with pytest.raises(ValueError, match=r"depth must be a non-negative int .* got -1"):
            toy.view_model(depth=-1)
        with pytest.raises(
            ValueError, match=r"focus 'configs.lrr' names no variable.*did you mean 'configs.lr'"
        ):
            toy.view_model(focus="configs.lrr")
        with pytest.raises(TypeError, match=r"focus must be a path or key string, got int"):
            toy.view_model(focus=3)  # type: ignore[arg-type]

    def test_focus_on_a_variable(self, toy: State) -> None:
        """Focus keeps the variable, its writers and users within depth, and their parents."""
        model = toy.view_model(focus="engines.loop.n_iteration_completed", depth=1)
        ids = {b["id"] for b in model["boxes"]}
        assert ids == {
            "engines",
            "engines.loop",
            "engines.loop.n_iteration_completed",
            "handlers",
            "handlers.counter",
        }
        assert box(model, "engines.loop.n_iteration_completed")["focus"]

    def test_focus_on_a_node_at_depth_zero(self, toy: State) -> None:
        """Depth 0 keeps the focused node alone (and its container)."""
        model = toy.view_model(focus="handlers.counter", depth=0)
        assert {b["id"] for b in model["boxes"]} == {"handlers", "handlers.counter"}
        assert model["edges"] == []

    def test_focus_shows_a_bookkeeping_variable(self, state: State) -> None:
        """structure is left out of pictures, but a focus on one of its variables draws it."""
        assert not any(b["id"].startswith("structure") for b in state.view_model()["boxes"])
        model = state.view_model(focus="structure.n_nodes")
        assert box(model, "structure.n_nodes")["focus"]

    def test_focus_on_a_container(self, toy: State) -> None:
        """A container focus starts from everything it holds."""
        ids = {b["id"] for b in toy.view_model(focus="engines", depth=1)["boxes"]}
        assert {"engines", "engines.loop", "handlers.counter"} <= ids

    def test_focus_on_an_empty_container(self, toy: State) -> None:
        """An empty container is nothing to focus on, and the message says what is."""
        with pytest.raises(
            ValueError,
            match=r"focus 'optimizers' is a container with nothing drawn at the 'nodes' level",
        ):
            toy.view_model(focus="optimizers")

    def test_trace_overlay(self, toy: State, loop: Loop) -> None:
        """Sets, changes and unchanged sets, calls along edges, the node that ran."""
        with toy.trace() as t:
            loop.run(4)
            toy.configs.lr = 0.1  # the same value: a set, no event
        model = toy.view_model("variables", trace=t)
        it = box(model, "engines.loop.n_iteration_completed")["variables"][0]["trace"]
        assert it == {"sets": 4, "changes": 4, "last": "3 -> 4"}
        lr = box(model, "configs.lr")["variables"][0]["trace"]
        assert lr == {"sets": 1, "changes": 0, "last": "0.1 -> 0.1"}
        (edge,) = [
            e
            for e in model["edges"]
            if e["target"] == "handlers.counter" and e["kind"] == "triggers"
        ]
        assert edge["fired"] == 2
        assert model["trace"]["running"] == "engines.loop"
        assert box(model, "engines.loop")["trace"]["running"]

    def test_trace_overlay_drawn(self, toy: State, loop: Loop, tmp_path: Path) -> None:
        """In the picture: old -> new and counts in the box, unchanged sets apart, the
        running node filled, the calls along the edge."""
        with toy.trace() as t:
            loop.run(4)
            toy.configs.lr = 0.1
        src = toy.render(tmp_path / "t.dot", trace=t).read_text()
        assert "n_iteration_completed: 3 -&gt; 4  (set 4x, 4 changes)" in src
        assert "lr: 0.1 -&gt; 0.1  (set 1x, unchanged)" in src
        assert 'fillcolor="#fde0dd"' in src  # the loop ran
        assert "[every=2] x2" in src
        assert "red: set or called while traced" in src  # the legend says what red is

    def test_set_variable_never_hidden(self, state: State, tmp_path: Path) -> None:
        """A bookkeeping variable a trace saw set is drawn; otherwise it is left out."""
        assert "structure.n_nodes" not in {b["id"] for b in state.view_model("variables")["boxes"]}
        with state.trace() as t:
            Counter(state, "counter")
        ids = {b["id"] for b in state.view_model("variables", trace=t)["boxes"]}
        assert "structure.n_nodes" in ids


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not on PATH")
class Tally:
    """Not a node: an object whose methods are subscribed, as an ignite metric's are."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def started(self) -> None:
        self.calls.append("started")

    def completed(self) -> None:
        self.calls.append("completed")


class TestObjectMethods:
    def test_one_objects_methods_fold_into_one_box(self, state: State, loop: Loop) -> None:
        """At the nodes level two objects' methods are two boxes named after their class,
        one merged edge from the loop each; at the variables level every method is its own."""
        first, second = Tally(), Tally()
        for tally in (first, second):
            loop.batch_ref.subscribe(tally.started)
            loop.n_iteration_completed_ref.subscribe(tally.completed)
        loop.run(2)
        assert first.calls == second.calls == ["started", "completed"] * 2
        model = state.view_model()
        tallies = [b for b in model["boxes"] if b["label"].startswith("Tally")]
        assert [b["id"] for b in tallies] == ["Tally", "Tally #2"]
        assert [len(b["members"]) for b in tallies] == [2, 2]
        assert all(
            m.startswith(("Tally.started", "Tally.completed")) for m in tallies[0]["members"]
        )
        edges = [e for e in model["edges"] if e["target"] == "Tally"]
        assert [(e["source"], e["kind"]) for e in edges] == [("engines.loop", "triggers")]
        assert set(edges[0]["variables"]) == {
            "engines.loop.batch",
            "engines.loop.n_iteration_completed",
        }
        variables = state.view_model("variables")
        assert sum(b["kind"] == "callback" for b in variables["boxes"]) == 4

    def test_a_folded_method_is_a_focus_and_draws_its_names(
        self, state: State, loop: Loop, tmp_path: Path
    ) -> None:
        tally = Tally()
        loop.batch_ref.subscribe(tally.started)
        loop.n_iteration_completed_ref.subscribe(tally.completed)
        (key,) = [k for k in box(state.view_model(), "Tally")["members"] if "completed" in k]
        focused = state.view_model(focus=key, depth=1)
        assert {b["id"] for b in focused["boxes"]} >= {"Tally", "engines.loop"}
        if shutil.which("dot") is None:
            pytest.skip("Graphviz's dot is not installed")
        svg = Path(state.render(tmp_path / "graph.svg")).read_text()
        assert "2 callbacks: started, completed" in svg


class TestNotebook:
    def test_mimebundle_has_text_and_svg(self, toy: State) -> None:
        """In a notebook the state shows its overview and its graph."""
        bundle = toy._repr_mimebundle_()
        assert "<svg" in bundle["text/html"] and "<pre>State" in bundle["text/html"]
        assert bundle["text/plain"].startswith("State")
        assert bundle["image/svg+xml"].startswith("<svg")


class TestReprs:
    def test_trace_repr(self, state: State) -> None:
        """A trace's repr says whether it records, how much, and the last set."""
        state.configs.x = 0
        with state.trace() as t:
            state.configs.x = 1
            assert repr(t) == "<Trace recording: 1 sets, 1 kept, last configs.x: 0 -> 1>"
        assert repr(t).startswith("<Trace ended: 1 sets")

    def test_container_repr_previews_values(self, state: State) -> None:
        """A container's repr shows its first values."""
        assert repr(state.configs) == "<Container configs: 2 variables, 0 nodes; lr=0.1, x=0>"


def test_mimebundle_without_dot(
    toy: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without Graphviz a notebook still shows the overview, and nothing warns."""
    monkeypatch.setenv("PATH", str(tmp_path))
    bundle = toy._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/html"].startswith("<pre>State")


def test_mimebundle_when_drawing_fails(toy: State, monkeypatch: pytest.MonkeyPatch) -> None:
    """A graph that cannot be drawn leaves the overview and a line saying why."""
    from pipeline import render

    def broken(source: str, fmt: str) -> bytes:
        raise RuntimeError("dot crashed")

    monkeypatch.setattr(render.shutil, "which", lambda name: "/usr/bin/dot")
    monkeypatch.setattr(render, "pipe", broken)
    bundle = toy._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"].startswith("State")
    assert bundle["text/html"].startswith("<pre>State")
    assert bundle["text/html"].endswith(
        "<pre>(the graph could not be drawn: RuntimeError: dot crashed)</pre>"
    )


def test_mimebundle_when_the_overview_fails(
    toy: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An overview that cannot be built leaves the state's repr and why."""
    from pipeline import render

    def broken(state: State) -> str:
        raise KeyError("configs")

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setattr(render, "overview", broken)
    text = toy._repr_mimebundle_()["text/plain"]
    assert text == f"{toy!r}\n(no overview: KeyError: 'configs')"


class Recorder:
    """An object whose class is named like a container of the test below."""

    def on_x(self) -> None:
        pass


def test_a_folded_box_never_takes_a_container_name(state: State) -> None:
    """An object whose class is named like a container gets a box of its own."""
    state.add_container("Recorder").add_variable("x", 0)
    state.Recorder.x_ref.subscribe(Recorder().on_x)
    model = state.view_model()
    assert box(model, "Recorder")["kind"] == "container"
    assert box(model, "Recorder")["paths"] == ["Recorder.x"]
    folded = box(model, "Recorder #2")
    assert folded["kind"] == "callback" and len(folded["members"]) == 1
