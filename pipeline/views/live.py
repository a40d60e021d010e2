"""The live view: a local HTTP server that shows a state's interactive page
while a run goes on (``state.serve()``).

What belongs here: the server, its routes and the snapshot of values and
counts the page polls. What does not: the page itself (``html.py``) and what
a box or an edge is (``model.py``).

The training loop pays nothing for it: the server runs in a daemon thread,
takes no lock and adds no hook; a snapshot is built on the server's thread
by reading the variables' current values and the subscriptions' counters,
which the loop keeps anyway (benchmarks/bench_live.py measures what it costs
the loop). A value read while the loop writes it is the old or the new one,
never a torn one: each read is one attribute read under the interpreter's
lock.

The loop may register nodes and variables while a request reads them: a
reader can then meet a dict that changed size or a name not yet in every
table, so each request reads again (up to ``RETRIES`` times). The server
holds the state weakly: a state dropped without ``close()`` is collected, and
the server answers 503 from then on.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import weakref
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, TypeVar

from pipeline.values import summarize
from pipeline.views.html import page_document, page_html
from pipeline.views.model import sub_info

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import TracebackType

    from pipeline.state import State

__all__ = ["LiveServer", "StateGone", "snapshot"]

_T = TypeVar("_T")

#: Value summaries in a snapshot are cut to this width (as in the side panel).
VALUE_WIDTH = 60

#: Reads of a state that the loop changed meanwhile are tried this many times.
RETRIES = 5

#: What a read that met the loop's registration raises (a dict changed size,
#: a path not yet in every table); reading again gets a consistent view.
_RACES = (RuntimeError, KeyError, AttributeError)


def snapshot(state: State) -> dict[str, Any]:
    """The variables' value summaries and the subscriptions' counts, now.

    Returns:
        ``{"time": <unix seconds>, "variables": {path: summary}, "subscriptions":
        [{"path", "subscriber", "callback", "filter", "fired", "seen"}, ...],
        "build_ms": <milliseconds this snapshot took>}``.
    """
    t0 = time.perf_counter()
    slots = list(state._slots.values())  # one C-level copy: safe while the loop adds variables
    variables = {slot.path: summarize(slot.value, width=VALUE_WIDTH) for slot in slots}
    subscriptions = [sub_info(sub) for slot in slots for sub in list(slot.subs)]
    build_ms = (time.perf_counter() - t0) * 1000
    return {
        "time": time.time(),
        "variables": variables,
        "subscriptions": subscriptions,
        "build_ms": round(build_ms, 3),
    }


class LiveServer:
    """A local HTTP server with a state's live page; see ``pipeline.State.serve``.

    Routes: ``/`` the interactive page (it polls ``snapshot.json`` every
    second), ``/snapshot.json`` (``snapshot``), ``/document.json`` (the
    page's whole document).

    Attributes:
        url: the page's address, such as ``"http://127.0.0.1:8765/"``.
        host: the address it listens on.
        port: the port it listens on (the one picked when asked for port 0).
    """

    def __init__(
        self, state: State, port: int = 0, host: str = "127.0.0.1", *, level: str = "nodes"
    ) -> None:
        """Start serving ``state`` in a daemon thread (the arguments of ``State.serve``).

        The server holds the state weakly: it does not keep a state alive,
        and answers 503 once the state is gone. ``close()`` (or ``with``)
        stops the thread and frees the port.

        Args:
            state: the state to show.
            port: the port to listen on; 0 takes any free port.
            host: the address to listen on.
            level: the page's first level, as for ``State.view``.

        Raises:
            ValueError: a port outside 0-65535 or an unknown level.
            OSError: the port is taken.
        """
        if type(port) is not int or not 0 <= port <= 65535:
            raise ValueError(f"port must be an int from 0 (any free port) to 65535, got {port!r}")
        self._ref: weakref.ref[State] | None = weakref.ref(state)
        self._level = level
        self._page = self._build_page(state)  # here, so that a bad level fails at the call
        handler = type("_Handler", (_Handler,), {"server_ref": self})
        try:
            self._httpd = ThreadingHTTPServer((host, port), handler)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"cannot serve the live view on {host}:{port}: {exc.strerror}; "
                "pass port=0 to take any free port",
            ) from exc
        self._httpd.daemon_threads = True
        self.host = host
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://{host}:{self.port}/"
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.5},
            name=f"statefire live view {self.url}",
            daemon=True,
        )
        self._thread.start()

    def _build_page(self, state: State) -> str:
        return page_html(page_document(state, level=self._level, live=True))

    def _state(self) -> State:
        """The state served, or ``StateGone`` / ``RuntimeError`` when there is none."""
        if self._ref is None:
            raise RuntimeError("this live server is closed")
        state = self._ref()
        if state is None:
            raise StateGone(
                "the state this live server showed was collected; serve the new one "
                "with state.serve()"
            )
        return state

    def _read(self, build: Callable[[State], _T]) -> _T:
        """``build(state)``, read again while it meets the loop's registration."""
        state = self._state()
        for _ in range(RETRIES - 1):
            try:
                return build(state)
            except _RACES:
                continue
        try:
            return build(state)
        except _RACES as exc:
            raise RuntimeError(
                f"the state changed while it was read, {RETRIES} times in a row "
                f"({type(exc).__name__}: {exc}); ask again (the live page does, every second)"
            ) from exc

    def page(self) -> str:
        """The page, rebuilt from the state's graph now (the last good one if that fails).

        Raises:
            RuntimeError: the server is closed (``StateGone``: the state was collected).
        """
        self._state()  # closed or collected: say so, rather than serve the last page
        with contextlib.suppress(*_RACES):
            self._page = self._read(self._build_page)
        return self._page

    def snapshot(self) -> dict[str, Any]:
        """What ``GET snapshot.json`` returns (see ``snapshot``).

        Raises:
            RuntimeError: the server is closed (``StateGone``: the state was collected).
        """
        return self._read(snapshot)

    def document(self) -> dict[str, Any]:
        """What ``GET document.json`` returns: the page's whole document.

        Raises:
            RuntimeError: the server is closed (``StateGone``: the state was collected).
        """
        level = self._level
        return self._read(lambda state: page_document(state, level=level, live=True))

    @property
    def active(self) -> bool:
        """Whether the server still serves (open, and its state still alive)."""
        return self._ref is not None and self._ref() is not None

    def close(self) -> None:
        """Stop serving and let go of the state (closing twice is harmless)."""
        if self._ref is None:
            return
        self._ref = None
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<LiveServer {self.url} {'serving' if self.active else 'closed'}>"


class StateGone(RuntimeError):
    """The state a live server showed was collected (the server was not closed)."""


class _Handler(BaseHTTPRequestHandler):
    server_ref: LiveServer

    def do_GET(self) -> None:
        route = self.path.split("?", 1)[0]
        live = self.server_ref
        try:
            if route in ("/", "/index.html"):
                self._send(200, "text/html; charset=utf-8", live.page().encode("utf-8"))
            elif route == "/snapshot.json":
                self._send_json(live.snapshot())
            elif route == "/document.json":
                self._send_json(live.document())
            else:
                text = f"no such page: {route}; try / or /snapshot.json"
                self._send(404, "text/plain; charset=utf-8", text.encode())
        except RuntimeError as exc:  # closed, or the state collected, while answering
            self._send(503, "text/plain; charset=utf-8", str(exc).encode())
        except Exception as exc:  # answer, rather than drop the connection
            text = f"the live view failed: {type(exc).__name__}: {exc}"
            self._send(500, "text/plain; charset=utf-8", text.encode())

    def _send_json(self, data: dict[str, Any]) -> None:
        body = json.dumps(data, separators=(",", ":")).encode("utf-8")
        self._send(200, "application/json", body)

    def _send(self, code: int, kind: str, body: bytes) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: a polling page would print a line every second."""
