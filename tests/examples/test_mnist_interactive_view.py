"""The interactive view of the README's three-engine example in headless Chromium:
the page of a traced epoch draws the model's boxes, a click on the trainer
shows its counters, and the live page follows the trainer while it trains."""

from __future__ import annotations

import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest
import torch
from browser import Page

from pipeline import State

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "mnist_with_tensorboard.py"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mnist_with_tensorboard", EXAMPLE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def example_state(tmp_path: Path) -> State:
    """The example's whole training on a new state (digits, CPU), not run yet."""
    torch.set_num_threads(1)
    example = load_example()
    args = example.parse_args(["--output-dir", str(tmp_path), "--no-progress", "--device", "cpu"])
    state: State = example.build_state(args)
    return state


def test_traced_epoch_page(
    example_state: State, tmp_path: Path, open_page: Callable[[str], Page]
) -> None:
    """One traced epoch: the page draws every box of the nodes level; the trainer's panel
    shows its epoch counter and what its subscribers decided."""
    with example_state.trace() as trace:
        example_state.trainer.run(max_epochs=1)
    example_state.tensorboard.close()
    path = example_state.render(tmp_path / "graph.html", trace=trace)
    page = open_page(path.as_uri())
    n = page.wait_drawn()
    assert n == len(example_state.view_model("nodes")["boxes"]) > 0
    page.click_box("engines.trainer")
    panel = page.page.locator("#panel")
    row = panel.locator('tr[data-path="engines.trainer.n_epoch_completed"]')
    assert row.locator("td.value").inner_text() == "1"
    row.click()
    assert "fired" in panel.locator(".var-detail").inner_text()
    assert page.errors == []


def test_live_page_follows_training(example_state: State, open_page: Callable[[str], Page]) -> None:
    """While the trainer runs in a thread (stopped at the end), the live page's iteration
    counter goes up."""
    trainer = example_state.trainer
    with example_state.serve() as server:
        page = open_page(server.url)
        page.wait_drawn()
        thread = threading.Thread(target=trainer.run, kwargs={"max_epochs": 100}, daemon=True)
        thread.start()
        try:
            page.page.wait_for_function("Number(document.body.dataset.updates) >= 1")
            page.click_box("engines.trainer")
            cell = page.page.locator(
                '#panel tr[data-path="engines.trainer.n_iteration_completed"] td.value'
            )
            page.page.wait_for_function(
                "() => Number(document.querySelector("
                "'#panel tr[data-path=\"engines.trainer.n_iteration_completed\"] td.value')"
                ".textContent) > 0",
                timeout=30_000,
            )
            first = int(cell.inner_text())
            page.page.wait_for_function(
                "n => Number(document.querySelector("
                "'#panel tr[data-path=\"engines.trainer.n_iteration_completed\"] td.value')"
                ".textContent) > n",
                arg=first,
                timeout=30_000,
            )
            assert int(cell.inner_text()) > first
        finally:
            trainer.terminate()
            thread.join(timeout=60)
            example_state.tensorboard.close()
