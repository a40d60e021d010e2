"""ignite's experiment trackers through ``engine.ignite``: the same records as on ignite's engines.

TensorBoard event files are read back with TensorBoard's own reader, MLflow runs
with MLflow's client on a local file store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from ignite.engine import Events

from tests.nodes.ignite_pairs import Pair, both


def attach_loggers(logger: Any, pair: Pair, handlers: Any) -> None:
    """The same three handlers on a trainer and an evaluator, as an ignite user writes them."""
    from ignite.handlers import global_step_from_engine

    logger.attach(
        pair.trainer,
        log_handler=handlers.OutputHandler(
            tag="training", output_transform=lambda loss: {"loss": loss}
        ),
        event_name=Events.ITERATION_COMPLETED,
    )
    logger.attach(
        pair.trainer,
        log_handler=handlers.OptimizerParamsHandler(pair.optimizer),
        event_name=Events.ITERATION_STARTED,
    )
    logger.attach(
        pair.evaluator,
        log_handler=handlers.OutputHandler(
            tag="validation",
            metric_names=["acc"],
            global_step_transform=global_step_from_engine(pair.trainer),
        ),
        event_name=Events.COMPLETED,
    )


def test_tensorboard_logger(tmp_path: Path) -> None:
    """OutputHandler, OptimizerParamsHandler and GradsHistHandler write the same records."""
    from ignite.handlers import tensorboard_logger as tb
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def attach(pair: Pair) -> Path:
        logdir = tmp_path / ("ours" if pair.state is not None else "theirs")
        logger = tb.TensorboardLogger(log_dir=logdir)
        attach_loggers(logger, pair, tb)
        logger.attach(
            pair.trainer,
            log_handler=tb.GradsHistHandler(pair.model),
            event_name=Events.ITERATION_COMPLETED(every=2),
        )
        pair.trainer.add_event_handler(Events.COMPLETED, logger.close)
        return logdir

    (_, ours), (_, theirs) = both(attach)

    def read(logdir: Path) -> tuple[dict[str, list[tuple[int, float]]], dict[str, list[int]]]:
        acc = EventAccumulator(str(logdir), size_guidance={"scalars": 0, "histograms": 0})
        acc.Reload()
        tags = acc.Tags()
        scalars = {t: [(e.step, e.value) for e in acc.Scalars(t)] for t in tags["scalars"]}
        hists = {t: [e.step for e in acc.Histograms(t)] for t in tags["histograms"]}
        return scalars, hists

    our_scalars, our_hists = read(ours)
    their_scalars, their_hists = read(theirs)
    assert our_scalars == their_scalars
    assert set(our_scalars) == {"training/loss", "lr/group_0", "validation/acc"}
    assert len(our_scalars["training/loss"]) == 9 and len(our_scalars["validation/acc"]) == 3
    assert our_hists == their_hists and len(our_hists) == 4  # two layers, weight and bias
    assert all(steps == [2, 4, 6, 8] for steps in our_hists.values())


def test_mlflow_logger(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MLflowLogger on a local file store records the same metric histories."""
    mlflow = pytest.importorskip("mlflow", reason="the trackers extra installs mlflow-skinny")
    from ignite.handlers import mlflow_logger

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # MLflow 3 prefers a database store

    def attach(pair: Pair) -> tuple[str, str]:
        uri = (tmp_path / ("ours" if pair.state is not None else "theirs")).as_uri()
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment("statefire")
        logger = mlflow_logger.MLflowLogger(tracking_uri=uri)
        attach_loggers(logger, pair, mlflow_logger)
        pair.trainer.add_event_handler(Events.COMPLETED, logger.close)
        return uri, logger.active_run.info.run_id

    (_, ours), (_, theirs) = both(attach)

    def read(uri: str, run_id: str) -> dict[str, list[tuple[int, float]]]:
        client = mlflow.tracking.MlflowClient(tracking_uri=uri)
        keys = client.get_run(run_id).data.metrics
        return {
            key: [(m.step, m.value) for m in client.get_metric_history(run_id, key)] for key in keys
        }

    our_metrics, their_metrics = read(*ours), read(*theirs)
    assert our_metrics == their_metrics
    assert set(our_metrics) == {"training loss", "lr group_0", "validation acc"}
    assert len(our_metrics["training loss"]) == 9
