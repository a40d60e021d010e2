"""Screenshots of the interactive view of the README's example, for docs/live.md.

Builds the state of ``examples/mnist_with_tensorboard.py`` (digits, CPU), trains
one epoch under a trace, writes the page with ``state.render("graph.html",
trace=t)`` and photographs it at 100% zoom in headless Chromium (Debian:
``apt-get install chromium``; the ``playwright`` package drives it): the first
view, and the view after a click on the trainer (its side panel open).

    python docs/make_page_screenshot.py [--keep DIR]
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
import tempfile
from pathlib import Path

from chromium_setup import CHROMIUM, FLAGS, missing

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"


def write_page(out: Path) -> Path:
    """The example's state after one traced epoch, as an interactive page."""
    import torch

    torch.set_num_threads(1)
    spec = importlib.util.spec_from_file_location(
        "example", ROOT / "examples/mnist_with_tensorboard.py"
    )
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    args = example.parse_args(["--output-dir", str(out), "--no-progress", "--device", "cpu"])
    state = example.build_state(args)
    with state.trace() as trace:
        state.trainer.run(max_epochs=1)
    state.tensorboard.close()
    path: Path = state.render(out / "graph.html", trace=trace)
    return path


def photograph(page_path: Path) -> list[Path]:
    from playwright.sync_api import sync_playwright

    shots = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1600, "height": 960})
        page.goto(page_path.as_uri())
        page.wait_for_selector("body:not([data-nodes=''])")
        shots.append(IMAGES / "interactive_view.png")
        page.screenshot(path=str(shots[-1]))
        page.evaluate(
            "() => { statefireView.cy.getElementById('engines.trainer').emit('tap');"
            " document.querySelector('#panel tr[data-path=\"engines.trainer.n_epoch_completed\"]')"
            ".click(); }"
        )
        shots.append(IMAGES / "interactive_view_panel.png")
        page.screenshot(path=str(shots[-1]))
        browser.close()
    return shots


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keep", type=Path, help="write the example's outputs and page here")
    args = parser.parse_args()
    reason = missing()
    if reason is not None:
        print(f"skipped: {reason}", file=sys.stderr)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp)
        out.mkdir(parents=True, exist_ok=True)
        for shot in photograph(write_page(out)):
            print(f"wrote {shot.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
