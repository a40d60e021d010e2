"""state_dict() / load_state_dict(): what is saved, restoring without events, strictness."""

from __future__ import annotations

import copy
import pickle
from typing import Any

import numpy as np
import pytest
from core_toys import Counter, Loop, Stateful, WithOwnState

from pipeline import State, StateDictError, StateDictWarning, Variable
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


class FakeScalarTensor:
    """What a 0-d torch tensor looks like to the core (a real one is tested in tests/nodes)."""

    __module__ = "torch"
    ndim = 0
    shape = ()
    dtype = "float32"

    def __init__(self, value: float) -> None:
        self.value = value

    def item(self) -> float:
        return self.value


def scored() -> State:
    """A state whose score variable starts as a Python float."""
    state = State()
    state.configs.score = 0.0
    state.configs.history = []
    return state


class TestNumbers:
    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (np.float64(0.75), 0.75),
            (np.float32(0.5), 0.5),
            (np.int64(7), 7),
            (np.bool_(True), True),
            (np.array(0.25), 0.25),
        ],
    )
    def test_numpy_and_0d_numbers_saved_as_python_numbers(self, value: Any, expected: Any) -> None:
        """A NumPy scalar or a 0-d array is saved as the Python number it holds."""
        state = scored()
        state.configs.score = value
        state.configs.history = [value, {"best": value}]
        sd = state.state_dict()
        saved = sd["variables"]["configs.score"]
        assert saved == expected and type(saved) is type(expected)
        assert sd["variables"]["configs.history"] == [expected, {"best": expected}]
        assert type(sd["variables"]["configs.history"][0]) is type(expected)
        assert is_plain_data(sd)

    def test_same_script_loads_its_own_state_dict(self) -> None:
        """A fresh state of the same script loads a dict saved while a NumPy score was held."""
        src = scored()
        src.configs.score = np.float64(0.9)
        dst = scored()
        dst.load_state_dict(src.state_dict())
        assert dst.configs.score == 0.9 and type(dst.configs.score) is float

    def test_numpy_array_is_not_a_number(self) -> None:
        """An array with dimensions is no number: not saved unless declared persistent."""
        state = State()
        state.configs.table = np.zeros(3)
        assert "configs.table" not in state.state_dict()["variables"]


class TestTypeChecks:
    @pytest.mark.parametrize(
        ("bad", "got"),
        [
            ("1", r"a str \('1'\)"),
            (None, "None"),
            (1.0, r"a float \(1\.0\).*needs a float initial value"),
            (True, r"a bool \(True\)"),
            (FakeScalarTensor(5), r"a FakeScalarTensor \(.*\)"),
        ],
    )
    def test_wrong_type_for_an_int_counter_refused(self, bad: Any, got: str) -> None:
        """A value of another type for an int counter is refused, naming path and both types."""
        sd = build().state_dict()
        sd["variables"]["engines.loop.n_iteration_completed"] = bad
        sd["variables"]["configs.lr"] = 0.5
        dst = build()
        with pytest.raises(
            StateDictError,
            match=rf"mismatch: engines\.loop\.n_iteration_completed: the state holds an int "
            rf"\(0\), the file {got}",
        ):
            dst.load_state_dict(sd)
        assert dst.configs.lr == 0.1  # nothing loaded

    @pytest.mark.parametrize(
        ("path", "value"),
        [
            ("configs.lr", 3),  # an int where a float is held: a number all the same
            ("configs.tag", "x"),  # None in the state takes any plain data
            ("configs.run_name", "other"),
        ],
    )
    def test_compatible_types_accepted(self, path: str, value: Any) -> None:
        """An int for a float, anything for None, the same type: loaded."""
        sd = build().state_dict()
        sd["variables"][path] = value
        dst = build()
        dst.load_state_dict(sd)
        assert dst.ref(path).value == value

    @pytest.mark.parametrize(
        ("saved", "fresh"),
        [(None, "/runs/ckpt.pt"), ("/runs/ckpt.pt", None), (0.5, 1), (1, 0.5)],
    )
    def test_configs_take_none_and_either_number(self, saved: Any, fresh: Any) -> None:
        """A container variable (a command-line option: None in one run, a value in the
        next) takes None over a value and an int and a float for each other."""
        src = build()
        src.configs.resume = saved
        dst = build()
        dst.configs.resume = fresh
        dst.load_state_dict(src.state_dict())
        assert dst.configs.resume == saved

    def test_configs_keep_their_kind_otherwise(self) -> None:
        """A string for a container's number is still refused."""
        sd = build().state_dict()
        sd["variables"]["configs.lr"] = "0.1"
        with pytest.raises(
            StateDictError, match=r"configs\.lr: the state holds a float \(0\.1\), the file a str"
        ):
            build().load_state_dict(sd)

    def test_strict_false_skips_a_mistyped_entry(self) -> None:
        """With strict=False a mistyped entry is skipped, the rest loads."""
        sd = build().state_dict()
        sd["variables"]["engines.loop.n_iteration_completed"] = "1"
        sd["variables"]["configs.lr"] = 0.5
        dst = build()
        dst.load_state_dict(sd, strict=False)
        assert dst.engines.loop.n_iteration_completed == 0 and dst.configs.lr == 0.5

    @pytest.mark.parametrize("junk", ["3", -1, None, 2.0])
    def test_junk_filter_count_refused_before_anything_loads(self, junk: Any) -> None:
        """A filter counter that is not an int >= 0 is a mismatch, found before any loading."""
        src = build()
        src.configs.tag = "a"
        sd = src.state_dict()
        (key,) = sd["filters"]
        sd["filters"][key] = junk
        sd["variables"]["configs.lr"] = 0.5
        dst = build()
        with pytest.raises(
            StateDictError, match=r"mismatch: filters:configs\.tag -> .*: expected a change count"
        ):
            dst.load_state_dict(sd)
        assert dst.configs.lr == 0.1 and dst.modules.net.n_loaded == 0

    def test_node_part_refused_before_anything_loads(self) -> None:
        """A node part the node would refuse is reported with the rest; nothing is loaded."""
        sd = build().state_dict()
        sd["nodes"]["handlers.counter"] = {"unknown": 1}  # Counter has no state of its own
        sd["nodes"]["metrics.acc"] = 3
        sd["variables"]["configs.lr"] = 0.5
        dst = build()
        with pytest.raises(StateDictError) as info:
            dst.load_state_dict(sd)
        assert info.value.mismatched == [
            "nodes:handlers.counter: handlers.counter has no state of its own to load, got keys "
            "['unknown']",
            "nodes:metrics.acc: expected the node's state_dict (a dict), got an int",
        ]
        assert dst.configs.lr == 0.1 and dst.modules.net.n_loaded == 0


class TestMalformed:
    @pytest.mark.parametrize(
        ("junk", "match"),
        [
            (
                42,
                r"not a statefire state dict \(expected the dict state\.state_dict\(\) returns, "
                r"got an int \(42\)\)",
            ),
            ({}, r"expected format 'statefire\.state/1' .*, got an empty dict"),
            ({"weights": 1}, r"got a dict with keys \['weights'\] and no 'format'"),
            (
                {"format": "statefire.state/1", "variables": "x", "objects": {}, "nodes": {}},
                r"the state dict is malformed:\n  section 'variables' is a str \('x'\), not a "
                r"dict\n  section 'filters' is missing\n",
            ),
            (
                {
                    "format": "statefire.state/1",
                    "variables": {1: 2},
                    "objects": {},
                    "nodes": {},
                    "filters": {},
                },
                r"section 'variables': keys must be paths \(str\), got \[1\]",
            ),
        ],
    )
    def test_says_what_is_wrong_without_suggesting_strict_false(
        self, junk: Any, match: str
    ) -> None:
        """A malformed dict is described; the message does not offer strict=False."""
        for strict in (True, False):
            with pytest.raises(StateDictError, match=match) as info:
                build().load_state_dict(junk, strict=strict)
            assert info.value.malformed
            assert (info.value.missing, info.value.unexpected) == ([], [])
            assert "strict=False" not in str(info.value)
            assert "nothing was loaded" in str(info.value)


class TestFilterState:
    def test_value_filters_keep_no_state(self) -> None:
        """every=/once= on an int variable test the value: nothing saved for them."""
        state = State()
        loop = Loop(state, "loop")
        loop.n_iteration_completed_ref.subscribe(lambda: None, every=100)
        loop.n_iteration_completed_ref.subscribe(lambda: None, once=3)
        loop.run(5)
        assert state.state_dict()["filters"] == {}

    def test_changing_a_value_filter_keeps_old_dicts_loadable(self) -> None:
        """every=100 changed to every=50 on an int counter: the older dict still loads strictly."""

        def make(every: int) -> State:
            state = State()
            loop = Loop(state, "loop")
            loop.n_iteration_completed_ref.subscribe(lambda: None, every=every)
            return state

        src = make(100)
        src.engines.loop.run(7)
        dst = make(50)
        dst.load_state_dict(src.state_dict())
        assert dst.engines.loop.n_iteration_completed == 7

    def test_counter_of_a_vanished_callback_is_a_warning(self) -> None:
        """A saved counter of a subscription the state no longer has warns and loads the rest."""
        src = build()
        for v in ("a", "b", "c"):
            src.configs.tag = v
        sd = src.state_dict()
        dst = State()
        dst.configs.lr = 0.1
        dst.configs.run_name = "run"
        dst.modules.net = Stateful(1.0)
        Loop(dst, "loop")
        Counter(dst, "counter")
        WithOwnState(dst, "acc")
        dst.configs.tag = None  # and no every=2 subscriber any more
        with pytest.warns(
            StateDictWarning,
            match=r"filter counters of 1 subscription this state does not have, ignored: "
            r"configs\.tag -> .*\[every=2\] \(a callback removed",
        ):
            dst.load_state_dict(sd)
        assert dst.configs.tag == "c"

    def test_new_counting_subscription_starts_at_zero(self) -> None:
        """A change-counting subscription the dict has no counter for counts from 0."""
        fired: list[str] = []
        src = State()
        src.configs.tag = None
        src.configs.tag = "a"
        dst = State()
        dst.configs.tag = None
        dst.configs.tag_ref.subscribe(lambda e: fired.append(e.new), every=2)
        dst.configs.tag = "x"  # counted once before the load
        dst.load_state_dict(src.state_dict())
        dst.configs.tag = "b"
        dst.configs.tag = "c"
        assert fired == ["c"]
