"""Render the graphs embedded in the docs into ``docs/images/``.

Each image is one small function in ``GRAPHS`` that builds (or runs) a state
and writes one file; add a graph by writing a function and appending it.

    python docs/make_graphs.py            # every graph
    python docs/make_graphs.py core_state_graph   # only those named
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import runpy
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline import Event, State, Trace

ROOT = Path(__file__).resolve().parent.parent
IMAGES = ROOT / "docs" / "images"


def run_example(script: str, *argv: str) -> dict[str, object]:
    """Run ``examples/<script>`` with ``argv`` and its stdout captured; return its globals."""
    path = ROOT / "examples" / script
    saved = sys.argv
    sys.argv = [str(path), *argv]
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            return runpy.run_path(str(path), run_name="__main__")
    finally:
        sys.argv = saved


def core_state_graph(out: Path) -> Path:
    """The state of ``examples/core_state_graph.py``, its first iteration's trace highlighted."""
    scratch = ROOT / "outputs" / "docs-graphs"
    ns = run_example("core_state_graph.py", "--output-dir", str(scratch))
    state, first = ns["state"], ns["first"]
    assert isinstance(state, State) and isinstance(first, Trace)
    return state.render(out / "core_state_graph.svg", trace=first, level="variables")


def three_engines(out: Path) -> Path:
    """The state of ``examples/mnist_with_tensorboard.py`` after one epoch: trainer, two evaluators."""
    ns = runpy.run_path(str(ROOT / "examples" / "mnist_with_tensorboard.py"), run_name="docs")
    scratch = Path("outputs") / "docs-graphs" / "digits"  # relative: it shows in the overview
    args = ns["parse_args"](["--epochs", "1", "--no-progress", "--output-dir", str(scratch)])
    state = ns["build_state"](args)
    assert isinstance(state, State)
    state.validate()
    with contextlib.redirect_stdout(io.StringIO()):
        state.trainer.run(max_epochs=1)
    state.tensorboard.close()
    (out / "three_engines_overview.txt").write_text(state.overview() + "\n")
    state.render(out / "three_engines_full.svg", level="variables", connected_only=True)
    state.render(out / "three_engines_containers.svg", level="containers")
    return state.render(out / "three_engines.svg")  # the default: the nodes level


def debugging(out: Path) -> Path:
    """docs/debugging.md: the example with evaluations every 3 epochs and a when= filter,
    after 2 traced epochs: the pictures and explain() texts the page shows."""
    ns = runpy.run_path(str(ROOT / "examples" / "mnist_with_tensorboard.py"), run_name="docs")
    build_state = ns["build_state"]
    compose = build_state.__globals__
    plain = compose["supervised_training"]
    compose["supervised_training"] = functools.partial(plain, eval_every=3)
    try:
        scratch = Path("outputs") / "docs-graphs" / "debugging"
        args = ns["parse_args"](["--epochs", "2", "--no-progress", "--output-dir", str(scratch)])
        state = build_state(args)
    finally:
        compose["supervised_training"] = plain
    assert isinstance(state, State)
    best: list[float] = []

    @state.on("metrics.val_evaluator_accuracy", when=lambda accuracy: accuracy > 0.9)
    def keep_best(event: Event) -> None:
        best.append(event.new)

    with contextlib.redirect_stdout(io.StringIO()):
        with state.trace() as traced:
            state.trainer.run(max_epochs=2)
        state.train_evaluator.run()  # by hand: the when= filter decides on a real accuracy
        state.val_evaluator.run()
    state.tensorboard.close()
    texts = [
        state.explain("trainer.n_epoch_completed"),
        state.explain("metrics.val_evaluator_accuracy"),
        repr(traced),
    ]
    (out / "debugging_explain.txt").write_text("\n\n".join(texts) + "\n")
    state.render(
        out / "debugging_evaluator.svg", focus="trainer.n_epoch_completed", depth=1, trace=traced
    )
    return state.render(
        out / "debugging_accuracy.svg", focus="metrics.val_evaluator_accuracy", depth=1
    )


def tutorial_graph(out: Path) -> Path:
    """The state of ``examples/custom_node.py`` (the tutorial's nodes) after one epoch on digits."""
    scratch = ROOT / "outputs" / "docs-graphs" / "custom_node"
    ns = run_example("custom_node.py", "--epochs", "1", "--output-dir", str(scratch))
    state = ns["state"]
    assert isinstance(state, State)
    return state.render(out / "tutorial_graph.svg")


def _gallery_graph(script: str, *argv: str) -> Callable[[Path], Path]:
    """A graph maker for the gallery: the state of ``examples/<script>`` after a short run."""
    name = script.removesuffix(".py")

    def make(out: Path) -> Path:
        scratch = Path("outputs") / "docs-graphs" / name
        state = run_example(script, *argv, "--output-dir", str(scratch))["state"]
        assert isinstance(state, State)
        return state.render(out / f"gallery_{name}.svg")

    make.__name__ = f"gallery_{name}"
    make.__doc__ = f"The state of ``examples/{script}`` after a short run, for docs/gallery.md."
    return make


def gallery_gan_samples(out: Path) -> Path:
    """The last grid of samples that ``examples/gan.py`` logs to TensorBoard, 25 epochs in."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scratch = Path("outputs") / "docs-graphs" / "gan_samples"
    ns = run_example("gan.py", "--output-dir", str(scratch))
    events = EventAccumulator(str(ns["state"].tensorboard.log_dir), size_guidance={"images": 0})
    events.Reload()
    last = events.Images("samples")[-1]
    path = out / "gallery_gan_samples.png"
    path.write_bytes(last.encoded_image_string)
    return path


#: Every image of the docs, in the order they are written.
GRAPHS: list[Callable[[Path], Path]] = [
    core_state_graph,
    three_engines,
    debugging,
    tutorial_graph,
    _gallery_graph("pretrain_finetune.py", "--pretrain-epochs", "1", "--finetune-epochs", "1"),
    _gallery_graph("cross_validation.py", "--folds", "3", "--epochs", "1"),
    _gallery_graph("distillation.py", "--teacher-epochs", "1", "--student-epochs", "1"),
    _gallery_graph("gan.py", "--epochs", "1", "--width", "8"),
    _gallery_graph("ignite_script.py", "--epochs", "3"),
    gallery_gan_samples,
]


def main(names: list[str]) -> None:
    unknown = set(names) - {g.__name__ for g in GRAPHS}
    if unknown:
        raise SystemExit(f"unknown graphs {sorted(unknown)}; known: {[g.__name__ for g in GRAPHS]}")
    os.chdir(ROOT)  # the examples write their outputs under outputs/
    IMAGES.mkdir(parents=True, exist_ok=True)
    for make in GRAPHS:
        if not names or make.__name__ in names:
            print(f"{make.__name__}: {make(IMAGES).relative_to(ROOT)}")


if __name__ == "__main__":
    main(sys.argv[1:])
