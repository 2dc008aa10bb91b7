"""Test helpers (not tests): live traffic through the router, its capture records, labels landing later,
and tiny multiclass/regression Ludwig models on the generated churn rows."""

from __future__ import annotations

import copy
import logging
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd

from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.ingest import accept_batches, claim_batches
from champion_challenger.data.generate import BatchSpec, generate_batch, write_batches
from champion_challenger.serving.capture import read_captures


def live_traffic(ctx: CycleContext, batch_index: int, rows: int, seed: int) -> pd.DataFrame:
    """Score the rows of a future batch through the router, as clients would before labels exist."""
    batch = generate_batch(BatchSpec(batch_index, rows, seed, False))
    answered = ctx.triton.score(ctx.model_name, batch, ctx.schema, batch["customer_id"], batch_size=50)
    return batch.assign(answered_probability=answered["probability"].to_numpy(), answered_by=answered["version"].to_numpy())


def wait_for_records(capture_dir: Path, model: str, since: datetime, expected: int, timeout_s: float = 30) -> pd.DataFrame:
    """The capture records of ``model`` since ``since``, once ``expected`` are written (or what is there after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = read_captures(capture_dir, model, since=since)
        if len(records) >= expected or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def wait_for_captures(ctx: CycleContext, keys: set[str], timeout_s: float = 30) -> pd.DataFrame:
    """The capture records of ``keys``, once all are written (or whatever is there after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    while True:
        records = read_captures(ctx.capture_dir, ctx.model_name)
        records = records[records["entity_key"].isin(keys)]
        if records["entity_key"].nunique() >= len(keys) or time.monotonic() > deadline:
            return records
        time.sleep(0.5)


def flip_labels(paths: list[Path], target: str = "churned") -> None:
    """Make every label of these landed batch files wrong (a model trained on them is clearly worse)."""
    for path in paths:
        frame = pd.read_csv(path)
        frame[target] = 1 - frame[target]
        frame.to_csv(path, index=False)


def land_labels(ctx: CycleContext, batch_index: int, cycle: str, rows: int, seed: int, flip: bool = False) -> None:
    """The labels of the scored rows arrive in an ordinary batch file (optionally all wrong) and are accepted."""
    paths = write_batches(ctx.store.landing, 1, start=batch_index, seed=seed, rows=rows)
    if flip:
        flip_labels(paths)
    accept_batches(ctx, cycle, claim_batches(ctx, cycle))


#: Inputs of the tiny task models (the generated churn features).
TASK_INPUTS = (
    {"name": "tenure_months", "type": "number"},
    {"name": "monthly_charges", "type": "number"},
    {"name": "support_calls", "type": "number"},
    {"name": "contract_type", "type": "category"},
    {"name": "payment_method", "type": "category"},
)


def with_task_targets(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Generated rows plus ``tier`` (four plan tiers from the monthly charges, noisy, unequal frequencies) and
    ``value`` (a positive customer value), targets for a multiclass and a regression model."""
    rng = np.random.default_rng(seed)
    frame = frame.copy()
    noisy = frame["monthly_charges"] + rng.normal(0, 8, len(frame))
    frame["tier"] = np.select([noisy < 45, noisy < 70, noisy < 95], ["basic", "plus", "pro"], "premium")
    frame["value"] = frame["tenure_months"] * frame["monthly_charges"] / 10 + 5 + rng.gamma(2, 10, len(frame))
    return frame


def train_task_model(output: dict, fit: pd.DataFrame, work: Path, seed: int = 1, inputs=TASK_INPUTS) -> Path:
    """Train a one-epoch Ludwig model with ``output`` as its output feature; returns the saved model folder."""
    from ludwig.api import LudwigModel

    config = {
        "model_type": "ecd",
        "input_features": [copy.deepcopy(f) for f in inputs],
        "output_features": [copy.deepcopy(output)],
        "combiner": {"type": "concat", "output_size": 16},
        "trainer": {"epochs": 1, "batch_size": 128},
    }
    model = LudwigModel(config, logging_level=logging.WARNING)
    columns = [f["name"] for f in inputs] + [output["name"]]
    model.train(
        training_set=fit[columns],
        output_directory=str(work / "runs"),
        skip_save_processed_input=True,
        skip_save_progress=True,
        skip_save_log=True,
        random_seed=seed,
    )
    model.save(str(work / "model"))
    return work / "model"


def export_for_serving(model_dir: Path, rows: pd.DataFrame) -> Path:
    """The serving export (ONNX graph checked against ``LudwigModel.predict`` on ``rows``) of a saved model,
    in ``<model_dir>/../serving_export``, as the training task writes it."""
    from ludwig.api import LudwigModel

    from champion_challenger.serving.onnx_export import export_serving

    dest = model_dir.parent / "serving_export"
    result = export_serving(LudwigModel.load(str(model_dir), backend="local", logging_level=logging.ERROR), dest, rows)
    assert result.format == "onnx", result.reason
    return dest
