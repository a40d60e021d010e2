"""ignite's own tests, run on ignite's ``Engine`` and on statefire's ``nodes.IgniteEngine``.

    python tests/peer/run_peer.py [--cache-dir .cache/peer] [-k EXPR] [--only plain|statefire]
                                  [--face]

1. Takes the source distribution of the *installed* pytorch-ignite from
   ``--cache-dir``, or downloads it there with ``pip download`` (the only
   network access), and extracts its ``tests/`` once.
2. Runs the modules of ``MODULES`` twice with pytest, distributed, multi-node
   and TPU tests deselected (ignite's own marker names): on plain ignite, then
   with the plugin ``statefire_engine.py``, which makes ignite's ``Engine``
   name ``nodes.IgniteEngine``. ``peer_report.py`` records every outcome.
3. Prints, per module, the tests that pass on plain ignite and how many of
   them pass on statefire, and fails (exit 1) when a test that passes on
   plain ignite fails on statefire without being listed in
   ``tests/peer/known_differences.toml`` (each entry gives its reason), when
   a listed test passes (the list must stay true), or when a group passes
   less than its threshold (``GROUPS``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
KNOWN = HERE / "known_differences.toml"

MODULES = [
    "handlers/test_early_stopping.py",
    "handlers/test_timing.py",
    "handlers/test_terminate_on_nan.py",
    "handlers/test_checkpoint.py",
    "handlers/test_param_scheduler.py",
    "handlers/test_time_limit.py",
    "handlers/test_ema_handler.py",
    "handlers/test_tqdm_logger.py",
    "metrics/test_accuracy.py",
    "metrics/test_loss.py",
    "metrics/test_running_average.py",
    "metrics/test_metric.py",
    "metrics/test_epoch_metric.py",
    "engine/test_engine.py",
    "engine/test_custom_events.py",
    "engine/test_event_handlers.py",
]
# The share of the tests passing on plain ignite that must pass on statefire, per group
# of modules (by folder).
GROUPS = {"handlers and metrics": (("handlers", "metrics"), 0.95), "engine": (("engine",), 0.80)}
# ignite's markers (tests/ignite/conftest.py) for what needs several processes or a TPU.
DESELECT = "not distributed and not multinode_distributed and not tpu"
PREFIX = "tests/ignite/"


def _sdist(cache: Path, version: str) -> Path | None:
    """The source distribution of pytorch-ignite ``version`` in ``cache``, if there."""
    name = re.compile(rf"pytorch[-_]ignite-{re.escape(version)}\.tar\.gz")
    return next((p for p in sorted(cache.glob("*.tar.gz")) if name.fullmatch(p.name)), None)


def ignite_tests(cache: Path) -> Path:
    """The extracted source tree of the installed pytorch-ignite; downloaded once into ``cache``.

    Raises:
        RuntimeError: pip could not download it, or it holds no tests.
    """
    version = importlib.metadata.version("pytorch-ignite")
    root = cache / f"pytorch_ignite-{version}"
    if (root / "pytest.ini").exists():
        return root
    cache.mkdir(parents=True, exist_ok=True)
    sdist = _sdist(cache, version)
    if sdist is None:
        print(f"peer: downloading the source distribution of pytorch-ignite {version} into {cache}")
        pip = [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:"]
        done = subprocess.run([*pip, f"pytorch-ignite=={version}", "-d", str(cache)])
        sdist = _sdist(cache, version)
        if done.returncode or sdist is None:
            raise RuntimeError(
                f"pip could not download the source distribution of pytorch-ignite {version} "
                f"(exit code {done.returncode}); with no network, put pytorch_ignite-{version}.tar.gz "
                f"(from PyPI) in {cache}"
            )
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.split("/")[1:2] == ["tests"]]
        if not members:
            raise RuntimeError(f"{sdist} holds no tests/ folder; cannot run ignite's tests")
        top = members[0].name.split("/")[0]
        # The "data" filter refuses links out of the folder (Python >= 3.11.4 has it).
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        tar.extractall(cache, members=members, **safe)
    if top != root.name:
        shutil.rmtree(root, ignore_errors=True)
        (cache / top).rename(root)
    # A config file of our own makes this folder pytest's rootdir, whatever ignite ships.
    (root / "pytest.ini").write_text("[pytest]\n")
    return root


def run_pytest(
    root: Path, label: str, plugins: list[str], select: str | None
) -> tuple[dict[str, list[str]], float]:
    """Run ``MODULES`` under ``root``; return {test id: [outcome, message]} and the seconds it took."""
    report = root / f"outcomes-{label}.json"
    args = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-o",
        "addopts=",
        "-m",
        DESELECT,
        "-p",
        "peer_report",
        f"--peer-report={report}",
    ]
    for plugin in plugins:
        args += ["-p", plugin]
    if select:
        args += ["-k", select]
    args += [PREFIX + m for m in MODULES]
    path = os.pathsep.join([str(HERE), str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path, "CUDA_VISIBLE_DEVICES": "", "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    done = subprocess.run(args, cwd=root, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if not report.exists():  # pytest did not get to run the tests
        sys.stdout.write(done.stdout[-5000:] + done.stderr[-5000:])
        raise RuntimeError(
            f"pytest on {label} ignite tests ended with code {done.returncode} before reporting"
        )
    summary = done.stdout.strip().splitlines()
    print(f"peer: {label}: {summary[-1] if summary else '(no summary)'}")
    return json.loads(report.read_text()), seconds


@dataclass
class Difference:
    """One entry of ``known_differences.toml``: tests that fail on statefire, and why."""

    reason: str
    tests: list[str]
    patterns: list[re.Pattern[str]] = field(init=False)
    matched: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        # An id matches itself and its parametrisations; ``*`` matches anything.
        self.patterns = [
            re.compile(re.escape(t).replace(r"\*", ".*") + r"(\[.*\])?") for t in self.tests
        ]

    def matches(self, test: str) -> bool:
        return any(p.fullmatch(test) for p in self.patterns)


def load_differences(path: Path = KNOWN) -> list[Difference]:
    """The entries of ``path``; each must have a non-empty ``reason`` and ``tests``."""
    entries = tomllib.loads(path.read_text()).get("difference", [])
    differences = []
    for i, entry in enumerate(entries):
        if not entry.get("reason", "").strip() or not entry.get("tests"):
            raise ValueError(
                f"{path.name}: entry {i + 1} needs a reason and a list of tests, got {entry!r}"
            )
        differences.append(Difference(entry["reason"].strip(), list(entry["tests"])))
    return differences


@dataclass
class Comparison:
    """The outcome of the comparison; ``problems`` empty means the step passes."""

    rows: list[tuple[str, int, int, int, int]]  # module, plain, statefire, listed, unlisted
    problems: list[str]


def compare(
    plain: dict[str, list[str]],
    statefire: dict[str, list[str]],
    differences: list[Difference],
    check_unused: bool = True,
) -> Comparison:
    """Compare the outcomes of the two runs against the listed differences and the thresholds.

    ``check_unused`` (off for a ``-k`` run) also fails on an entry that matches no failing test.
    """
    rows = []
    problems = []
    group_counts = {group: [0, 0] for group in GROUPS}
    for module in MODULES:
        ids = sorted(
            t
            for t, (outcome, _) in plain.items()
            if t.startswith(PREFIX + module + "::") and outcome == "passed"
        )
        n_pass = listed = unlisted = 0
        for test in ids:
            outcome, message = statefire.get(test, ["not run", ""])
            short = test.removeprefix(PREFIX)
            known = next((d for d in differences if d.matches(short)), None)
            if outcome == "passed":
                n_pass += 1
                if known is not None:
                    problems.append(
                        f"{short} passes on statefire but is listed as a difference ({known.reason[:60]}...): remove it from {KNOWN.name}"
                    )
            elif known is not None:
                known.matched.add(short)
                listed += 1
            else:
                unlisted += 1
                problems.append(f"{short} {outcome} on statefire: {message}")
        rows.append((module, len(ids), n_pass, listed, unlisted))
        for group, (folders, _) in GROUPS.items():
            if module.split("/")[0] in folders:
                group_counts[group][0] += len(ids)
                group_counts[group][1] += n_pass
    for group, (total, passed) in group_counts.items():
        threshold = GROUPS[group][1]
        if total and passed / total < threshold:
            problems.append(
                f"{group}: {passed}/{total} = {passed / total:.1%} pass on statefire, below {threshold:.0%}"
            )
    if check_unused:
        for d in differences:
            if not d.matched:
                problems.append(
                    f"{KNOWN.name}: no failing test matches {d.tests} ({d.reason[:60]}...): remove the entry"
                )
    return Comparison(rows, problems)


def print_table(comparison: Comparison) -> None:
    header = ("module", "plain ignite", "statefire", "listed", "unlisted")
    print(f"{header[0]:<36} {header[1]:>12} {header[2]:>10} {header[3]:>7} {header[4]:>9}")
    for module, plain, passed, listed, unlisted in comparison.rows:
        print(f"{module:<36} {plain:>12} {passed:>10} {listed:>7} {unlisted:>9}")
    for group, (folders, threshold) in GROUPS.items():
        rows = [r for r in comparison.rows if r[0].split("/")[0] in folders]
        total, passed = sum(r[1] for r in rows), sum(r[2] for r in rows)
        share = passed / total if total else 1.0
        print(
            f"{group}: {passed}/{total} = {share:.1%} of the tests passing on plain ignite pass on statefire (at least {threshold:.0%})"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "peer")
    parser.add_argument("-k", dest="select", help="pytest -k expression (for debugging one test)")
    parser.add_argument(
        "--only", choices=("plain", "statefire"), help="run one side only, no comparison"
    )
    parser.add_argument(
        "--face",
        action="store_true",
        help="on statefire, the engines are the engine.ignite face of a statefire Engine "
        "(whose loop is statefire's); counts only, no list, no threshold",
    )
    args = parser.parse_args()
    if args.face:
        os.environ["PEER_ENGINE"] = "face"  # read by the statefire_engine plugin
    root = ignite_tests(args.cache_dir)
    runs = {"plain": [], "statefire": ["statefire_engine"]}
    outcomes = {}
    for label, plugins in runs.items():
        if args.only in (None, label):
            outcomes[label], seconds = run_pytest(root, label, plugins, args.select)
            print(f"peer: {label}: {seconds:.0f} s")
    if args.only:
        return 0
    differences = [] if args.face else load_differences()
    comparison = compare(
        outcomes["plain"], outcomes["statefire"], differences, check_unused=not args.select
    )
    print_table(comparison)
    if args.face:
        return 0
    for problem in comparison.problems:
        print(f"peer: FAIL: {problem}")
    return 1 if comparison.problems else 0


if __name__ == "__main__":
    sys.exit(main())
