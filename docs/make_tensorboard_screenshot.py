"""Screenshots of the example's charts in a real TensorBoard, for docs/tensorboard.md.

Runs ``examples/mnist_with_tensorboard.py``, starts TensorBoard on its log dir on a free
localhost port, and photographs the custom-scalars page and the scalars page with
headless Chromium (Debian: ``apt-get install chromium``) into ``docs/images/``.

TensorBoard keeps "ignore outliers in chart scaling" in the browser's localStorage, not
in the URL, and with it on the evaluators' losses leave the chart. So Chromium talks to
TensorBoard through a small same-origin proxy that serves one extra page, which turns
that setting off and then opens the dashboard.

    python docs/make_tensorboard_screenshot.py [--epochs 4] [--keep DIR]
"""

from __future__ import annotations

import argparse
import http.server
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"
PREPARE = "/__prepare_screenshot"
PAGES = {  # file name -> dashboard fragment (smoothing off: the values as logged)
    "tensorboard_custom_scalars.png": "custom_scalars&_smoothingWeight=0",
    "tensorboard_scalars.png": "scalars&_smoothingWeight=0",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until_up(url: str, server: subprocess.Popen[bytes], timeout: float = 60.0) -> None:
    """Poll ``url`` until it answers 200 and lists the custom-scalars plugin as active."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            sys.exit(f"tensorboard exited with code {server.returncode}")
        try:
            with urllib.request.urlopen(url + "/data/plugins_listing", timeout=2) as answer:
                if b'"custom_scalars"' in answer.read():
                    with urllib.request.urlopen(url + "/data/runs", timeout=2) as runs:
                        if runs.read().strip() not in (b"", b"[]"):
                            return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    sys.exit(f"tensorboard did not answer at {url} within {timeout:.0f} s")


def start_proxy(target: str) -> tuple[http.server.ThreadingHTTPServer, str]:
    """A localhost proxy to ``target`` that also serves ``PREPARE?next=<fragment>``."""

    class Proxy(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def do_GET(self) -> None:
            if self.path.startswith(PREPARE):
                fragment = self.path.partition("next=")[2]
                page = (
                    "<script>localStorage.setItem('_ignoreYOutliers', 'false');"
                    f"location.replace('/#{fragment}');</script>"
                ).encode()
                self._answer(200, {"Content-Type": "text/html"}, page)
            else:
                self._forward(None)

        def do_POST(self) -> None:
            self._forward(self.rfile.read(int(self.headers.get("Content-Length") or 0)))

        def _forward(self, body: bytes | None) -> None:
            headers = {
                k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")
            }
            request = urllib.request.Request(
                target + self.path, data=body, headers=headers, method=self.command
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    self._answer(answer.status, dict(answer.headers.items()), answer.read())
            except urllib.error.HTTPError as error:
                self._answer(error.code, dict(error.headers.items()), error.read())

        def _answer(self, code: int, headers: dict[str, str], body: bytes) -> None:
            self.send_response(code)
            for key, value in headers.items():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Proxy)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    return proxy, f"http://127.0.0.1:{proxy.server_address[1]}"


def screenshot(chromium: str, url: str, png: Path, budget_ms: int) -> None:
    with tempfile.TemporaryDirectory() as profile:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--window-size=1400,1000",
                f"--virtual-time-budget={budget_ms}",
                f"--screenshot={png}",
                url,
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=120,
        )
    if not png.exists() or png.stat().st_size == 0:
        sys.exit(f"chromium wrote no screenshot for {url}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--budget-ms", type=int, default=15000, help="Chromium's virtual time")
    parser.add_argument("--keep", type=Path, help="run the example into DIR and keep it")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    args = parser.parse_args()
    if not Path(args.chromium).exists():
        sys.exit("no chromium: apt-get update && apt-get install -y chromium")
    python = sys.executable
    tensorboard = str(Path(python).with_name("tensorboard"))

    with tempfile.TemporaryDirectory() as tmp:
        output_dir = args.keep or Path(tmp) / "digits"
        subprocess.run(
            [
                python,
                str(ROOT / "examples" / "mnist_with_tensorboard.py"),
                "--epochs",
                str(args.epochs),
                "--no-progress",
                "--output-dir",
                str(output_dir),
            ],
            check=True,
            cwd=ROOT,
        )
        port = free_port()
        command = [tensorboard, "--logdir", str(output_dir / "tb"), "--host", "127.0.0.1"]
        server = subprocess.Popen(
            [*command, "--port", str(port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        proxy = None
        try:
            wait_until_up(f"http://127.0.0.1:{port}", server)
            proxy, url = start_proxy(f"http://127.0.0.1:{port}")
            IMAGES.mkdir(parents=True, exist_ok=True)
            for name, fragment in PAGES.items():
                screenshot(
                    args.chromium, f"{url}{PREPARE}?next={fragment}", IMAGES / name, args.budget_ms
                )
                print(IMAGES / name)
        finally:
            if proxy is not None:
                proxy.shutdown()
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
