"""Bad inputs and the message each one gets: every error says what, which value, and how to fix."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from core_toys import Counter

from pipeline import GraphError, Node, RenderWarning, State, StateDictError, Variable


@dataclass
class Env:
    """What a bad-input case may use."""

    state: State
    counter: Counter
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch


def _cycle(env: Env) -> None:
    env.state.configs.x_ref.subscribe(lambda: None, writes=["configs.x"])
    env.state.validate()


def _load_with(extra: str | None, drop: str | None) -> Callable[[Env], None]:
    def action(env: Env) -> None:
        sd = env.state.state_dict()
        if extra:
            sd["variables"][extra] = 1
        if drop:
            del sd["variables"][drop]
        env.state.load_state_dict(sd)

    return action


def _render_without_dot(env: Env) -> None:
    empty = env.tmp_path / "no_bin"
    empty.mkdir()
    env.monkeypatch.setenv("PATH", str(empty))
    with warnings.catch_warnings():
        warnings.simplefilter("error", RenderWarning)  # so the table can match its message
        env.state.render(env.tmp_path / "g.svg")


def _clashing_variable(name: str) -> Callable[[Env], None]:
    def action(env: Env) -> None:
        type("Clash", (Node,), {name: Variable(0)})

    return action


def _two_args(a: Any, b: Any) -> None:
    pass


BAD_INPUTS: list[tuple[str, Callable[[Env], Any], type[BaseException], str]] = [
    (
        "typo in a container variable",
        lambda env: env.state.configs.lrr,
        AttributeError,
        r"'Container\[configs\]' object has no attribute 'lrr'",
    ),
    (
        "typo in a node variable",
        lambda env: env.counter.nn,
        AttributeError,
        r"'Counter' object has no attribute 'nn'",
    ),
    (
        "typo in a container name",
        lambda env: env.state.confgs,
        AttributeError,
        r"'State' object has no attribute 'confgs'",
    ),
    (
        "subscribe to a missing path",
        lambda env: env.state.on("configs.lrr"),
        AttributeError,
        r"'lrr' is not a variable or node of container 'configs'; did you mean 'lr'\?",
    ),
    (
        "subscribe to a missing node variable",
        lambda env: env.state.ref("handlers.counter.nn").subscribe(print),
        AttributeError,
        r"'nn' is not a variable of handlers\.counter \(Counter\); did you mean 'n'\?",
    ),
    (
        "subscribe to a missing container",
        lambda env: env.state.ref("engine.trainer.n"),
        AttributeError,
        r"'engine' is not a container; did you mean 'engines'\?",
    ),
    (
        "reads= a missing path",
        lambda env: env.state.configs.x_ref.subscribe(print, reads=["configs.nope"]),
        AttributeError,
        r"'nope' is not a variable or node of container 'configs'",
    ),
    (
        "callback with two arguments",
        lambda env: env.state.configs.x_ref.subscribe(_two_args),
        TypeError,
        r"callback _two_args \(.*\) takes 2 required arguments; a callback takes no "
        r"argument or one Event",
    ),
    (
        "callback not callable",
        lambda env: env.state.configs.x_ref.subscribe(3),
        TypeError,
        r"a callback must be callable, got int",
    ),
    (
        "every=0",
        lambda env: env.state.configs.x_ref.subscribe(print, every=0),
        ValueError,
        r"every must be a positive integer \(1, 2, \.\.\.\), got 0",
    ),
    (
        "negative once",
        lambda env: env.state.configs.x_ref.subscribe(print, once=-1),
        ValueError,
        r"once must be a positive integer \(1, 2, \.\.\.\), got -1",
    ),
    (
        "every not an int",
        lambda env: env.state.on("configs.x", every=2.0),
        TypeError,
        r"every must be a positive int or None, got 2\.0",
    ),
    (
        "every and once together",
        lambda env: env.state.configs.x_ref.subscribe(print, every=2, once=4),
        ValueError,
        r"give every or once, not both \(got every=2, once=4\)",
    ),
    (
        "when not callable",
        lambda env: env.state.configs.x_ref.subscribe(print, when=True),
        TypeError,
        r"when must be a predicate of the new value, got True",
    ),
    (
        "when with two arguments",
        lambda env: env.state.configs.x_ref.subscribe(print, when=lambda a, b: True),
        TypeError,
        r"predicate .* must take exactly one argument \(the new value\), it requires 2",
    ),
    (
        "allow_cycle not a bool",
        lambda env: env.state.configs.x_ref.subscribe(print, allow_cycle=1),
        TypeError,
        r"allow_cycle must be a bool, got 1",
    ),
    (
        "a trigger cycle",
        _cycle,
        GraphError,
        r"1 problem in the state graph:\n  1\. trigger cycle that can loop forever: "
        r".*configs\.x.*allow_cycle=True",
    ),
    (
        "state dict with an unknown entry",
        _load_with(extra="configs.ghost", drop=None),
        StateDictError,
        r"unexpected entries \(1\): variables:configs\.ghost",
    ),
    (
        "state dict with a missing entry",
        _load_with(extra=None, drop="configs.lr"),
        StateDictError,
        r"missing entries \(1\): variables:configs\.lr",
    ),
    (
        "a foreign state dict",
        lambda env: env.state.load_state_dict({"weights": 1}),
        StateDictError,
        r"not a statefire state dict \(expected format 'statefire\.state/1'",
    ),
    (
        "rendering without dot",
        _render_without_dot,
        RenderWarning,
        r"Graphviz's 'dot' program was not found on PATH, so g\.svg was not drawn; "
        r"wrote the DOT source to .*g\.dot instead\. Install Graphviz",
    ),
    (
        "rendering to an unsupported suffix",
        lambda env: env.state.render(env.tmp_path / "g.gif"),
        ValueError,
        r"unsupported suffix '\.gif'; use \.svg, \.png, \.pdf, \.dot \(or \.gv\), or "
        r"\.html \(or \.htm\) for the interactive page",
    ),
    (
        "a node name already taken",
        lambda env: Counter(env.state, "counter"),
        ValueError,
        r"'handlers\.counter' is already taken by <Counter handlers\.counter>; "
        r"choose another name",
    ),
    (
        "a node name taken by a variable",
        lambda env: Counter(env.state, "x", container="configs"),
        ValueError,
        r"'configs\.x' is already taken by the variable configs\.x",
    ),
    (
        "a non-identifier node name",
        lambda env: Counter(env.state, "my-counter"),
        ValueError,
        r"a node name must be a Python identifier not starting with '_', got 'my-counter'",
    ),
    (
        "a node name that is not a str",
        lambda env: Counter(env.state, 3),
        TypeError,
        r"a node name must be a str, got int",
    ),
    (
        "a node name clashing with the container API",
        lambda env: Counter(env.state, "add_variable"),
        ValueError,
        r"a node may not be named 'add_variable': it clashes with Container\.add_variable, the "
        r"one name a container reserves",
    ),
    (
        "a node named with a Python keyword",
        lambda env: Counter(env.state, "class"),
        ValueError,
        r"a node may not be named 'class': it is a Python keyword, so `state\.handlers\.class` "
        r"would be a syntax error; choose another name, e.g\. 'class_'",
    ),
    (
        "a container named with a Python keyword",
        lambda env: env.state.add_container("None"),
        ValueError,
        r"a container may not be named 'None': it is a Python keyword",
    ),
    (
        "a container variable named with a Python keyword",
        lambda env: setattr(env.state.configs, "lambda", 1),
        ValueError,
        r"a variable may not be named 'lambda': it is a Python keyword, so "
        r"`state\.configs\.lambda` would be a syntax error",
    ),
    (
        "a node in a missing container",
        lambda env: Counter(env.state, "c", container="handler"),
        ValueError,
        r"'handler' is not a container of the state; did you mean 'handlers'\?",
    ),
    (
        "a Node with a non-State first argument",
        lambda env: Counter("state", "c"),
        TypeError,
        r"Counter needs a pipeline\.State as first argument, got str",
    ),
    (
        "a Variable clashing with the Node API",
        _clashing_variable("state"),
        TypeError,
        r"Variable 'state' of Clash clashes with Node\.state; rename the variable",
    ),
    (
        "a Variable named like a ref",
        _clashing_variable("n_ref"),
        TypeError,
        r"Variable 'n_ref' of Clash: variable names may not start with '_' or end in '_ref'",
    ),
    (
        "a container variable clashing with the container API",
        lambda env: setattr(env.state.configs, "add_variable", 1),
        ValueError,
        r"a variable may not be named 'add_variable': it clashes with Container\.add_variable, "
        r"the one name a container reserves; choose another name",
    ),
    (
        "a container variable named like a ref",
        lambda env: setattr(env.state.configs, "lr2_ref", 1),
        ValueError,
        r"'configs\.lr2_ref': names ending in '_ref' are reserved for refs",
    ),
    (
        "a container variable created twice",
        lambda env: env.state.configs.add_variable("lr", 1),
        ValueError,
        r"'configs\.lr' already exists",
    ),
    (
        "a container that exists",
        lambda env: env.state.add_container("configs"),
        ValueError,
        r"container 'configs' already exists",
    ),
    (
        "a container clashing with the State API",
        lambda env: env.state.add_container("graph"),
        ValueError,
        r"container name 'graph' clashes with State\.graph; choose another name",
    ),
    (
        "setting an attribute of the state",
        lambda env: setattr(env.state, "lr", 1),
        AttributeError,
        r"cannot set state\.lr: assign variables inside a container "
        r"\(state\.configs\.lr = \.\.\.\) or add one with state\.add_container\('lr'\)",
    ),
    (
        "a trace with a bad maxlen",
        lambda env: env.state.trace(maxlen=-5),
        ValueError,
        r"maxlen must be a positive integer, got -5",
    ),
    (
        "a persistent variable holding an object",
        lambda env: (
            env.state.configs.add_variable("lock", object(), persistent=True),
            env.state.state_dict(),
        ),
        TypeError,
        r"configs\.lock is persistent but holds a object, which a state dict cannot hold",
    ),
]


class TestBadInputs:
    @pytest.mark.parametrize(
        ("action", "exc", "match"),
        [pytest.param(action, exc, match, id=name) for name, action, exc, match in BAD_INPUTS],
    )
    def test_bad_input_message(
        self,
        state: State,
        counter: Counter,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        action: Callable[[Env], Any],
        exc: type[BaseException],
        match: str,
    ) -> None:
        """Each bad input raises the expected exception with a message that says how to fix it."""
        with pytest.raises(exc, match=match):
            action(Env(state, counter, tmp_path, monkeypatch))


class TestFailedInputsLeaveNoTrace:
    def test_refused_node_not_registered(self, state: State, counter: Counter) -> None:
        """A node refused at registration is not half-registered."""
        with pytest.raises(ValueError):
            Counter(state, "add_variable")
        with pytest.raises(ValueError):
            Counter(state, "class")
        with pytest.raises(ValueError):
            Counter(state, "counter")
        assert state.nodes() == {"handlers.counter": counter}
        assert state.handlers.variables() == {}

    def test_refused_container_variable_not_created(self, state: State) -> None:
        """A refused container variable leaves neither a slot nor a graph node."""
        with pytest.raises(ValueError):
            state.configs.add_variable = "run"
        with pytest.raises(ValueError):
            setattr(state.configs, "class", "run")
        for path in ("configs.add_variable", "configs.class"):
            assert path not in state.variables() and path not in state.graph
        assert state.configs.name == "configs"

    def test_refused_subscription_adds_nothing(self, state: State) -> None:
        """A subscription refused for its filters leaves no callback in the graph."""
        n_nodes = state.graph.number_of_nodes()
        with pytest.raises(ValueError):
            state.configs.x_ref.subscribe(print, every=0)
        assert state.graph.number_of_nodes() == n_nodes
        assert state.subscribers_of("configs.x") == []

    def test_errors_subclass_builtins(self) -> None:
        """The core's errors subclass built-ins and carry the failing pieces."""
        assert issubclass(GraphError, ValueError) and issubclass(StateDictError, ValueError)
        assert issubclass(RenderWarning, UserWarning)
        err = StateDictError(missing=["b", "a"], unexpected=["c"])
        assert (err.missing, err.unexpected, err.mismatched) == (["a", "b"], ["c"], [])
        assert GraphError(["p"]).problems == ["p"]
