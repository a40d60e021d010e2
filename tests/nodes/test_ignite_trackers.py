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


def wandb_history(path: Path) -> list[dict[str, Any]]:
    """The history rows of an offline W&B run file (a log of 32 KiB blocks of protobuf records)."""
    import struct

    from wandb.proto import wandb_internal_pb2

    data, pos, block, pending = path.read_bytes(), 7, 32768, b""  # after the 7-byte file header
    rows: list[dict[str, Any]] = []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        pending += data[pos + 7 : pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):  # a whole record, or the last piece of one
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            pending = b""
            if record.WhichOneof("record_type") == "history":
                items = {i.key or "/".join(i.nested_key): i.value_json for i in record.history.item}
                rows.append({k: v for k, v in items.items() if k not in ("_timestamp", "_runtime")})
    return rows


def test_wandb_logger_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """WandBLogger in offline mode records the same history rows."""
    wandb = pytest.importorskip("wandb", reason="the trackers extra installs wandb")
    from ignite.handlers import wandb_logger

    monkeypatch.setenv("WANDB_SILENT", "true")

    def attach(pair: Pair) -> Path:
        side = tmp_path / ("ours" if pair.state is not None else "theirs")
        side.mkdir()
        logger = wandb_logger.WandBLogger(mode="offline", dir=str(side), project="statefire")
        attach_loggers(logger, pair, wandb_logger)
        pair.trainer.add_event_handler(Events.COMPLETED, logger.close)
        return side

    (_, ours), (_, theirs) = both(attach)
    wandb.teardown()  # offline runs are written by a service process: wait for it
    (our_file,) = ours.glob("wandb/offline-run-*/run-*.wandb")
    (their_file,) = theirs.glob("wandb/offline-run-*/run-*.wandb")
    our_rows = wandb_history(our_file)
    assert our_rows == wandb_history(their_file)
    assert sum("training/loss" in row for row in our_rows) == 9
    assert sum("lr/group_0" in row for row in our_rows) == 9
    # W&B drops rows whose step goes back (the trainer's epoch after its iterations): on both sides.
