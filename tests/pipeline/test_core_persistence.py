"""state_dict() / load_state_dict(): what is saved, restoring without events, strictness."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import pytest
from core_toys import Counter, Loop, Stateful, WithOwnState

from pipeline import State, StateDictError, Variable
from pipeline.values import is_plain_data


def build() -> State:
    """A state with container variables, node variables, an object and a filter counter."""
    state = State()
    state.configs.lr = 0.1
    state.configs.run_name = "run"
    state.modules.net = Stateful(1.0)
    state.dataloaders.train = [1, 2, 3]  # not persistent: the container is not saved
    Loop(state, "loop")
    Counter(state, "counter")
    WithOwnState(state, "acc")
    state.configs.tag = None

    def every_second() -> None:
        pass

    state.configs.tag_ref.subscribe(every_second, every=2)
    return state


class TestStateDict:
    def test_layout(self) -> None:
        """The dict has a format tag and sections for variables, objects, nodes, filters."""
        sd = build().state_dict()
        assert sd["format"] == "statefire.state/1"
        assert sd["variables"]["configs.lr"] == 0.1
        assert sd["variables"]["engines.loop.n_iteration_completed"] == 0
        assert sd["variables"]["handlers.counter.items"] == []
        assert "dataloaders.train" not in sd["variables"]
        assert "engines.loop.batch" not in sd["variables"]  # persistent=False
        assert sd["objects"] == {"modules.net": {"weight": 1.0}}
        assert sd["nodes"] == {"metrics.acc": {"seen": []}}
        (key,) = sd["filters"]
        assert key.startswith("configs.tag -> ") and key.endswith("[every=2]")

    def test_holds_only_plain_data(self) -> None:
        """Everything in the dict is plain data (what weights_only loading accepts)."""
        state = build()
        state.engines.loop.run(3)
        sd = state.state_dict()
        assert is_plain_data(sd)
        assert pickle.loads(pickle.dumps(sd)) == sd

    def test_round_trip_restores_without_events(self) -> None:
        """Loading restores values, objects, node state and counters, and fires nothing."""
        src = build()
        src.configs.lr = 0.01
        src.engines.loop.run(5)
        src.modules.net.weight = 7.5
        src.metrics.acc.seen = [1, 2]
        src.handlers.counter.items = ["a"]
        for v in ("a", "b", "c"):  # three changes: the every=2 counter is at 3
            src.configs.tag = v
        sd = copy.deepcopy(src.state_dict())

        dst = build()
        fired: list[Any] = []
        dst.configs.lr_ref.subscribe(fired.append)
        dst.engines.loop.n_iteration_completed_ref.subscribe(fired.append)
        dst.load_state_dict(sd)
        assert fired == []
        assert dst.configs.lr == 0.01 and dst.configs.lr_ref.value == 0.01
        assert dst.engines.loop.n_iteration_completed == 5
        assert dst.modules.net.weight == 7.5 and dst.modules.net.n_loaded == 1
        assert dst.metrics.acc.seen == [1, 2]
        assert dst.handlers.counter.items == ["a"]
        assert dst.configs.tag == "c"
        # after loading, a set is an ordinary change again
        dst.configs.lr = 0.5
        assert len(fired) == 1

    def test_filter_counter_restored(self) -> None:
        """A restored change counter continues where it stopped."""
        fired: list[str] = []

        def make() -> State:
            state = State()
            state.configs.tag = None
            state.configs.tag_ref.subscribe(lambda e: fired.append(e.new), every=3)
            return state

        src = make()
        src.configs.tag = "a"
        src.configs.tag = "b"
        dst = make()
        dst.load_state_dict(src.state_dict())
        dst.configs.tag = "c"  # the third change since the start
        assert fired == ["c"]

    def test_filter_keys_do_not_depend_on_the_working_directory(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
    ) -> None:
        """A callback's counter keeps its key when the script runs from another directory."""
        build_here = build().state_dict()["filters"]
        monkeypatch.chdir(tmp_path)

        def every_second() -> None:  # the same name as build()'s, on another line
            pass

        state = build()
        assert state.state_dict()["filters"] == build_here
        state.load_state_dict(build().state_dict())
        other = State()
        other.configs.tag = None
        other.configs.tag_ref.subscribe(every_second, every=2)
        assert other.state_dict()["filters"].keys() != build_here.keys()  # another qualname

    def test_strict_lists_missing_and_unexpected(self) -> None:
        """A mismatch raises one StateDictError listing missing and unexpected entries."""
        sd = build().state_dict()
        sd["variables"]["configs.gone"] = 1
        del sd["variables"]["configs.lr"]
        dst = build()
        dst.configs.lr = 0.3
        dst.configs.run_name = "kept"
        with pytest.raises(StateDictError) as info:
            dst.load_state_dict(sd)
        err = info.value
        assert err.missing == ["variables:configs.lr"]
        assert err.unexpected == ["variables:configs.gone"]
        assert "missing entries (1): variables:configs.lr" in str(err)
        assert "unexpected entries (1): variables:configs.gone" in str(err)
        assert "strict=False" in str(err)
        assert dst.configs.run_name == "kept"  # nothing loaded

    def test_non_strict_loads_what_matches(self) -> None:
        """strict=False loads the matching entries and skips the rest."""
        sd = build().state_dict()
        sd["variables"]["configs.gone"] = 1
        del sd["variables"]["configs.lr"]
        sd["variables"]["configs.run_name"] = "loaded"
        dst = build()
        dst.configs.lr = 0.3
        dst.load_state_dict(sd, strict=False)
        assert (dst.configs.lr, dst.configs.run_name) == (0.3, "loaded")

    def test_mismatched_value_reported(self) -> None:
        """An entry that is not plain data is reported as a mismatch."""
        sd = build().state_dict()
        sd["variables"]["configs.lr"] = object()
        sd["objects"]["modules.net"] = 3
        with pytest.raises(StateDictError, match=r"mismatch: configs\.lr: holds a object") as info:
            build().load_state_dict(sd)
        assert len(info.value.mismatched) == 2

    @pytest.mark.parametrize(
        ("bad", "match"),
        [
            ({"variables": {}}, "not a statefire state dict"),
            ([1, 2], "not a statefire state dict"),
            ({"format": "statefire.state/1", "variables": {}}, "section 'objects' is missing"),
        ],
    )
    def test_foreign_dict_refused(self, bad: Any, match: str) -> None:
        """A dict that is not a statefire state dict is refused."""
        with pytest.raises(StateDictError, match=match):
            State().load_state_dict(bad)

    def test_persistent_unpicklable_names_path(self) -> None:
        """A persistent variable holding an object a state dict cannot hold names its path."""

        class Holder(Counter):
            thing = Variable(None, persistent=True)

        state = State()
        holder = Holder(state, "holder")
        holder.thing = object()
        with pytest.raises(TypeError, match=r"handlers\.holder\.thing is persistent but holds"):
            state.state_dict()
        state.configs.add_variable("lock", object(), persistent=True)
        holder.thing = None
        with pytest.raises(TypeError, match=r"configs\.lock is persistent"):
            state.state_dict()

    def test_container_variable_of_other_object_skipped(self, state: State) -> None:
        """A container variable holding a non-data object is not saved (unless persistent)."""
        state.configs.opaque = object()
        assert "configs.opaque" not in state.state_dict()["variables"]

    def test_node_without_own_state_refuses_some(self, counter: Counter) -> None:
        """The default Node.load_state_dict refuses a non-empty dict."""
        counter.load_state_dict({})
        with pytest.raises(ValueError, match=r"handlers\.counter has no state of its own"):
            counter.load_state_dict({"x": 1})


class TestPartialLoad:
    def test_object_refusing_its_part_says_what_was_loaded(self) -> None:
        """An object whose own load fails raises with a note naming what was already restored."""

        class Picky:
            def __init__(self) -> None:
                self.w = 1

            def state_dict(self) -> dict[str, int]:
                return {"w": self.w}

            def load_state_dict(self, sd: dict[str, int]) -> None:
                if sd["w"] < 0:
                    raise ValueError("negative weight")
                self.w = sd["w"]

        state = State()
        state.configs.lr = 0.1
        state.modules.picky = Picky()
        sd = state.state_dict()
        sd["variables"]["configs.lr"] = 0.5
        sd["objects"]["modules.picky"] = {"w": -1}
        with pytest.raises(ValueError, match="negative weight") as info:
            state.load_state_dict(sd)
        assert info.value.__notes__ == [
            "while loading modules.picky; the variables were already loaded, so the state "
            "is only partly restored: load into a freshly built state again"
        ]
        assert state.configs.lr == 0.5
