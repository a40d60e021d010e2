"""The core's state dicts with real torch values: 0-d tensors, files written by torch.save
and read back with weights_only=True, and checkpoint files whose state is no state dict."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from nodes.checkpoint import FORMAT, Checkpoint
from pipeline import Node, State, StateDictError, Variable


class Scorer(Node):
    """A node with an int counter and a float score, as a metric handler has."""

    n_evaluations = Variable(0, doc="evaluations done")
    score = Variable(0.0, doc="the last score")


def build() -> State:
    state = State()
    Scorer(state, "scorer")
    state.configs.best = None
    return state


def saved_and_read(state: State, path: Path) -> dict[str, Any]:
    """The state dict after a torch.save / torch.load(weights_only=True) round trip."""
    torch.save(state.state_dict(), path)
    return torch.load(path, weights_only=True)  # type: ignore[no-any-return]


class TestZeroDimTensors:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [(np.float64(0.75), 0.75), (np.int64(3), 3), (np.array(0.5), 0.5)],
    )
    def test_a_numpy_number_persists_as_a_number(
        self, tmp_path: Path, value: Any, expected: Any
    ) -> None:
        """A NumPy scalar or 0-d array is saved as a Python number, read back with
        weights_only=True, and a fresh state of the same script loads it."""
        src = build()
        src.handlers.scorer.score = value
        src.configs.best = value
        sd = saved_and_read(src, tmp_path / "s.pt")
        assert sd["variables"]["handlers.scorer.score"] == expected
        assert type(sd["variables"]["configs.best"]) is type(expected)
        dst = build()
        dst.load_state_dict(sd)
        assert dst.handlers.scorer.score == expected and dst.configs.best == expected

    @pytest.mark.parametrize(
        "value", [torch.tensor(0.5), torch.tensor(3), torch.tensor(0.25, requires_grad=True)]
    )
    def test_a_0d_tensor_persists_as_a_tensor(self, tmp_path: Path, value: Any) -> None:
        """A 0-d tensor is saved and loaded back as a tensor (a node keeping a running
        tensor maximum gets a tensor on resume), including into a fresh state."""
        src = build()
        src.configs.best = value
        sd = saved_and_read(src, tmp_path / "s.pt")
        got = sd["variables"]["configs.best"]
        assert isinstance(got, torch.Tensor) and torch.equal(got, value.detach())
        dst = build()
        dst.load_state_dict(sd)
        assert isinstance(dst.configs.best, torch.Tensor)
        assert torch.equal(dst.configs.best, value.detach())

    def test_a_float_and_a_0d_tensor_load_into_each_other(self, tmp_path: Path) -> None:
        """A score that was a 0-d tensor at save time loads into a fresh state that holds
        a float there, and the other way round; an int counter still refuses a tensor."""
        src = build()
        src.handlers.scorer.score = torch.tensor(0.5)
        dst = build()
        dst.load_state_dict(saved_and_read(src, tmp_path / "a.pt"))
        assert torch.equal(dst.handlers.scorer.score, torch.tensor(0.5))
        src.handlers.scorer.score = 0.25
        dst.load_state_dict(saved_and_read(src, tmp_path / "b.pt"))
        assert dst.handlers.scorer.score == 0.25
        sd = build().state_dict()
        sd["variables"]["handlers.scorer.n_evaluations"] = torch.tensor(5)
        with pytest.raises(StateDictError, match=r"n_evaluations: the state holds an int"):
            build().load_state_dict(sd)

    def test_tensors_with_dimensions_stay_tensors(self, tmp_path: Path) -> None:
        """A tensor with dimensions is saved as a tensor."""
        src = build()
        src.configs.best = torch.arange(3)
        sd = saved_and_read(src, tmp_path / "s.pt")
        assert torch.equal(sd["variables"]["configs.best"], torch.arange(3))

    def test_a_0d_tensor_from_an_older_file_loads_into_a_tensor_variable(self) -> None:
        """A file saved before numbers were converted (a 0-d tensor) loads where the state
        holds a tensor; another shape is refused."""
        state = build()
        state.configs.best = torch.tensor(0.0)
        sd = state.state_dict()
        sd["variables"]["configs.best"] = torch.tensor(0.7)
        state.load_state_dict(sd)
        assert torch.equal(state.configs.best, torch.tensor(0.7))
        sd["variables"]["configs.best"] = torch.tensor([0.7])
        with pytest.raises(
            StateDictError, match=r"configs\.best: tensor of shape \(1,\) in the file"
        ):
            state.load_state_dict(sd)

    def test_a_tensor_for_an_int_counter_refused(self) -> None:
        """tensor(5) in the file for an int counter is refused, naming both types."""
        sd = build().state_dict()
        sd["variables"]["handlers.scorer.n_evaluations"] = torch.tensor(5)
        with pytest.raises(
            StateDictError,
            match=r"handlers\.scorer\.n_evaluations: the state holds an int \(0\), the file a "
            r"Tensor \(tensor\(5\)\)",
        ):
            build().load_state_dict(sd)


class TestCheckpointWithJunkState:
    @pytest.mark.parametrize(
        ("junk", "line"),
        [
            (42, r"expected the dict state\.state_dict\(\) returns, got an int \(42\)"),
            ({}, r"expected format 'statefire\.state/1' .*got an empty dict"),
            ({"format": "statefire.state/1", "variables": []}, r"section 'variables' is a list"),
        ],
    )
    def test_says_what_is_wrong(self, tmp_path: Path, junk: Any, line: str) -> None:
        """A checkpoint of the right format whose state is junk says so, and offers no strict=False."""
        path = tmp_path / "junk.pt"
        torch.save({"format": FORMAT, "metadata": {}, "state": junk}, path)
        with pytest.raises(
            StateDictError,
            match=rf"checkpoint .*junk\.pt holds no valid state dict under 'state':\n  {line}",
        ) as info:
            Checkpoint.load(build(), path)
        assert "strict=False" not in str(info.value) and "does not match" not in str(info.value)
