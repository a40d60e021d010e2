"""The set hook in both its forms: compiled (pipeline/_speedups.c) and pure Python.

Every behaviour test runs against each implementation that is available here,
on bare owners built from the hook's base classes; the rest of the suite runs
against whichever one ``pipeline`` picked (``make test`` runs the core and
nodes tests a second time with ``STATEFIRE_PURE_PYTHON=1``).
"""

from __future__ import annotations

import gc
import importlib
import os
import subprocess
import sys
import weakref
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline import Node, State, Variable, _hooks, _pyhooks

try:
    _compiled: Any = importlib.import_module("pipeline._speedups")
except ImportError:
    _compiled = None

IMPLS = [pytest.param(_pyhooks, id="pure-python")]
if _compiled is not None:
    IMPLS.append(pytest.param(_compiled, id="compiled"))
needs_compiled = pytest.mark.skipif(_compiled is None, reason="the extension is not built")


def python_stdout(code: str, **env: str) -> str:
    """stdout of ``python -c code`` with ``env`` added to this process's environment."""
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout


def make_owner_classes(impl: Any) -> SimpleNamespace:
    """A Runtime that records on_set calls, a Slot and an owner, on ``impl``'s bases."""

    class Rt(impl.RuntimeBase):
        __slots__ = ("calls", "fail")

        def __init__(self) -> None:
            self.writer = None
            self.slow = False
            self.calls: list[tuple[str, Any, Any]] = []
            self.fail = False

        def on_set(self, slot: Any, old: Any, new: Any) -> None:
            self.calls.append((slot.name, old, new))
            if self.fail:
                raise RuntimeError(f"on_set failed for {slot.name}")

    class Sl(impl.SlotBase):
        __slots__ = ("name",)

        def __init__(self, rt: Any, name: str, value: Any) -> None:
            self.rt = rt
            self.name = name
            self.value = value
            self.last_writer = None
            self.watch = False

    class Owner(impl.OwnerBase):
        def __init__(self, rt: Any, **values: Any) -> None:
            impl.generic_setattr(self, "others", [])
            slots = {}
            for name, value in values.items():
                slots[name] = Sl(rt, name, value)
                impl.generic_setattr(self, name, value)
            impl.generic_setattr(self, "_vars", slots)

        def _set_other(self, name: str, value: Any) -> None:
            self.others.append((name, value))
            impl.generic_setattr(self, name, value)

    return SimpleNamespace(Rt=Rt, Sl=Sl, Owner=Owner)


@pytest.fixture(params=IMPLS)
def hook(request: pytest.FixtureRequest) -> SimpleNamespace:
    impl = request.param
    classes = make_owner_classes(impl)
    rt = classes.Rt()
    owner = classes.Owner(rt, n=0, lr=0.1)
    return SimpleNamespace(impl=impl, rt=rt, owner=owner, **vars(classes))


class TestHookBehaviour:
    def test_quiet_set_stores_in_attribute_and_slot_without_on_set(
        self, hook: SimpleNamespace
    ) -> None:
        hook.owner.n = 5
        assert hook.owner.n == 5
        assert hook.owner._vars["n"].value == 5
        assert hook.rt.calls == []

    @pytest.mark.parametrize("why", ["watch", "slow", "new writer"])
    def test_on_set_called_with_old_and_new(self, hook: SimpleNamespace, why: str) -> None:
        slot = hook.owner._vars["n"]
        if why == "watch":
            slot.watch = True
        elif why == "slow":
            hook.rt.slow = True
        else:
            hook.rt.writer = "someone"
        hook.owner.n = 3
        hook.owner.n = 4
        # (recording the new writer is on_set's job; this stub does not, so both sets call it)
        assert hook.rt.calls == [("n", 0, 3), ("n", 3, 4)]
        assert hook.owner._vars["lr"].value == 0.1  # the other variable is untouched

    def test_same_writer_as_last_is_quiet(self, hook: SimpleNamespace) -> None:
        hook.rt.writer = "engine"
        hook.owner._vars["n"].last_writer = "engine"
        hook.owner.n = 7
        assert hook.rt.calls == []
        assert hook.owner._vars["n"].value == 7

    def test_exception_from_on_set_propagates_after_the_store(self, hook: SimpleNamespace) -> None:
        hook.owner._vars["n"].watch = True
        hook.rt.fail = True
        with pytest.raises(RuntimeError, match="on_set failed for n"):
            hook.owner.n = 9
        assert hook.owner.n == 9
        assert hook.owner._vars["n"].value == 9

    def test_other_names_go_to_set_other(self, hook: SimpleNamespace) -> None:
        hook.owner.plain = "x"
        setattr(hook.owner, "n_ref", 1)
        assert hook.owner.others == [("plain", "x"), ("n_ref", 1)]
        assert hook.owner.plain == "x"
        assert hook.rt.calls == []

    def test_exception_from_set_other_propagates(self, hook: SimpleNamespace) -> None:
        class Strict(hook.Owner):  # type: ignore[name-defined,misc]
            def _set_other(self, name: str, value: Any) -> None:
                raise AttributeError(f"no attribute {name!r} may be added")

        strict = Strict(hook.rt, n=0)
        with pytest.raises(AttributeError, match="no attribute 'typo' may be added"):
            strict.typo = 1
        strict.n = 2
        assert strict.n == 2

    def test_owner_without_variables_sends_every_name_to_set_other(
        self, hook: SimpleNamespace
    ) -> None:
        bare = hook.Owner.__new__(hook.Owner)
        hook.impl.generic_setattr(bare, "others", [])
        assert bare._vars == {}
        bare.n = 1
        assert bare.others == [("n", 1)]

    def test_a_str_subclass_name_finds_the_variable(self, hook: SimpleNamespace) -> None:
        class Name(str):
            pass

        hook.owner._vars["n"].watch = True
        setattr(hook.owner, Name("n"), 5)
        assert hook.owner.n == 5
        assert hook.owner._vars["n"].value == 5
        assert hook.rt.calls == [("n", 0, 5)]
        assert hook.owner.others == []

    def test_the_default_variables_are_read_only(self, hook: SimpleNamespace) -> None:
        bare = hook.Owner.__new__(hook.Owner)
        with pytest.raises(TypeError):
            bare._vars["n"] = 1
        assert hook.impl.NO_VARIABLES == {}

    def test_delete_removes_the_attribute_and_leaves_the_slot(self, hook: SimpleNamespace) -> None:
        hook.owner.plain = 1
        del hook.owner.plain
        del hook.owner.n
        assert not hasattr(hook.owner, "plain")
        assert not hasattr(hook.owner, "n")
        assert hook.owner._vars["n"].value == 0
        with pytest.raises(AttributeError):
            del hook.owner.missing

    def test_subclass_setattr_override_reaches_the_hook_through_super(
        self, hook: SimpleNamespace
    ) -> None:
        seen = []

        class Logged(hook.Owner):  # type: ignore[name-defined,misc]
            def __setattr__(self, name: str, value: Any) -> None:
                seen.append(name)
                super().__setattr__(name, value)

        logged = Logged(hook.rt, n=0)
        logged._vars["n"].watch = True
        logged.n = 1
        assert seen == ["n"]
        assert hook.rt.calls == [("n", 0, 1)]

    def test_generic_setattr_bypasses_the_hook(self, hook: SimpleNamespace) -> None:
        hook.owner._vars["n"].watch = True
        hook.impl.generic_setattr(hook.owner, "n", 11)
        assert hook.owner.n == 11
        assert hook.owner._vars["n"].value == 0
        assert hook.rt.calls == []

    @pytest.mark.parametrize("path", ["quiet", "on_set", "on_set raises"])
    def test_sets_leak_no_references(self, hook: SimpleNamespace, path: str) -> None:
        hook.owner._vars["n"].watch = path != "quiet"
        hook.rt.fail = path == "on_set raises"
        value, other = object(), object()
        before = sys.getrefcount(value), sys.getrefcount(other)
        for _ in range(1000):
            for v in (value, other):
                try:
                    hook.owner.n = v
                except RuntimeError:
                    assert path == "on_set raises"
        del v
        hook.rt.fail = False
        hook.owner.n = 0
        assert len(hook.rt.calls) == (0 if path == "quiet" else 2001)
        hook.rt.calls.clear()  # the stub's record of (name, old, new)
        assert (sys.getrefcount(value), sys.getrefcount(other)) == before

    def test_cycles_through_the_hook_fields_are_collected(self, hook: SimpleNamespace) -> None:
        rt = hook.Rt()
        owner = hook.Owner(rt, n=0)
        owner.n = owner  # owner -> slot.value -> owner
        rt.writer = owner  # runtime -> owner -> slot -> runtime
        owner._vars["n"].last_writer = owner
        alive = weakref.ref(owner)
        del owner, rt
        gc.collect()
        assert alive() is None

    @pytest.mark.skipif(
        sys.implementation.name != "cpython" or sys.version_info < (3, 11),
        reason="CPython's specializing interpreter",
    )
    def test_reads_stay_on_the_inline_values_fast_path(self, hook: SimpleNamespace) -> None:
        # The read target: a variable read must be a plain attribute read. Checked in
        # a fresh process, because a tracer (coverage) turns specialization off.
        code = f"""
import dis, importlib, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
from test_core_hook import make_owner_classes
from core_toys import Counter
from pipeline import State

impl = importlib.import_module({hook.impl.__name__!r})
classes = make_owner_classes(impl)
owner = classes.Owner(classes.Rt(), n=0, lr=0.1)
owner.n = 1
impl.generic_setattr(owner, "lr", 0.2)
owner.extra = 3

state = State()
counter = Counter(state, "counter")
counter.n = 5
state.configs.lr = 0.1
state.configs.lr = 0.2

def read(o):
    return o.n

def read_lr(c):
    return c.lr

for obj, fn in ((owner, read), (counter, read), (state.configs, read_lr)):
    for _ in range(1000):  # past the interpreter's warm-up and any back-off
        fn(obj)
    print(*[i.opname for i in dis.get_instructions(fn, adaptive=True) if "ATTR" in i.opname])
"""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("COV_CORE", "COVERAGE"))}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        ).stdout.split("\n")
        assert out[:3] == ["LOAD_ATTR_INSTANCE_VALUE"] * 3, out


@needs_compiled
class TestCompiledGuards:
    """The compiled hook checks the fields it trusts, instead of crashing."""

    def test_vars_must_be_a_dict(self) -> None:
        owner = make_owner_classes(_compiled).Owner(None)
        _compiled.generic_setattr(owner, "_vars", [])
        with pytest.raises(TypeError, match="_vars of Owner must be a dict of slots, got list"):
            owner.n = 1

    def test_a_slot_without_a_runtime_is_refused(self) -> None:
        classes = make_owner_classes(_compiled)
        owner = classes.Owner(classes.Rt(), n=0)
        owner._vars["n"].rt = "not a runtime"
        with pytest.raises(TypeError, match="the slot of 'n' has no Runtime \\(rt is str\\)"):
            owner.n = 1
        del owner._vars["n"].rt
        with pytest.raises(TypeError, match="the slot of 'n' has no Runtime \\(rt is unset\\)"):
            owner.n = 1
        assert owner.n == 0

    def test_a_vars_entry_that_is_not_a_slot_is_refused(self) -> None:
        owner = make_owner_classes(_compiled).Owner(None)
        _compiled.generic_setattr(owner, "_vars", {"n": 42})
        with pytest.raises(TypeError, match="'n' of Owner is registered with a int, not a Slot"):
            owner.n = 1

    def test_generic_setattr_checks_its_arguments(self) -> None:
        owner = make_owner_classes(_compiled).Owner(None)
        if sys.version_info < (3, 13):  # why the project stores with generic_setattr
            with pytest.raises(TypeError, match="can't apply this __setattr__"):
                object.__setattr__(owner, "x", 1)
        with pytest.raises(TypeError, match="stores on instances, got the type int"):
            _compiled.generic_setattr(int, "x", 1)
        with pytest.raises(TypeError, match="generic_setattr expected 3 arguments, got 2"):
            _compiled.generic_setattr(owner, "x")
        with pytest.raises(TypeError, match="attribute name must be a str, got int"):
            _compiled.generic_setattr(owner, 1, 1)


class TestSelection:
    def test_framework_classes_stand_on_the_selected_hook(self) -> None:
        from pipeline.propagation import Runtime
        from pipeline.variable import Slot

        impl = _compiled if _hooks.COMPILED else _pyhooks
        assert issubclass(Node, impl.OwnerBase)
        assert issubclass(Slot, impl.SlotBase)
        assert issubclass(Runtime, impl.RuntimeBase)
        expected = _compiled is not None and os.environ.get("STATEFIRE_PURE_PYTHON", "") in (
            "",
            "0",
        )
        assert _hooks.COMPILED is expected

    @pytest.mark.skipif(
        os.environ.get("STATEFIRE_REQUIRE_COMPILED") != "1",
        reason="only where the compiled hook must have been built (make test sets this)",
    )
    def test_the_compiled_hook_is_in_use_where_it_must_be(self) -> None:
        assert _compiled is not None, "pipeline._speedups was not built"
        assert _hooks.COMPILED

    def test_an_extension_that_fails_to_import_warns_and_falls_back(self) -> None:
        code = """
import importlib.abc, importlib.machinery, sys, warnings

class Broken(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def find_spec(self, name, path, target=None):
        if name == "pipeline._speedups":
            return importlib.machinery.ModuleSpec(name, self)
    def create_module(self, spec):
        raise ImportError("undefined symbol: PyFake")
    def exec_module(self, module):
        pass

sys.meta_path.insert(0, Broken())
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    from pipeline import _hooks
print(_hooks.COMPILED, _hooks.OwnerBase.__module__)
print(*[f"{w.category.__name__}: {w.message}" for w in caught], sep="\\n")
"""
        out = python_stdout(code, STATEFIRE_PURE_PYTHON="").splitlines()
        assert out[0] == "False pipeline._pyhooks"
        assert out[1].startswith(
            "RuntimeWarning: pipeline._speedups is installed but does not import "
            "(undefined symbol: PyFake); using the pure-Python set hook"
        ), out

    @pytest.mark.parametrize(
        "env, expected", [("1", "False"), ("true", "False"), ("0", None), ("no", None)]
    )
    def test_environment_variable_forces_pure_python(self, env: str, expected: str | None) -> None:
        code = (
            "import pipeline._hooks as h, pipeline.node as n;"
            "print(h.COMPILED, n._Owner.__mro__[1].__module__)"
        )
        out = python_stdout(code, STATEFIRE_PURE_PYTHON=env).split()
        if expected is None:  # "0": the compiled hook when it is built
            expected = str(_compiled is not None)
        assert out[0] == expected
        assert out[1] == ("pipeline._speedups" if out[0] == "True" else "pipeline._pyhooks")

    def test_a_node_behaves_the_same_whichever_hook(self) -> None:
        code = (
            "from pipeline import State, Node, Variable\n"
            "class C(Node):\n    n = Variable(0)\n"
            "s = State(); c = C(s, 'c'); seen = []\n"
            "s.ref('handlers.c.n').subscribe(lambda e: seen.append((e.old, e.new)))\n"
            "c.n = 1; c.n = 1; c.n = 2\n"
            "with s.trace() as t:\n    c.n = 3\n"
            "print(seen, c.n, s.ref('handlers.c.n').value, str(t).count('handlers.c.n'))\n"
        )
        outs = {python_stdout(code, STATEFIRE_PURE_PYTHON=env) for env in ("1", "0")}
        assert outs == {"[(0, 1), (1, 2), (2, 3)] 3 3 1\n"}


def test_a_node_set_goes_through_the_selected_hook() -> None:
    class C(Node):
        n = Variable(0)

    state = State()
    c = C(state, "c")
    got = []
    state.ref("handlers.c.n").subscribe(lambda e: got.append(e.new))
    c.n = 4
    assert got == [4]
    assert type(c).__setattr__ is (
        _compiled.OwnerBase.__setattr__ if _hooks.COMPILED else _pyhooks.OwnerBase.__setattr__
    )
