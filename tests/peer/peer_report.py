"""A pytest plugin that writes each test's outcome to a JSON file (``--peer-report PATH``).

Loaded with ``-p peer_report`` by ``run_peer.py`` in both runs of ignite's
suite. One outcome per test id: ``failed`` when any phase (setup, call,
teardown) failed, else ``skipped``, ``xfailed``, ``xpassed`` or ``passed``;
a failure keeps the last line of its message.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

_RANK = {"passed": 0, "xpassed": 1, "skipped": 2, "xfailed": 3, "failed": 4}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--peer-report", help="write {test id: [outcome, message]} as JSON here")


class _Recorder:
    def __init__(self, path: str) -> None:
        self.path = path
        self.outcomes: dict[str, list[str]] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        outcome = report.outcome
        if hasattr(report, "wasxfail"):
            outcome = "xfailed" if report.skipped else "xpassed"
        elif report.when != "call" and report.passed:
            return  # a passing setup or teardown says nothing about the test
        message = ""
        if report.failed:
            text = report.longreprtext.strip().splitlines()
            message = text[-1] if text else ""
        old = self.outcomes.get(report.nodeid)
        if old is None or _RANK[outcome] > _RANK[old[0]]:
            self.outcomes[report.nodeid] = [outcome, message]

    def pytest_sessionfinish(self, session: Any) -> None:
        with open(self.path, "w") as f:
            json.dump(self.outcomes, f, indent=0, sort_keys=True)


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("--peer-report")
    if path:
        config.pluginmanager.register(_Recorder(path), "peer_report_recorder")
