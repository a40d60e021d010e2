"""Tests of the tqdm ProgressBar node, read back from the text it writes."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from cuda_checks import count_syncs, needs_cuda

from nodes import Engine, ProgressBar
from nodes.progress import format_value
from pipeline import State


def losses_engine(state: State, n: int = 4) -> Engine:
    """An engine whose output for batch i is the 0-d tensor i / 2."""
    return Engine(state, "trainer", lambda engine, batch: torch.tensor(batch / 2), list(range(n)))


def frames(text: str) -> list[str]:
    """The successive states of the bar (tqdm separates them with carriage returns)."""
    return [f for f in text.replace("\n", "\r").split("\r") if f.strip()]


class TestDisplay:
    def test_shows_epoch_iteration_and_variables(self, state: State) -> None:
        """Each epoch's bar reads Epoch [e/max], counts iterations, and shows the variables."""
        engine = losses_engine(state)
        state.configs.lr = 0.01
        out = io.StringIO()
        ProgressBar(engine, [engine.output_ref, "configs.lr"], persist=True, file=out)
        engine.run(max_epochs=2)
        text = out.getvalue()
        assert "Epoch [1/2]" in text and "Epoch [2/2]" in text
        last = [f for f in frames(text) if f.startswith("Epoch [2/2]")][-1]
        assert "4/4" in last and "output=1.5, lr=0.01" in last
        assert "1/4" in text and "output=0, lr=0.01" in text

    def test_every_n_iterations(self, state: State) -> None:
        """every=2 refreshes on iterations 2 and 4, and at the end of the epoch."""
        engine = losses_engine(state)
        out = io.StringIO()
        ProgressBar(engine, [engine.output_ref], persist=True, file=out, every=2)
        engine.run()
        shown = [f.split("|")[2].split()[0] for f in frames(out.getvalue())]
        assert shown[0] == "0/4"
        assert "1/4" not in shown and "3/4" not in shown
        assert "2/4" in shown and shown[-1] == "4/4"

    def test_tensors_are_read_only_when_the_bar_refreshes(self, state: State) -> None:
        """A variable is formatted (a tensor read) on refreshes only, not every iteration."""
        reads = []

        class Probe:
            def __str__(self) -> str:
                reads.append(1)
                return "probe"

        state.configs.probe = Probe()
        engine = losses_engine(state, n=6)
        bar = ProgressBar(engine, ["configs.probe"], file=io.StringIO(), every=3)
        engine.run()
        assert len(reads) == 3  # iterations 3 and 6, and the end of the epoch
        assert bar.postfix == "probe=probe"

    def test_same_names_show_paths(self, state: State) -> None:
        """Two variables of the same name are shown by their full paths."""
        engine = losses_engine(state, n=1)
        state.configs.loss = 1.0
        state.metrics.loss = 2.0
        bar = ProgressBar(engine, ["configs.loss", "metrics.loss"], file=io.StringIO())
        engine.run()
        assert bar.postfix == "configs.loss=1, metrics.loss=2"

    def test_unknown_epoch_length(self, state: State) -> None:
        """Data without len(): the first bar has no total until the epoch ends."""

        class Stream:
            def __iter__(self) -> Iterator[int]:
                return iter(range(3))

        engine = Engine(state, "trainer", lambda engine, batch: batch, Stream())
        out = io.StringIO()
        ProgressBar(engine, persist=True, file=out)
        engine.run(max_epochs=2)
        first = [f for f in frames(out.getvalue()) if f.startswith("Epoch [1/2]")]
        second = [f for f in frames(out.getvalue()) if f.startswith("Epoch [2/2]")]
        assert [f.split(": ")[1].split()[0] for f in first[:4]] == ["0it", "1it", "2it", "3it"]
        assert "3/3" in first[-1]
        assert "0/3" in second[0] and "3/3" in second[-1]

    def test_default_file_is_stderr(self, state: State, capsys: pytest.CaptureFixture[str]) -> None:
        """Without file=, the bar goes to standard error."""
        engine = losses_engine(state, n=2)
        ProgressBar(engine, persist=True)
        engine.run()
        assert "Epoch [1/1]" in capsys.readouterr().err


class TestClosing:
    def test_closes_each_epoch(self, state: State) -> None:
        """One bar per epoch, closed at its end."""
        engine = losses_engine(state)
        bar = ProgressBar(engine, file=io.StringIO())
        engine.run(max_epochs=3)
        assert (bar.n_bars_closed, bar.bar) == (3, None)

    def test_not_persisted_bars_are_cleared(self, state: State) -> None:
        """With persist=False a closed bar leaves no final line behind."""
        engine = losses_engine(state)
        out = io.StringIO()
        ProgressBar(engine, file=out)
        engine.run()
        assert "\n" not in out.getvalue()

    def test_closes_on_termination(self, state: State) -> None:
        """A run terminated mid-epoch closes the bar when the run completes."""
        engine = losses_engine(state)
        engine.n_iteration_completed_ref.subscribe(engine.terminate, once=2)
        out = io.StringIO()
        bar = ProgressBar(engine, persist=True, file=out)
        engine.run()
        assert (bar.n_bars_closed, bar.bar) == (1, None)
        assert frames(out.getvalue())[-1].split("|")[2].split()[0] == "2/4"

    def test_closes_on_exception(self, state: State) -> None:
        """An exception in the run closes the bar and propagates."""

        def fail(engine: Engine, batch: int) -> int:
            if batch == 2:
                raise RuntimeError("boom")
            return batch

        engine = Engine(state, "trainer", fail, [0, 1, 2, 3])
        bar = ProgressBar(engine, file=io.StringIO())
        with pytest.raises(RuntimeError, match="boom"):
            engine.run()
        assert (bar.n_bars_closed, bar.bar) == (1, None)

    def test_graph_shows_reads(self, state: State) -> None:
        """The shown variables are declared reads of the bar."""
        engine = losses_engine(state)
        bar = ProgressBar(engine, [engine.output_ref], file=io.StringIO())
        assert bar.key == "handlers.trainer_progress_bar"
        assert bar.key in state.readers_of(engine.output_ref)


class TestFormat:
    @pytest.mark.parametrize(
        ("value", "text"),
        [
            (0.123456, "0.1235"),
            (1234567.0, "1.235e+06"),
            (float("nan"), "nan"),
            (3, "3"),
            (True, "True"),
            (None, "None"),
            (torch.tensor(2.5), "2.5"),
            (torch.tensor([7]), "7"),
            (torch.tensor(4), "4"),
            (torch.zeros(2, 3), "tensor[2, 3]"),
            ("adam", "adam"),
            ("x" * 30, "x" * 19 + "…"),
        ],
    )
    def test_format_value(self, value: Any, text: str) -> None:
        """Numbers are compact, one-element tensors are numbers, long text is cut."""
        assert format_value(value) == text


class TestBadArguments:
    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"engine": None}, TypeError, r"engine must be a statefire Engine, got NoneType"),
            ({"every": 0}, ValueError, r"every must be >= 1 .* got 0"),
            ({"every": 1.5}, TypeError, r"every must be a positive int, got 1\.5"),
            ({"variables": "configs.lr"}, TypeError, r"wrap a single one in a list"),
            ({"variables": [3]}, TypeError, r"each variable must be a Ref or a path .* got int 3"),
            ({"variables": ["configs.lrr"]}, AttributeError, r"did you mean 'lr'"),
            ({"file": "out.txt"}, TypeError, r"file must have a write\(\) method, got str"),
        ],
    )
    def test_bad_arguments(
        self, state: State, kwargs: dict[str, Any], error: type[Exception], match: str
    ) -> None:
        """Each bad argument raises an error naming it and its value."""
        state.configs.lr = 0.1
        engine = losses_engine(state)
        with pytest.raises(error, match=match):
            ProgressBar(**{"engine": engine, **kwargs})
        assert "trainer_progress_bar" not in state.handlers

    def test_ref_of_another_state(self, state: State) -> None:
        """A Ref of another State is refused."""
        other = State()
        other.configs.lr = 0.1
        with pytest.raises(ValueError, match=r"belongs to another State"):
            ProgressBar(losses_engine(state), [other.configs.lr_ref])


@needs_cuda
def test_cuda_tensors_synchronise_only_on_refresh() -> None:
    """A CUDA 0-d tensor variable costs one synchronisation per refresh, none in between."""
    data = [torch.tensor(float(i), device="cuda") for i in range(6)]
    engine = Engine(State(), "trainer", lambda engine, batch: batch * 0.5, data)
    bar = ProgressBar(engine, [engine.output_ref], file=io.StringIO(), every=3)
    assert count_syncs(engine.run) == 3  # iterations 3 and 6, and the end of the epoch
    assert bar.postfix == "output=2.5"
