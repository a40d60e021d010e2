"""A real TensorBoard server on a free localhost port, and what its dashboards draw, read
from headless Chromium with TensorBoard's default settings (a fresh browser profile: no
stored setting, no URL parameter).

Used by ``docs/make_tensorboard_screenshot.py`` (the pictures of docs/tensorboard.md) and
by the browser test of the TensorBoard nodes. Needs the ``playwright`` Python package and
Chromium (Debian: ``apt-get install chromium``).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Every line chart of the page (they live in shadow DOMs): its card's title (a custom
# scalars chart) or tag (a Scalars chart), its category, the y range TensorBoard chose,
# the settings it drew with, and each series with its colour and points.
PROBE = """
() => {
  const all = (root, acc) => {
    for (const el of root.querySelectorAll('*')) {
      acc.push(el);
      if (el.shadowRoot) all(el.shadowRoot, acc);
    }
    return acc;
  };
  const up = (node, test) => {
    for (let n = node; n; n = n.parentNode || n.host) { if (test(n)) return n; }
    return null;
  };
  return all(document, []).filter(e => e.tagName === 'VZ-LINE-CHART2' && e._chart).map(lc => {
    const ch = lc._chart;
    const card = up(lc, n => n.tagName === 'TF-CUSTOM-SCALAR-MULTI-LINE-CHART-CARD'
                               || n.tagName === 'TF-SCALAR-CARD');
    const view = up(lc, n => n.tagName === 'TF-CATEGORY-PAGINATED-VIEW');
    return {
      title: card ? (card.title || card.tag || '') : '',
      category: view && view.category ? view.category.name : '',
      domain: ch.yScale.domain(),
      ignoreOutliers: ch._ignoreYOutliers,
      smoothing: ch.smoothingEnabled ? ch.smoothingWeight : 0,
      series: ch.datasets.map(d => ({
        name: d.metadata().name,
        color: ch.colorScale.scale(d.metadata().name),
        points: d.data().map(p => [p.step, p.scalar, p.smoothed]),
      })),
    };
  });
}
"""


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def tensorboard_server(log_dir: Path, timeout: float = 60.0) -> Iterator[str]:
    """Run ``tensorboard --logdir log_dir`` on a free localhost port; yield its URL once it
    lists the custom-scalars plugin and the runs."""
    port = free_port()
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(log_dir)]
    server = subprocess.Popen(
        [*command, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if server.poll() is not None:
                error = server.stderr.read().decode()[-2000:] if server.stderr else ""
                raise RuntimeError(f"tensorboard exited with code {server.returncode}: {error}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"tensorboard did not answer at {url} within {timeout:.0f} s")
            with contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError):
                with urllib.request.urlopen(url + "/data/plugins_listing", timeout=2) as answer:
                    active = b'"custom_scalars"' in answer.read()
                with urllib.request.urlopen(url + "/data/runs", timeout=2) as answer:
                    if active and answer.read().strip() not in (b"", b"[]"):
                        break
            time.sleep(0.3)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=10)


def read_charts(
    page: Any, wanted: set[tuple[str, str]], timeout_ms: int = 30000
) -> list[dict[str, Any]]:
    """The line charts of the page once every ``(category, title)`` of ``wanted`` is drawn
    with all its series loaded (each with points)."""
    deadline = time.monotonic() + timeout_ms / 1000
    while True:
        charts: list[dict[str, Any]] = page.evaluate(PROBE)
        loaded = {
            (c["category"], c["title"])
            for c in charts
            if c["series"] and all(s["points"] for s in c["series"])
        }
        if wanted <= loaded:
            page.wait_for_timeout(1000)  # let the last requests land, then read again
            return list(page.evaluate(PROBE))
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"charts {sorted(wanted - loaded)} were not drawn after {timeout_ms} ms; "
                f"drawn: {sorted(loaded)}"
            )
        page.wait_for_timeout(300)


def clipped(chart: dict[str, Any]) -> tuple[int, int]:
    """How many of a chart's points (as logged, and smoothed) lie outside its y range, and
    how many it draws."""
    low, high = chart["domain"]
    values = [
        value
        for series in chart["series"]
        for _, raw, smoothed in series["points"]
        for value in (raw, smoothed)
    ]
    return sum(not low <= value <= high for value in values), len(values)
