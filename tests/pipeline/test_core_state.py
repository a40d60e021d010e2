"""State, containers, node registration, Variable declarations, Ref and Event."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

import pytest
from core_toys import Counter, Loop

from pipeline import Container, Event, Node, Ref, State, Variable
from pipeline.state import STANDARD_CONTAINERS


def _uncaught(script: str) -> str:
    """stderr of a Python process that dies of an uncaught exception in ``script``."""
    code = "from pipeline import State\ns = State()\n" + script
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    return done.stderr


class TestContainers:
    def test_standard_containers_exist(self) -> None:
        """A new State has every standard container, reachable as an attribute."""
        state = State()
        for name in (
            "configs",
            "params",
            "modules",
            "optimizers",
            "dataloaders",
            "engines",
            "metrics",
            "handlers",
            "writers",
        ):
            assert isinstance(getattr(state, name), Container)
            assert getattr(state, name).name == name
        assert set(state.containers) == set(STANDARD_CONTAINERS)

    def test_container_member_names_free_for_the_user(self, state: State) -> None:
        """A container is the user's namespace: variables named name, nodes or variables
        work like any other; the members they hide stay reachable through the class."""
        state.configs.name = "run-1"
        state.configs.nodes = 4
        state.configs.variables = ["a"]
        state.configs.name = "run-2"  # a set, an ordinary variable
        assert (state.configs.name, state.configs.nodes, state.configs.variables) == (
            "run-2",
            4,
            ["a"],
        )
        assert state.ref("configs.name").value == "run-2"
        assert state.state_dict()["variables"]["configs.nodes"] == 4
        # the members hidden on this container, through the class
        assert Container.variables(state.configs) == {
            "lr": 0.1,
            "x": 0,
            "name": "run-2",
            "nodes": 4,
            "variables": ["a"],
        }
        assert Container.nodes(state.configs) == {}
        assert state.params.name == "params" and state.params.nodes() == {}
        with pytest.warns(UserWarning, match="gets no alias state.variables"):
            node = Counter(state, "variables", container="engines")
        assert state.engines.variables is node

    def test_containers_is_a_copy(self, state: State) -> None:
        """Mutating the returned mapping does not change the state."""
        state.containers.pop("configs")
        assert "configs" in state.containers

    def test_custom_container(self, state: State) -> None:
        """add_container adds a container that works like a standard one."""
        box = state.add_container("schedules")
        assert state.schedules is box
        state.schedules.warmup = 5
        assert state.ref("schedules.warmup").value == 5

    def test_assignment_creates_then_sets(self) -> None:
        """Assigning a new name creates a variable; assigning again sets it."""
        state = State()
        state.configs.lr = 0.01
        assert state.configs.lr == 0.01
        assert "configs.lr" in state.variables()
        state.configs.lr = 0.02
        assert state.configs.lr == 0.02
        assert state.ref("configs.lr").value == 0.02
        assert state.configs.variables() == {"lr": 0.02}

    def test_add_variable_returns_ref_with_doc_and_writer(
        self, state: State, counter: Counter
    ) -> None:
        """add_variable creates a variable with a doc and a declared writer."""
        ref = state.metrics.add_variable("acc", 0.5, doc="accuracy", writer=counter)
        assert isinstance(ref, Ref) and ref.path == "metrics.acc" and ref.value == 0.5
        assert state.graph.nodes["metrics.acc"]["doc"] == "accuracy"
        assert state.writers_of("metrics.acc") == ["handlers.counter"]

    def test_container_protocol(self, state: State, counter: Counter) -> None:
        """A container supports in, iter, len and lists its nodes."""
        assert "lr" in state.configs and "counter" in state.handlers
        assert list(state.configs) == ["lr", "x"]
        assert len(state.handlers) == 1
        assert state.handlers.nodes() == {"counter": counter}
        assert "lr" in dir(state.configs)

    def test_typo_in_container_raises_with_suggestion(self, state: State) -> None:
        """Reading a missing name fails at once, naming the container; the traceback suggests the close one."""
        with pytest.raises(
            AttributeError, match=r"'Container\[configs\]' object has no attribute 'lrr'"
        ) as info:
            state.configs.lrr
        assert info.value.name == "lrr" and info.value.obj is state.configs
        assert "Did you mean: 'lr'?" in _uncaught("s.configs.lr = 1\ns.configs.lrr")

    def test_typo_in_state_raises_with_suggestion(self, state: State) -> None:
        """A misspelt container fails at once; the traceback suggests the close one."""
        with pytest.raises(AttributeError, match=r"'State' object has no attribute 'confgs'"):
            state.confgs
        assert "Did you mean: 'configs'?" in _uncaught("s.confgs")

    def test_state_attribute_assignment_refused(self, state: State) -> None:
        """state.x = ... is refused and says where variables go."""
        with pytest.raises(AttributeError, match=r"cannot set state.x: .*state.configs.x"):
            state.x = 1

    def test_private_container_name_refused(self, state: State) -> None:
        """A container variable may not start with an underscore."""
        with pytest.raises(AttributeError, match="may not start with '_'"):
            state.configs._hidden = 1

    def test_repr(self, state: State, counter: Counter) -> None:
        """repr of a state and a container count what they hold."""
        assert repr(state.configs) == "<Container configs: 2 variables, 0 nodes; lr=0.1, x=0>"
        assert "1 nodes" in repr(state) and "containers" in repr(state)


class TestNodeRegistration:
    def test_registered_under_container_and_alias(self, state: State) -> None:
        """A node is reachable as state.<container>.<name> and state.<name>."""
        c = Counter(state, "counter", container="handlers")
        assert state.handlers.counter is c and state.counter is c
        assert state.nodes() == {"handlers.counter": c}
        assert c.key == "handlers.counter" and c.name == "counter" and c.state is state

    def test_default_container(self, state: State) -> None:
        """Without container=, a node goes under its class's default_container."""
        loop = Loop(state, "trainer")
        assert state.engines.trainer is loop

    def test_ambiguous_alias(self, state: State) -> None:
        """Two nodes with the same name: state.<name> raises and names both."""
        Counter(state, "twin", container="handlers")
        Counter(state, "twin", container="metrics")
        with pytest.raises(
            AttributeError, match=r"'twin' is ambiguous.*handlers.twin, metrics.twin"
        ):
            state.twin
        with pytest.raises(AttributeError, match="ambiguous"):
            state.ref("twin.n")
        assert state.ref("metrics.twin.n").path == "metrics.twin.n"

    def test_ambiguous_alias_concerns_one_state_also_of_a_subclass(self) -> None:
        """The ambiguity error of one state does not reach another of the same State subclass."""

        class MyState(State):
            pass

        a, b = MyState(), MyState()
        Counter(a, "twin", container="handlers")
        Counter(a, "twin", container="metrics")
        only = Counter(b, "twin", container="handlers")
        with pytest.raises(AttributeError, match="'twin' is ambiguous"):
            a.twin
        assert b.twin is only
        assert isinstance(a, MyState) and isinstance(b, MyState)

    @pytest.mark.parametrize("name", ["graph", "hold", "ref", "on", "configs"])
    def test_alias_does_not_shadow_state_api(self, state: State, name: str) -> None:
        """A node named like a State attribute or a container gets no alias, and a warning."""
        taken = "the container state" if name == "configs" else "State"
        with pytest.warns(
            UserWarning,
            match=rf"node handlers\.{name} gets no alias state\.{name}: that name is "
            rf"{taken}\.{name}.*; reach the node as state\.handlers\.{name}",
        ) as record:
            node = Counter(state, name)
        assert record[0].filename == __file__  # points at the line that created the node
        assert state.handlers.__dict__[name] is node
        assert getattr(state, name) is not node

    def test_unique_node_alias_without_warning(self, state: State) -> None:
        """A node whose name is free gets its alias and no warning."""
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            node = Counter(state, "counter2")
        assert state.counter2 is node

    def test_short_path_through_alias(self, state: State, counter: Counter) -> None:
        """state.ref("<node>.<var>") works for a unique node name."""
        assert state.ref("counter.n") == state.ref("handlers.counter.n")

    def test_node_cannot_be_assigned(self, state: State, counter: Counter) -> None:
        """Assigning to a node's name in its container is refused."""
        with pytest.raises(AttributeError, match="is a node"):
            state.handlers.counter = 3

    def test_node_typo_suggests(self, counter: Counter) -> None:
        """A misspelt variable of a node fails where it is written; the traceback suggests the variable."""
        counter.items_ref  # refs are plain attributes
        with pytest.raises(
            AttributeError, match=r"'Counter' object has no attribute 'itemz'"
        ) as info:
            counter.itemz
        assert info.value.name == "itemz" and info.value.obj is counter
        script = (
            "from pipeline import Node, Variable\n"
            "class Counter(Node):\n    items = Variable(0)\n"
            "c = Counter(s, 'counter')\nc.itemz"
        )
        assert "Did you mean: 'items'?" in _uncaught(script)

    def test_reset_variables_fires_nothing(self, counter: Counter) -> None:
        """reset_variables sets values without an event; a typo still raises."""
        fired: list[object] = []
        counter.n_ref.subscribe(fired.append)
        counter.n = 5
        counter.reset_variables(n=0, items=[1])
        assert (counter.n, counter.n_ref.value, counter.items) == (0, 0, [1])
        assert len(fired) == 1
        with pytest.raises(AttributeError, match="did you mean 'n'"):
            counter.reset_variables(nn=1)

    def test_node_repr_and_label(self, counter: Counter) -> None:
        """A node's repr and label name its class."""
        assert repr(counter) == "<Counter handlers.counter>"
        assert counter.label == "counter (Counter)"

    def test_node_ordinary_attributes(self, state: State) -> None:
        """Attributes that are not Variables are ordinary attributes."""
        c = Counter(state, "c")
        c.note = "hello"
        assert c.note == "hello"
        assert "handlers.c.note" not in state.variables()


class TestVariable:
    def test_declaration_on_class(self) -> None:
        """The class attribute is the Variable declaration with its name and doc."""
        decl = Counter.n
        assert isinstance(decl, Variable)
        assert decl.name == "n" and decl.default == 0 and decl.doc == "how many times it counted"
        assert repr(decl) == "Variable(0, name='n')"

    def test_class_typo(self) -> None:
        """A misspelt declaration on the class raises with a suggestion."""
        with pytest.raises(AttributeError, match="did you mean 'items'"):
            Counter.itemz

    def test_instance_read_is_plain_attribute(self, counter: Counter) -> None:
        """The value lives in the instance dict, so a read is a plain attribute read."""
        assert counter.__dict__["n"] == 0
        assert counter.n == 0

    def test_mutable_defaults_copied_per_instance(self, state: State) -> None:
        """List defaults are copied per instance."""
        a, b = Counter(state, "a"), Counter(state, "b")
        a.items.append(1)
        assert b.items == [] and Counter.items.default == []

    def test_value_set_before_registration_kept(self, state: State) -> None:
        """A value set before Node.__init__ is the initial value."""

        class Preset(Node):
            n = Variable(0)

            def __init__(self, state: State, name: str) -> None:
                self.n = 7
                super().__init__(state, name)

        assert Preset(state, "p").n == 7

    def test_inherited_variables(self, state: State) -> None:
        """A subclass inherits its base's Variables and may redeclare one."""

        class Base(Node):
            a = Variable(1)

        class Child(Base):
            a = Variable(2)
            b = Variable(3)

        child = Child(state, "child")
        assert child.variables() == {"a": 2, "b": 3}

    def test_paths(self, state: State, loop: Loop) -> None:
        """A node variable's path is <container>.<node>.<name>."""
        assert loop.n_iteration_completed_ref.path == "engines.loop.n_iteration_completed"
        assert "engines.loop.batch" in state.variables()

    def test_variable_doc_must_be_str(self) -> None:
        """A non-str doc is refused when declared."""
        with pytest.raises(TypeError, match="doc must be a str"):
            Variable(0, doc=3)  # type: ignore[arg-type]

    @pytest.mark.parametrize(
        ("kwargs", "error", "match"),
        [
            ({"owner_only": 1}, TypeError, "persistent, shared and owner_only must be bools"),
            ({"owner_only": True, "shared": True}, ValueError, "both shared and owner_only"),
        ],
    )
    def test_bad_flags(self, kwargs: dict[str, object], error: type, match: str) -> None:
        """Flags that are not bools, or that contradict each other, are refused when declared."""
        with pytest.raises(error, match=match):
            Variable(0, **kwargs)  # type: ignore[arg-type]


class Guarded(Node):
    n = Variable(0, owner_only=True)
    free = Variable(0)

    def step(self) -> None:
        self.n += 1


class TestOwnerOnly:
    """An owner_only variable refuses sets by anyone but its owner, at the line that wrote it."""

    def test_owner_writes_user_code_is_refused(self, state: State) -> None:
        """The owner's method sets it; user code gets AttributeError and the value is kept."""
        node = Guarded(state, "g")
        with state.writing_as(node):
            node.step()
        assert node.n == 1
        with pytest.raises(
            AttributeError,
            match=r"handlers\.g\.n is written only by g \(Guarded\) itself; code at "
            r"test_core_state\.py:\d+ set it to 5, refused \(it keeps 1\)",
        ):
            node.n = 5
        assert node.n == 1 and state.variables()["handlers.g.n"] == 1
        node.free = 5  # an ordinary variable of the same node is not guarded
        assert node.free == 5

    def test_subscriber_is_refused_and_loads_are_not_sets(self, state: State) -> None:
        """A callback's set is refused with its name; a load restores the value quietly."""
        node = Guarded(state, "g")
        saved = state.state_dict()
        state.configs.x = 0

        @state.on("configs.x")
        def meddle() -> None:
            node.n = 9

        with pytest.raises(AttributeError, match=r"itself; .*meddle .* set it to 9"):
            state.configs.x = 1
        assert node.n == 0
        saved["variables"]["handlers.g.n"] = 4
        saved["variables"]["configs.x"] = 1
        state.load_state_dict(saved)
        assert node.n == 4


class TestRef:
    def test_ref_spellings_are_equal(self, state: State, counter: Counter) -> None:
        """x_ref, state.ref(path) and node.ref(name) give equal refs."""
        r = counter.n_ref
        assert r == state.ref("handlers.counter.n") == counter.ref("n")
        assert hash(r) == hash(state.ref("handlers.counter.n"))
        assert r != counter.items_ref and r != "handlers.counter.n"

    def test_ref_reads_and_sets(self, state: State, counter: Counter) -> None:
        """ref.value reads the current value; setting it is an ordinary set."""
        r = counter.n_ref
        counter.n = 3
        assert r.value == 3
        r.value = 4
        assert counter.n == 4
        assert (r.path, r.name, r.owner, r.state) == ("handlers.counter.n", "n", counter, state)
        assert repr(r) == "Ref('handlers.counter.n')"

    def test_container_ref(self, state: State) -> None:
        """A container variable's ref has the container as owner."""
        r = state.configs.lr_ref
        assert r.path == "configs.lr" and r.value == 0.1 and r.owner is state.configs

    def test_ref_of_another_state_refused(self, state: State) -> None:
        """A ref from another State is refused when subscribing through state.on."""
        other = State()
        other.configs.y = 1
        with pytest.raises(ValueError, match="belongs to another State"):
            state.on(other.configs.y_ref)

    def test_ref_typo(self, state: State, counter: Counter) -> None:
        """state.ref of a missing variable suggests close names."""
        with pytest.raises(AttributeError, match=r"'m' is not a variable of handlers.counter"):
            state.ref("handlers.counter.m")
        with pytest.raises(AttributeError, match="did you mean 'lr'"):
            state.ref("configs.lrr")
        with pytest.raises(AttributeError, match="is a node, not a variable"):
            state.ref("handlers.counter")
        with pytest.raises(AttributeError, match="is a container, not a variable"):
            state.ref("configs")


class TestEvent:
    def test_event_fields(self, state: State) -> None:
        """A one-argument callback receives ref, old, new and state."""
        events: list[Event] = []
        state.configs.lr_ref.subscribe(events.append)
        state.configs.lr = 0.2
        (e,) = events
        assert e.ref == state.configs.lr_ref and e.path == "configs.lr"
        assert (e.old, e.new) == (0.1, 0.2) and e.state is state
        assert repr(e) == "Event(configs.lr: 0.1 -> 0.2)"


class TestNoCopies:
    """Nodes, containers and states are refused by copy and pickle with a message."""

    @pytest.mark.parametrize("how", ["copy", "deepcopy", "pickle"])
    def test_owners_and_state_refuse_copies(self, state: State, counter: Counter, how: str) -> None:
        import copy
        import pickle

        do = {"copy": copy.copy, "deepcopy": copy.deepcopy, "pickle": pickle.dumps}[how]
        with pytest.raises(TypeError, match=r"<Counter handlers.counter> belongs to its State"):
            do(counter)
        with pytest.raises(TypeError, match=r"<Container configs: .*> belongs to its State"):
            do(state.configs)
        with pytest.raises(TypeError, match=r"a State cannot be copied or pickled.*state_dict"):
            do(state)


class TestStructure:
    """The structure container counts what is created; the core writes it, nobody else."""

    def test_created_inside_a_subscriber_is_not_that_subscriber_s_write(self, state: State) -> None:
        made = []

        def make() -> None:
            made.append(Counter(state, f"c{len(made)}"))
            state.configs.add_variable(f"v{len(made)}", 0)

        state.configs.lr_ref.subscribe(make)
        state.configs.lr = 0.5
        assert state.structure.n_nodes == 1 and state.structure.last_node == "handlers.c0"
        assert state.structure.last_variable == "configs.v1"
        assert state.writers_of("structure.n_nodes") == []
        assert state.writers_of("structure.last_variable") == []

    def test_a_new_variable_or_node_is_complete_for_its_subscribers(self, state: State) -> None:
        """A subscriber of last_variable / last_node finds the new variable or node
        in its container, with its value and ref (it is counted once published)."""
        seen: list[Any] = []

        def on_variable(event: Event) -> None:
            slot = state._slots[event.new]
            owner, name = slot.owner, slot.name
            seen.append((event.new, getattr(owner, name), owner._vars[name] is slot))

        def on_node(event: Event) -> None:
            container, name = event.new.split(".")
            node = Container.nodes(getattr(state, container))[name]
            seen.append((event.new, node.n_ref.value, node.variables()))

        state.structure.last_variable_ref.subscribe(on_variable)
        state.structure.last_node_ref.subscribe(on_node)
        state.configs.wd = 0.5
        Counter(state, "counter")
        assert seen == [
            ("configs.wd", 0.5, True),
            ("handlers.counter.n", 0, True),
            ("handlers.counter.items", [], True),
            ("handlers.counter", 0, {"n": 0, "items": []}),
        ]

    def test_a_subscriber_of_new_variables_that_creates_one_is_no_cycle(self, state: State) -> None:
        seen = []

        def follow(event: Event) -> None:
            seen.append(event.new)
            if event.new == "configs.a":
                state.configs.b = 0

        state.structure.last_variable_ref.subscribe(follow)
        state.configs.a = 0
        state.validate()  # raised a false trigger cycle when the write was attributed to follow
        assert seen == ["configs.a", "configs.b"]
