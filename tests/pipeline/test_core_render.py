"""Looking at a state: render() with real Graphviz, the fallback without it,
overview() and str(state), and trace()."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from core_toys import Counter, Loop

from pipeline import RenderWarning, State, Trace, TraceEntry

needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz 'dot' not on PATH")


class TestRender:
    @needs_dot
    def test_svg(self, toy: State, tmp_path: Path) -> None:
        """An .svg path gets a real SVG drawing."""
        out = toy.render(tmp_path / "graph.svg")
        assert out == tmp_path / "graph.svg"
        text = out.read_text()
        assert "<svg" in text and "n_iteration_completed" in text

    @needs_dot
    def test_png(self, toy: State, tmp_path: Path) -> None:
        """A .png path gets a real PNG image."""
        out = toy.render(str(tmp_path / "graph.png"))
        assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    @needs_dot
    def test_pdf(self, toy: State, tmp_path: Path) -> None:
        """A .pdf path gets a real PDF document, in a directory created on the way."""
        out = toy.render(tmp_path / "sub" / "graph.pdf")
        assert out.read_bytes()[:5] == b"%PDF-"

    def test_dot_source(self, toy: State, tmp_path: Path) -> None:
        """A .dot path gets the DOT source with variables, values, clusters and edge labels."""
        out = toy.render(tmp_path / "graph.dot", level="variables")
        src = out.read_text()
        assert src.startswith("digraph state {")
        for text in (
            "n_iteration_completed",
            "label=configs",
            'label="loop: Loop"',
            'label="every=2"',
            "label=reads",
            "cluster_engines",
        ):
            assert text in src, text
        assert "lr\n0.1" in src

    def test_observed_write_is_dashed(self, toy: State, tmp_path: Path) -> None:
        """An observed write is drawn dashed and labelled as observed."""
        toy.configs.lr = 0.2
        src = toy.render(tmp_path / "g.dot", level="variables").read_text()
        assert 'label="writes (observed)"' in src and "style=dashed" in src

    def test_unsupported_suffix(self, toy: State, tmp_path: Path) -> None:
        """An unknown suffix is refused with the supported ones."""
        with pytest.raises(ValueError, match=r"unsupported suffix '\.jpg'; use \.svg, \.png"):
            toy.render(tmp_path / "graph.jpg")

    def test_without_dot_writes_source_and_warns(
        self, toy: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without the dot program, the .dot source is written and a RenderWarning says why."""
        empty = tmp_path / "empty"
        empty.mkdir()
        monkeypatch.setenv("PATH", str(empty))
        with pytest.warns(RenderWarning, match=r"Install Graphviz \(apt-get install graphviz"):
            out = toy.render(tmp_path / "graph.svg")
        assert out == tmp_path / "graph.dot"
        assert out.read_text().startswith("digraph state {")
        assert not (tmp_path / "graph.svg").exists()

    def test_render_with_trace_highlights(self, toy: State, tmp_path: Path) -> None:
        """A trace highlights what was set and fired, with counts."""
        with toy.trace() as t:
            toy.engines.loop.run(4)
        src = t.render(toy, tmp_path / "traced.dot").read_text()
        # At the nodes level the loop's box says its counter's last change and counts.
        assert "n_iteration_completed: 3 -&gt; 4  (set 4x, 4 changes)" in src
        assert "every=2] x2" in src  # the counter fired twice
        assert "#d62728" in src
        src = toy.render(tmp_path / "traced.dot", trace=t, level="variables").read_text()
        assert "set x4, 4 changes" in src and 'label="every=2 x2"' in src

    @needs_dot
    def test_render_svg_with_trace(self, toy: State, tmp_path: Path) -> None:
        """Rendering a trace to SVG works with real dot."""
        with toy.trace() as t:
            toy.engines.loop.run(2)
        assert "<svg" in toy.render(tmp_path / "t.svg", trace=t).read_text()


class TestOverview:
    def test_tree_with_values(self, toy: State) -> None:
        """overview() lists containers, variables with values, nodes with their class."""
        text = toy.overview()
        lines = text.splitlines()
        assert lines[0] == "State"
        assert "├── configs" in lines
        assert "│   ├── lr = 0.1" in lines
        assert any(line.endswith("loop (Loop)") for line in lines)
        assert any(line.endswith("n_iteration_completed = 0") for line in lines)
        assert any(line.endswith("batch = None") for line in lines)
        assert lines[-1].startswith("└── (empty: params, modules")

    def test_str_is_overview(self, toy: State) -> None:
        """str(state) is the overview and follows the values."""
        toy.engines.loop.run(3)
        assert str(toy) == toy.overview()
        assert "n_iteration_completed = 3" in str(toy)
        assert "batch = <object>" in str(toy)

    def test_long_values_summarised(self, state: State) -> None:
        """Long values are cut to one short line."""
        state.configs.words = "w" * 200
        state.configs.table = {"a": 1, "b": 2}
        text = state.overview()
        assert "words = 'wwwwww" in text and "w" * 100 not in text
        assert "table = dict(2 keys)" in text


class TestTrace:
    def test_records_writer_old_new_depth(self, state: State, counter: Counter) -> None:
        """Each set is recorded with who set it, old -> new, and causal depth."""
        state.configs.x_ref.subscribe(counter.step)
        with state.trace() as t:
            state.configs.x = 1
        first, second = t.entries
        assert isinstance(first, TraceEntry)
        assert (first.path, first.old, first.new, first.depth, first.changed) == (
            "configs.x",
            "0",
            "1",
            0,
            True,
        )
        assert first.writer.startswith("test_core_render.py:")
        assert (second.path, second.writer, second.depth) == (
            "handlers.counter.n",
            "counter (Counter)",
            1,
        )
        assert t.fire_counts == {("configs.x", "handlers.counter"): 1}
        assert t.set_counts == {"configs.x": 1, "handlers.counter.n": 1}

    def test_text(self, state: State) -> None:
        """str(trace) lists the sets, unchanged ones flagged, nested ones indented."""
        state.configs.y = 0

        def relay(event: Any) -> None:
            state.configs.y = event.new * 10

        state.configs.x_ref.subscribe(relay)
        with state.trace() as t:
            state.configs.x = 2
            state.configs.x = 2
        lines = str(t).splitlines()
        assert lines[0] == "trace: 3 sets"
        assert "configs.x: 0 -> 2  by test_core_render.py:" in lines[1]
        assert "  configs.y: 0 -> 20  by TestTrace.test_text.relay (" in lines[2]
        assert lines[3].endswith("(unchanged)")
        assert [e.changed for e in t.entries] == [True, True, False]

    def test_maxlen_bounds_buffer(self, state: State) -> None:
        """Only the last maxlen entries are kept; counts cover everything."""
        with state.trace(maxlen=3) as t:
            for v in range(1, 11):
                state.configs.x = v
        assert len(t) == 3 and t.n_sets == 10
        assert [e.new for e in t.entries] == ["8", "9", "10"]
        assert [e.seq for e in t.entries] == [8, 9, 10]
        assert t.set_counts["configs.x"] == 10
        assert "trace: 10 sets (7 oldest dropped, maxlen=3)" in str(t)

    def test_bad_maxlen(self, state: State) -> None:
        """maxlen must be a positive int."""
        with pytest.raises(ValueError, match="maxlen must be a positive integer"):
            state.trace(maxlen=0)

    def test_inactive_after_exit(self, state: State) -> None:
        """A finished trace records nothing more and cannot be re-entered."""
        with state.trace() as t:
            assert isinstance(t, Trace) and t.active
            state.configs.x = 1
        state.configs.x = 2
        assert t.n_sets == 1 and not t.active
        with pytest.raises(RuntimeError, match="this trace has ended"), t:
            pass

    def test_nested_traces(self, state: State) -> None:
        """An outer trace also records what an inner trace records."""
        with state.trace() as outer:
            state.configs.x = 1
            with state.trace() as inner:
                state.configs.x = 2
            state.configs.x = 3
        assert (outer.n_sets, inner.n_sets) == (3, 1)

    def test_node_write_attributed(self, state: State, loop: Loop) -> None:
        """Sets made inside writing_as(node) are attributed to the node."""
        with state.trace() as t:
            loop.run(1)
        assert {e.writer for e in t.entries} == {"loop (Loop)"}
        assert [e.path for e in t.entries] == [
            "engines.loop.batch",
            "engines.loop.n_iteration_completed",
        ]
