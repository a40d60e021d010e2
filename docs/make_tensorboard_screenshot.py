"""Screenshots of the example's charts in a real TensorBoard, for docs/tensorboard.md.

Runs ``examples/mnist_with_tensorboard.py``, starts TensorBoard on its log dir on a free
localhost port, and photographs the Custom Scalars, Scalars and Text pages with headless
Chromium (Debian: ``apt-get install chromium``) into ``docs/images/``. The browser starts
with a fresh profile and the URLs carry no setting: the pictures show TensorBoard's
defaults ("ignore outliers in chart scaling" on, smoothing 0.6), what a user gets. For
each chart it prints how many points lie outside the y range TensorBoard chose.

    python docs/make_tensorboard_screenshot.py [--epochs 12] [--keep DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from chromium_setup import CHROMIUM, FLAGS
from tensorboard_browser import clipped, read_charts, tensorboard_server

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
COMPARISON = "engines comparison"
# file name -> (dashboard, the charts to wait for: (category, title))
PAGES = {
    "tensorboard_custom_scalars.png": (
        "custom_scalars",
        {(COMPARISON, "accuracy"), (COMPARISON, "loss"), (COMPARISON, "loss (every iteration)")},
    ),
    "tensorboard_scalars.png": (
        "scalars",
        {("epoch", "epoch/accuracy"), ("epoch", "epoch/loss")},
    ),
    "tensorboard_text.png": ("text", set()),
}


def run_example(output_dir: Path, epochs: int) -> None:
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "examples" / "mnist_with_tensorboard.py"),
            "--epochs",
            str(epochs),
            # the example's own defaults, as `make run` trains
            "--no-progress",
            "--output-dir",
            str(output_dir),
        ],
        check=True,
        cwd=ROOT,
    )


def photograph(url: str) -> None:
    """Each page of PAGES in a fresh browser context (no stored setting), once drawn."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        for name, (dashboard, wanted) in PAGES.items():
            context = browser.new_context(viewport={"width": 1400, "height": 1000})
            page = context.new_page()
            page.goto(f"{url}/#{dashboard}")
            if wanted:
                for chart in read_charts(page, wanted):
                    outside, total = clipped(chart)
                    print(
                        f"  {dashboard}: {chart['category']} / {chart['title']}: "
                        f"{len(chart['series'])} series, y range {chart['domain']}, "
                        f"{outside} of {total} points outside it"
                    )
            else:
                page.wait_for_timeout(5000)
            page.screenshot(path=str(IMAGES / name))
            print(IMAGES / name)
            context.close()
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--epochs", type=int, default=12, help="as `make run`")
    parser.add_argument("--keep", type=Path, help="run the example into DIR and keep it")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        sys.exit("no chromium: apt-get update && apt-get install -y chromium")
    IMAGES.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        output_dir = args.keep or Path(tmp) / "digits"
        run_example(output_dir, args.epochs)
        with tensorboard_server(output_dir / "tb") as url:
            photograph(url)


if __name__ == "__main__":
    main()
