"""Tests of the peer suite's comparison (``run_peer.py``): what fails the step and what is
counted, on made-up outcomes; the list of known differences is well formed and documented."""

from __future__ import annotations

import importlib.metadata
import subprocess
import tarfile
from pathlib import Path

import pytest
import run_peer
from run_peer import GROUPS, PREFIX, Difference, compare, load_differences

ROOT = Path(__file__).resolve().parents[2]
HANDLER = PREFIX + "handlers/test_timing.py::test_timer"
ENGINE = PREFIX + "engine/test_engine.py::TestEngine::test_terminate"


def outcomes(**by_test: str) -> dict[str, list[str]]:
    return {test: [outcome, "why"] for test, outcome in by_test.items()}


def many(module: str, n: int, outcome: str = "passed") -> dict[str, list[str]]:
    return {f"{PREFIX}{module}::test_{i}": [outcome, ""] for i in range(n)}


class TestCompare:
    def test_counts_per_module_only_what_passes_on_plain_ignite(self) -> None:
        """A test failing or skipped on plain ignite is not counted on either side."""
        plain = many("handlers/test_timing.py", 3) | outcomes(**{HANDLER + "x": "failed"})
        statefire = many("handlers/test_timing.py", 3)
        result = compare(plain, statefire, [], check_unused=False)
        row = next(r for r in result.rows if r[0] == "handlers/test_timing.py")
        assert row == ("handlers/test_timing.py", 3, 3, 0, 0)
        assert result.problems == []

    def test_an_unlisted_failure_fails_the_step_with_its_message(self) -> None:
        """A test passing on ignite and failing on statefire, not listed, is a problem."""
        plain = many("handlers/test_timing.py", 40)
        statefire = dict(plain) | {f"{PREFIX}handlers/test_timing.py::test_0": ["failed", "boom"]}
        (problem,) = compare(plain, statefire, [], check_unused=False).problems
        assert problem == "handlers/test_timing.py::test_0 failed on statefire: boom"

    def test_a_listed_failure_is_counted_not_failed(self) -> None:
        """A listed failure is reported in its column and fails nothing while above the bar."""
        plain = many("engine/test_engine.py", 10)
        statefire = dict(plain) | {f"{PREFIX}engine/test_engine.py::test_3": ["failed", ""]}
        listed = [Difference("on purpose", ["engine/test_engine.py::test_3"])]
        result = compare(plain, statefire, listed)
        assert result.problems == []
        assert ("engine/test_engine.py", 10, 9, 1, 0) in result.rows

    def test_a_listed_test_that_passes_must_leave_the_list(self) -> None:
        """The list stays true: an entry whose test passes is a problem."""
        plain = many("engine/test_engine.py", 2)
        listed = [Difference("was different", ["engine/test_engine.py::test_1"])]
        problems = compare(plain, dict(plain), listed, check_unused=False).problems
        assert len(problems) == 1
        assert problems[0].startswith("engine/test_engine.py::test_1 passes on statefire")
        assert "remove it from known_differences.toml" in problems[0]

    def test_an_entry_matching_no_failure_is_stale(self) -> None:
        """An entry that matches no failing test is a problem of a full run, not of a -k run."""
        plain = many("engine/test_engine.py", 2)
        listed = [Difference("renamed", ["engine/test_engine.py::test_gone"])]
        (problem,) = compare(plain, dict(plain), listed).problems
        assert "no failing test matches ['engine/test_engine.py::test_gone']" in problem
        assert compare(plain, dict(plain), listed, check_unused=False).problems == []

    def test_a_group_below_its_share_fails_even_when_listed(self) -> None:
        """Listing cannot excuse more failures than the group's threshold allows."""
        share = GROUPS["engine"][1]
        n_fail = 10 - int(share * 10) + 1
        plain = many("engine/test_engine.py", 10)
        statefire = dict(plain) | many("engine/test_engine.py", n_fail, "failed")
        listed = [
            Difference("on purpose", [f"engine/test_engine.py::test_{i}" for i in range(n_fail)])
        ]
        (problem,) = compare(plain, statefire, listed).problems
        assert problem.startswith(f"engine: {10 - n_fail}/10 = ")
        assert f"below {share:.0%}" in problem


class TestDifferences:
    def test_an_id_matches_its_parametrisations_and_star_matches_anything(self) -> None:
        """``a.py::t`` matches ``a.py::t[x]``, not ``a.py::t2``; ``*`` is a wildcard."""
        d = Difference("r", ["a.py::t", "b.py::Class::*"])
        assert d.matches("a.py::t") and d.matches("a.py::t[cpu-1]")
        assert not d.matches("a.py::t2")
        assert d.matches("b.py::Class::test_x[1]")

    def test_an_entry_without_a_reason_is_refused(self, tmp_path: Path) -> None:
        """Each entry needs a reason and tests."""
        path = tmp_path / "known.toml"
        path.write_text('[[difference]]\nreason = ""\ntests = ["a.py::t"]\n')
        with pytest.raises(ValueError, match="entry 1 needs a reason and a list of tests"):
            load_differences(path)

    def test_every_listed_reason_is_in_the_migration_page(self) -> None:
        """docs/from-ignite.md shows every known difference with its reason."""
        page = " ".join((ROOT / "docs" / "from-ignite.md").read_text().split())
        differences = load_differences(run_peer.KNOWN)
        if not differences:  # the page says so, not an old list
            assert "No test is listed" in page
        for d in differences:
            assert " ".join(d.reason.split()) in page
            for test in d.tests:
                assert test in page


def fake_sdist(cache: Path, files: dict[str, str]) -> None:
    """A source distribution of the installed pytorch-ignite version holding ``files``."""
    top = f"pytorch_ignite-{importlib.metadata.version('pytorch-ignite')}"
    cache.mkdir(parents=True, exist_ok=True)
    with tarfile.open(cache / f"{top}.tar.gz", "w:gz") as tar:
        for name, text in files.items():
            path = cache / "src" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            tar.add(path, arcname=f"{top}/{name}")


class TestSources:
    def test_a_cached_sdist_is_extracted_once_without_pip(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The tests come out of the cached sdist; pip is not called, a second call reuses them."""
        fake_sdist(tmp_path, {"tests/ignite/test_x.py": "def test_x(): pass\n", "setup.py": ""})
        monkeypatch.setattr(subprocess, "run", lambda *a, **k: pytest.fail("pip was called"))
        root = run_peer.ignite_tests(tmp_path)
        assert (root / "tests/ignite/test_x.py").read_text() == "def test_x(): pass\n"
        assert (root / "pytest.ini").exists() and not (root / "setup.py").exists()
        (root / "tests/ignite/test_x.py").unlink()
        assert run_peer.ignite_tests(tmp_path) == root
        assert not (root / "tests/ignite/test_x.py").exists()

    def test_an_sdist_without_tests_is_refused(self, tmp_path: Path) -> None:
        """A source distribution without tests/ says so."""
        fake_sdist(tmp_path, {"setup.py": ""})
        with pytest.raises(RuntimeError, match="holds no tests/ folder"):
            run_peer.ignite_tests(tmp_path)

    def test_a_failed_download_says_where_to_put_the_file(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without network, the message names the file to put in the cache."""
        monkeypatch.setattr(
            subprocess, "run", lambda args, **k: subprocess.CompletedProcess(args, 1)
        )
        with pytest.raises(
            RuntimeError,
            match=r"pip could not download .* \(exit code 1\); with no network, put pytorch_ignite-",
        ):
            run_peer.ignite_tests(tmp_path)
