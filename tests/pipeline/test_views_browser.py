"""The HTML view in a real browser (headless Chromium): the page drawn from a
file, a click that opens the side panel, expand and collapse, search, replay
of a trace, and the live page following a running loop."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from browser import Page
from core_toys import Counter, Loop

from pipeline import State


@pytest.fixture
def toy(state: State, loop: Loop, counter: Counter) -> State:
    """A loop, a counter every 2 iterations, a callback on lr."""
    loop.n_iteration_completed_ref.subscribe(counter.step, every=2)

    def log_lr() -> None:
        state.configs.x = state.configs.lr

    state.configs.lr_ref.subscribe(log_lr, reads=[state.configs.lr_ref])
    return state


class TestFilePage:
    def test_draws_every_box_of_the_model(
        self, toy: State, tmp_path: Path, open_page: Callable[[str], Page]
    ) -> None:
        """From file://, the page draws the model's boxes and fetches nothing."""
        path = toy.render(tmp_path / "graph.html")
        page = open_page(path.as_uri())
        n = page.wait_drawn()
        model = toy.view_model("nodes")
        assert n == len(model["boxes"]) > 0
        assert sorted(page.box_ids()) == sorted(b["id"] for b in model["boxes"])
        assert int(page.body("edges")) == len(model["edges"])
        assert page.body("level") == "nodes"
        assert all(url.startswith(("file:", "data:", "about:")) for url in page.requests)
        assert page.errors == []

    def test_click_opens_the_panel_with_values(
        self, toy: State, tmp_path: Path, open_page: Callable[[str], Page]
    ) -> None:
        """A click on a node shows its variables and values; a row opens their details."""
        toy.engines.loop.run(3)
        page = open_page(toy.render(tmp_path / "graph.html").as_uri())
        page.wait_drawn()
        page.click_box("engines.loop")
        assert page.body("selected") == "engines.loop"
        panel = page.page.locator("#panel")
        assert panel.get_attribute("data-box") == "engines.loop"
        row = panel.locator('tr[data-path="engines.loop.n_iteration_completed"]')
        assert row.locator("td.value").inner_text() == "3"
        row.click()
        detail = panel.locator(".var-detail")
        assert "fired 1 of 3" in detail.inner_text()
        assert "every=2" in detail.inner_text()

    def test_click_on_a_variable_box(
        self, toy: State, tmp_path: Path, open_page: Callable[[str], Page]
    ) -> None:
        """At the variables level a variable's box shows its value, writers and subscribers."""
        toy.configs.lr = 0.25
        path = toy.render(tmp_path / "graph.html", level="variables")
        page = open_page(path.as_uri())
        page.wait_drawn()
        page.click_box("configs.lr")
        text = page.page.locator("#panel").inner_text()
        assert "0.25" in text and "log_lr" in text and "fired 1 of 1" in text

    def test_expand_and_collapse(
        self, toy: State, tmp_path: Path, open_page: Callable[[str], Page]
    ) -> None:
        """A double-click opens a node into its variables; another closes it again."""
        page = open_page(toy.render(tmp_path / "graph.html").as_uri())
        n = page.wait_drawn()
        page.click_box("engines.loop", double=True)
        page.page.wait_for_function(f"document.body.dataset.nodes !== '{n}'")
        ids = page.box_ids()
        assert "engines.loop.n_iteration_completed" in ids and "engines.loop.batch" in ids
        assert int(page.body("nodes")) == n + 3  # its three variables
        page.click_box("engines.loop", double=True)
        page.page.wait_for_function(f"document.body.dataset.nodes === '{n}'")
        assert "engines.loop.batch" not in page.box_ids()

    def test_collapse_a_container_of_the_starting_level(
        self, toy: State, tmp_path: Path, open_page: Callable[[str], Page]
    ) -> None:
        """At the nodes level a container closes into its one box and opens again."""
        page = open_page(toy.render(tmp_path / "graph.html").as_uri())
        n = page.wait_drawn()
        page.click_box("engines", double=True)
        page.page.wait_for_function(f"document.body.dataset.nodes !== '{n}'")
        ids = page.box_ids()
        assert "engines" in ids and "engines.loop" not in ids
        assert page.page.evaluate("statefireView.cy.getElementById('engines').isParent()") is False
        page.click_box("engines", double=True)
        page.page.wait_for_function(f"document.body.dataset.nodes === '{n}'")
        assert "engines.loop" in page.box_ids()

    def test_opens_at_the_focus(
        self, toy: State, tmp_path: Path, open_page: Callable[[str], Page]
    ) -> None:
        """render(focus=...) opens with the focused variable drawn and selected."""
        path = toy.render(tmp_path / "graph.html", focus="loop.n_iteration_completed")
        page = open_page(path.as_uri())
        page.wait_drawn()
        assert page.body("selected") == "engines.loop.n_iteration_completed"
        assert "engines.loop.n_iteration_completed" in page.box_ids()
        assert page.page.locator("#panel").get_attribute("data-box") == (
            "engines.loop.n_iteration_completed"
        )

    def test_search_marks_matches(
        self, toy: State, tmp_path: Path, open_page: Callable[[str], Page]
    ) -> None:
        """Typing a name marks the boxes holding it; Enter selects the first."""
        page = open_page(toy.render(tmp_path / "graph.html").as_uri())
        page.wait_drawn()
        page.page.fill("#search", "n_iteration")
        assert page.body("matches") == "1"
        page.page.press("#search", "Enter")
        assert page.body("selected") == "engines.loop"

    def test_replay_of_a_trace(
        self, toy: State, tmp_path: Path, open_page: Callable[[str], Page]
    ) -> None:
        """With a trace the page steps through its entries, showing old -> new and the writer."""
        with toy.trace() as trace:
            toy.engines.loop.run(2)
        page = open_page(toy.render(tmp_path / "graph.html", trace=trace).as_uri())
        page.wait_drawn()
        assert page.page.locator("#replay").is_visible()
        page.page.click("#replay-start")
        assert page.body("replay") == "0"
        first = trace.entries[0]
        assert f"{first.path}: {first.old} -> {first.new}" in page.page.inner_text("#replay-text")
        page.page.click("#replay-next")
        assert page.body("replay") == "1"


@pytest.fixture
def running(toy: State) -> Iterator[State]:
    """The toy loop running in a thread, an iteration every 10 ms, until the test ends."""
    stop = threading.Event()

    def run() -> None:
        while not stop.is_set():
            toy.engines.loop.run(1)
            stop.wait(0.01)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield toy
    stop.set()
    thread.join(timeout=5)


class TestLivePage:
    def test_iteration_counter_advances(
        self, running: State, open_page: Callable[[str], Page]
    ) -> None:
        """The live page polls its server and shows the loop's counter going up."""
        with running.serve() as server:
            page = open_page(server.url)
            page.wait_drawn()
            page.page.wait_for_function("Number(document.body.dataset.updates) >= 1")
            page.click_box("engines.loop")
            cell = page.page.locator(
                '#panel tr[data-path="engines.loop.n_iteration_completed"] td.value'
            )
            first = int(cell.inner_text())
            updates = int(page.body("updates"))
            page.page.wait_for_function(
                f"Number(document.body.dataset.updates) >= {updates + 2}", timeout=10_000
            )
            later = int(cell.inner_text())
            assert later > first
            assert "live · update" in page.page.inner_text("#live")
            assert all(url.startswith(server.url) for url in page.requests)
            assert page.errors == []
