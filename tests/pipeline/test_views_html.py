"""The HTML view without a browser: the page's document, the self-contained
page, the live server's routes and snapshot, and their error messages."""

from __future__ import annotations

import gc
import json
import re
import socket
import sys
import threading
import urllib.error
import urllib.request
import weakref
from pathlib import Path
from typing import Any

import pytest
from core_toys import Counter, Loop

from pipeline import State
from pipeline.views import html
from pipeline.views.html import page_document, page_html
from pipeline.views.live import LiveServer, StateGone, snapshot


@pytest.fixture
def toy(state: State, loop: Loop, counter: Counter) -> State:
    """A loop and a counter subscribed every 2 iterations."""
    loop.n_iteration_completed_ref.subscribe(counter.step, every=2)
    return state


def get(url: str) -> tuple[int, str, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.headers["Content-Type"], response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read()


class TestDocument:
    def test_levels_homes_and_variables(self, toy: State) -> None:
        """Every level's model; each finer box folds into a box of the next coarser level."""
        doc = page_document(toy)
        assert set(doc["levels"]) == {"containers", "nodes", "variables"}
        assert doc["levels"]["nodes"] == {
            **toy.view_model("nodes"),
            "boxes": doc["levels"]["nodes"]["boxes"],
        }
        nodes_ids = {b["id"] for b in doc["levels"]["nodes"]["boxes"]}
        homes = doc["homes"]["variables"]
        assert homes["engines.loop.n_iteration_completed"] == "engines.loop"
        assert homes["engines.loop"] == "engines.loop"
        assert set(homes.values()) <= nodes_ids
        assert doc["homes"]["nodes"]["engines.loop"] == "engines"
        var = doc["variables"]["engines.loop.n_iteration_completed"]
        assert var["subscribers"][0]["filter"] == "every=2"
        assert all("variables" not in b for lv in doc["levels"].values() for b in lv["boxes"])

    def test_trace_entries_and_writers(self, toy: State) -> None:
        """A trace's entries travel as rows; writer labels map to their keys."""
        with toy.trace() as trace:
            toy.engines.loop.run(2)
        doc = page_document(toy, trace)
        first = trace.entries[0]
        assert doc["entries"][0] == [
            first.seq,
            first.path,
            first.writer,
            first.old,
            first.new,
            first.depth,
            first.changed,
        ]
        assert doc["writers"]["loop (Loop)"] == "engines.loop"
        assert doc["levels"]["nodes"]["trace"]["n_sets"] == trace.n_sets

    def test_entries_capped(self, toy: State, monkeypatch: pytest.MonkeyPatch) -> None:
        """Only the most recent entries go into the page."""
        monkeypatch.setattr(html, "MAX_ENTRIES", 3)
        with toy.trace() as trace:
            toy.engines.loop.run(5)
        doc = page_document(toy, trace)
        assert [row[0] for row in doc["entries"]] == [e.seq for e in trace.entries][-3:]

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"level": "boxes"}, "level must be one of containers, nodes, variables, got 'boxes'"),
            ({"focus": "configs.nope"}, "focus 'configs.nope' names no variable"),
            ({"depth": -1, "focus": "configs.lr"}, "depth must be a non-negative int"),
        ],
    )
    def test_bad_arguments(self, toy: State, kwargs: dict[str, Any], message: str) -> None:
        """The model's own checks, at the call."""
        with pytest.raises(ValueError, match=re.escape(message)):
            page_document(toy, **kwargs)


class TestPage:
    def test_htm_is_a_page_too(self, toy: State, tmp_path: Path) -> None:
        """'.htm' writes the same interactive page as '.html'."""
        html_text = toy.render(tmp_path / "g.html").read_text()
        assert toy.render(tmp_path / "g.htm").read_text() == html_text
        assert html_text.startswith("<!DOCTYPE html>")

    def test_self_contained(self, toy: State, tmp_path: Path) -> None:
        """render('.html') writes one file with the libraries and the document inline."""
        out = toy.render(tmp_path / "sub" / "graph.HTML")
        text = out.read_text()
        assert out == tmp_path / "sub" / "graph.HTML"
        assert "cytoscape" in text and "cytoscapeDagre" in text
        assert not re.search(r"<(script|link)[^>]+(src|href)=", text)
        payload = re.search(
            r'<script id="statefire-document" type="application/json">(.*?)</script>', text, re.S
        )
        assert payload is not None
        assert json.loads(payload.group(1))["start"] == {
            "level": "nodes",
            "focus": None,
            "depth": 2,
        }

    def test_values_cannot_end_the_script(self, state: State) -> None:
        """A value holding </script> stays inside the JSON document."""
        state.configs.note = "</script><script>alert(1)</script>"
        text = page_html(page_document(state))
        assert text.count("</script>") == text.count("<script")
        payload = text.split('type="application/json">', 1)[1].split("</script>", 1)[0]
        notes = json.loads(payload)["variables"]["configs.note"]["value"]
        assert notes.startswith("'</script><script>")

    def test_focus_and_level_start_the_page(self, toy: State, tmp_path: Path) -> None:
        """level, focus and depth of render() are where the page opens."""
        out = toy.render(tmp_path / "g.html", level="containers", focus="configs.lr", depth=1)
        assert '"start":{"level":"containers","focus":"configs.lr","depth":1}' in out.read_text()

    def test_template_marker_missing(
        self, toy: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A template without a marker fails saying which."""
        (tmp_path / "page.html").write_text("<html></html>")
        for name in ("page.css", "page.js", *html.LIBRARIES):
            (tmp_path / name).write_text("")
        monkeypatch.setattr(html, "STATIC", tmp_path)
        with pytest.raises(RuntimeError, match=r"page\.html lacks /\*STATEFIRE_STYLE\*/"):
            page_html(page_document(toy))

    def test_script_with_closing_tag_refused(
        self, toy: State, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A library that would end the inline script is refused, not written broken."""
        for name in ("page.html", "page.css", "page.js", *html.LIBRARIES):
            (tmp_path / name).write_text((html.STATIC / name).read_text())
        (tmp_path / "page.js").write_text("var s = '</script>';")
        monkeypatch.setattr(html, "STATIC", tmp_path)
        with pytest.raises(RuntimeError, match=r"page\.js contains '</script'"):
            page_html(page_document(toy))


class TestLiveServer:
    def test_routes(self, toy: State) -> None:
        """/, /snapshot.json and /document.json answer; anything else is a 404 that says why."""
        toy.engines.loop.run(3)
        with toy.serve() as server:
            assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", server.url)
            assert server.port == int(server.url.rsplit(":", 1)[1].strip("/"))
            code, kind, body = get(server.url)
            assert (code, kind) == (200, "text/html; charset=utf-8")
            assert b'"live":true' in body
            code, kind, body = get(server.url + "snapshot.json")
            snap = json.loads(body)
            assert (code, kind) == (200, "application/json")
            assert isinstance(snap["build_ms"], float) and snap["build_ms"] >= 0
            assert snap["variables"]["engines.loop.n_iteration_completed"] == "3"
            (sub,) = snap["subscriptions"]
            assert (sub["path"], sub["subscriber"], sub["filter"]) == (
                "engines.loop.n_iteration_completed",
                "handlers.counter",
                "every=2",
            )
            assert (sub["fired"], sub["seen"]) == (1, 3)
            code, _, body = get(server.url + "document.json")
            assert code == 200 and json.loads(body)["live"] is True
            code, _, body = get(server.url + "nope")
            assert code == 404 and b"no such page: /nope" in body

    def test_snapshot_follows_the_state(self, toy: State) -> None:
        """A snapshot reads the values as they are now."""
        before = snapshot(toy)["variables"]["engines.loop.n_iteration_completed"]
        toy.engines.loop.run(2)
        assert (before, snapshot(toy)["variables"]["engines.loop.n_iteration_completed"]) == (
            "0",
            "2",
        )

    def test_close_stops_serving_and_releases(self) -> None:
        """After close() the port is free, a second close is harmless, the state is let go."""
        state = State()
        server = state.serve()
        url = server.url
        assert repr(server) == f"<LiveServer {url} serving>"
        server.close()
        server.close()
        assert not server.active and repr(server) == f"<LiveServer {url} closed>"
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(url + "snapshot.json", timeout=2)
        for read in (server.snapshot, server.document, server.page):
            with pytest.raises(RuntimeError, match="this live server is closed"):
                read()
        gone = weakref.ref(state)
        del state
        gc.collect()
        assert gone() is None

    def test_state_not_kept_alive(self) -> None:
        """A server never closed does not keep its state alive; it answers 503 after."""
        state = State()
        state.configs.lr = 0.1
        with state.serve() as server:
            gone = weakref.ref(state)
            del state
            gc.collect()
            assert gone() is None and not server.active
            code, _, body = get(server.url + "snapshot.json")
            assert code == 503 and b"the state this live server showed was collected" in body
            with pytest.raises(StateGone, match=r"collected; serve the new one"):
                server.page()

    def test_unexpected_error_answers_500(
        self, toy: State, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An error other than a race is answered 500 with its message, not a dropped socket."""

        def broken(state: State) -> dict[str, Any]:
            raise ValueError("no summary for this value")

        monkeypatch.setattr("pipeline.views.live.snapshot", broken)
        with toy.serve() as server:
            code, kind, body = get(server.url + "snapshot.json")
        assert (code, kind) == (500, "text/plain; charset=utf-8")
        assert body == b"the live view failed: ValueError: no summary for this value"

    def test_a_read_that_keeps_meeting_changes(
        self, toy: State, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A read that meets a changing state every time is answered 503, saying so and
        how often it tried; the page keeps the last one it built."""
        tries: list[State] = []

        def changing(state: State, **kwargs: Any) -> dict[str, Any]:
            tries.append(state)
            raise RuntimeError("dictionary changed size during iteration")

        with toy.serve() as server:
            page = server.page()
            monkeypatch.setattr("pipeline.views.live.snapshot", changing)
            monkeypatch.setattr("pipeline.views.live.page_document", changing)
            code, _, body = get(server.url + "snapshot.json")
            assert code == 503 and len(tries) == 5
            assert body == (
                b"the state changed while it was read, 5 times in a row (RuntimeError: "
                b"dictionary changed size during iteration); ask again (the live page does, "
                b"every second)"
            )
            with pytest.raises(RuntimeError, match=r"changed while it was read, 5 times"):
                server.document()
            assert server.page() == page and len(tries) == 15

    def test_reads_in_the_middle_of_a_registration(self) -> None:
        """A read at any step of registering a node or a variable finds every
        entry it sees complete (the graph and the slots are filled first)."""
        state = State()
        base = len(snapshot(state)["variables"])
        reads: list[int] = []
        with LiveServer(state) as server:
            add_node = state._graph.add_node

            def add_node_and_read(key: str, **attrs: Any) -> None:
                add_node(key, **attrs)
                assert server.document()["live"] is True
                assert server.page().startswith("<!DOCTYPE html>")
                reads.append(len(server.snapshot()["variables"]) - base)

            state._graph.add_node = add_node_and_read  # type: ignore[method-assign]
            state.metrics.loss = 0.5
            Counter(state, "counter")
        assert reads == [1, 1, 2, 3]

    def test_reads_while_the_loop_registers(self) -> None:
        """document(), page() and snapshot() succeed while another thread adds
        nodes and variables (each read meets half-registered entries otherwise), or,
        when every retry met a change, say so (the 503 the page asks again after);
        never another error."""
        states = [State() for _ in range(40)]
        servers = [LiveServer(s) for s in states]
        current = [servers[0]]
        done = threading.Event()
        errors: list[BaseException] = []

        def read() -> None:
            while not done.is_set():
                server = current[0]
                try:
                    assert server.document()["live"] is True
                    assert server.page().startswith("<!DOCTYPE html>")
                    assert isinstance(server.snapshot()["variables"], dict)
                except RuntimeError as exc:
                    if "the state changed while it was read" not in str(exc):
                        errors.append(exc)
                        return
                except BaseException as exc:  # reported below
                    errors.append(exc)
                    return

        interval = sys.getswitchinterval()
        sys.setswitchinterval(1e-6)
        reader = threading.Thread(target=read)
        reader.start()
        try:
            for state, server in zip(states, servers, strict=True):
                current[0] = server
                for i in range(15):
                    setattr(state.metrics, f"m{i}", float(i))
                    Counter(state, f"c{i}")
        finally:
            sys.setswitchinterval(interval)
            done.set()
            reader.join()
            for server in servers:
                server.close()
        assert errors == []

    @pytest.mark.parametrize("port", [-1, 70000, 1.5])
    def test_bad_port(self, toy: State, port: Any) -> None:
        """A port outside 0-65535 is refused, saying what is accepted."""
        with pytest.raises(ValueError, match=r"port must be an int from 0 \(any free port\)"):
            toy.serve(port=port)

    def test_port_taken(self, toy: State) -> None:
        """A port in use fails at the call, naming it and the way out."""
        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            with pytest.raises(OSError, match=rf"127\.0\.0\.1:{port}: .*pass port=0"):
                toy.serve(port=port)

    def test_bad_level(self, toy: State) -> None:
        """An unknown level fails at serve(), before any thread starts."""
        before = set(threading.enumerate())
        with pytest.raises(ValueError, match="level must be one of"):
            LiveServer(toy, level="everything")
        started = [t.name for t in set(threading.enumerate()) - before]
        assert started == []
