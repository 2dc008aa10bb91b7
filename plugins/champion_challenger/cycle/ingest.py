"""Ingest: configs and services checked, new batches claimed and validated, the window split."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from champion_challenger import tracking
from champion_challenger.cycle.context import CycleContext, check_mlflow
from champion_challenger.data.store import claim_new_batches, load_window, split_holdout
from champion_challenger.data.validate import validate_batches
from champion_challenger.errors import DataValidationError
from champion_challenger.payloads import PreparedWindow


def check_configs_and_services(ctx: CycleContext) -> dict[str, Any]:
    """Validate the pipeline and Ludwig configs and reach MLflow and Triton.

    Returns:
        The model name, its features and its target.

    Raises:
        ConfigError: a config is invalid (names file and field).
        ServiceUnavailableError: MLflow or Triton cannot be reached.
    """
    schema = ctx.schema
    check_mlflow(ctx.tracking_uri)
    ctx.triton.check_live()
    return {"model_name": ctx.model_name, "features": schema.feature_names, "target": schema.target}


def claim_batches(ctx: CycleContext, cycle_id: str) -> list[str]:
    """Claim new batch files from landing for this cycle (kept under ``raw/<cycle_id>/``); empty when none arrived."""
    return [str(p) for p in claim_new_batches(ctx.store, cycle_id, ctx.config.data.file_pattern)]


def pending_batches(ctx: CycleContext) -> list[str]:
    """Batch files waiting in the landing folder (what the next cycle would claim)."""
    landing = ctx.store.landing
    pattern = ctx.config.data.file_pattern
    return sorted(str(p) for p in landing.glob(pattern) if p.is_file()) if landing.is_dir() else []


def accept_batches(ctx: CycleContext, cycle_id: str, files: list[str]) -> list[str]:
    """Accept valid batches and quarantine the rest.

    Returns:
        Paths of accepted parquet batches.

    Raises:
        DataValidationError: at least one file was quarantined (the message names each file,
            column and count of bad rows); the good files are still accepted.
    """
    summary = validate_batches(ctx.store, [Path(f) for f in files], ctx.schema, ctx.store.run_dir(cycle_id))
    if summary.quarantined:
        raise DataValidationError(summary.error_message())
    return [o.accepted_path for o in summary.accepted if o.accepted_path]


def prepare_window(ctx: CycleContext, cycle_id: str, window_batches: int | None = None) -> PreparedWindow:
    """Open the cycle's MLflow run and split the newest window by time into train and holdout.

    The splits are written to the cycle's workspace (``train.parquet``, ``holdout.parquet``).

    Args:
        ctx: the pipeline.
        cycle_id: the Airflow run id.
        window_batches: newest accepted batches to use (default ``training.window_batches``).

    Raises:
        DataValidationError: the window is too small to split.
    """
    work = ctx.workspace(cycle_id)
    window = load_window(ctx.store, window_batches or ctx.config.training.window_batches)
    ts = ctx.config.data.timestamp_column
    train, holdout = split_holdout(window, ts, ctx.config.evaluation.holdout_fraction)
    if len(train) == 0 or len(holdout) == 0:
        raise DataValidationError(f"window of {len(window)} rows is too small to split into train and holdout")
    train.to_parquet(work / "train.parquet", index=False)
    holdout.to_parquet(work / "holdout.parquet", index=False)
    run_id = tracking.cycle_run(ctx.client, ctx.experiment_id, cycle_id)
    prepared = PreparedWindow(cycle_id, run_id, len(train), len(holdout), str(window[ts].min()), str(window[ts].max()))
    for key, value in {
        "data.window_start": prepared.window_start,
        "data.window_end": prepared.window_end,
        "data.holdout_start": holdout[ts].min(),
        "data.train_rows": len(train),
        "data.holdout_rows": len(holdout),
    }.items():
        ctx.client.log_param(run_id, key, str(value))
    return prepared
