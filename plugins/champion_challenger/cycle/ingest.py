"""Ingest: configs and services checked, new batches claimed and validated, the window split."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from champion_challenger import tags, tracking
from champion_challenger.cycle.context import CycleContext, check_mlflow
from champion_challenger.data.store import claim_new_batches, claimed_files, landing_candidates, load_window, split_holdout
from champion_challenger.data.validate import SUMMARY_FILE, ValidationSummary, validate_batches
from champion_challenger.errors import DataValidationError
from champion_challenger.payloads import PreparedWindow

log = logging.getLogger(__name__)
#: The cycle run's artifact holding the validation summary of the batches the cycle accepted.
VALIDATION_ARTIFACT = "validation_summary.json"


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
    data = ctx.config.data
    return [str(p) for p in claim_new_batches(ctx.store, cycle_id, data.file_pattern, data.stable_seconds)]


def pending_batches(ctx: CycleContext) -> list[str]:
    """Batch files waiting in the landing folder (what the next cycle would claim)."""
    return [str(p) for p in landing_candidates(ctx.store, ctx.config.data.file_pattern)]


def accept_batches(ctx: CycleContext, cycle_id: str, files: list[str]) -> list[str]:
    """Accept valid batches and quarantine the rest; the warnings of the accepted ones go to the log.

    Multiclass labels are checked against the known classes (``data.classes``, else the accepted ones)
    under ``data.unseen_classes``.

    Returns:
        Paths of accepted parquet batches.

    Raises:
        DataValidationError: at least one file was quarantined (the message names each file,
            column and count of bad rows); the good files are still accepted.
    """
    data = ctx.config.data
    summary = validate_batches(
        ctx.store,
        [Path(f) for f in files],
        ctx.schema,
        ctx.store.run_dir(cycle_id),
        classes=data.classes,
        unseen_classes=data.unseen_classes,
    )
    _log_outcome(ctx, summary)
    if summary.quarantined:
        raise DataValidationError(summary.error_message())
    return [o.accepted_path for o in summary.accepted if o.accepted_path]


def _log_outcome(ctx: CycleContext, summary: ValidationSummary) -> None:
    """Say in the task log what was accepted, each warning, derived row keys and the classes."""
    log.info("accepted %d batch file(s), quarantined %d", len(summary.accepted), len(summary.quarantined))
    if ctx.schema.id_derived:
        log.info("no id column configured (data.id_column): each row's key %r is a hash of its values", ctx.schema.id_column)
    for line in summary.warning_lines():
        log.warning("validation warning: %s", line)
    if summary.new_classes:
        log.warning("new classes accepted (data.unseen_classes: accept), target drift: %s", summary.new_classes)
    if ctx.task == "multiclass":
        log.info("known classes: %s", list(ctx.classes))


def validation_summary(ctx: CycleContext, cycle_id: str) -> ValidationSummary | None:
    """The validation summary of the batches cycle ``cycle_id`` claimed (None when it validated none)."""
    path = ctx.store.run_dir(cycle_id) / SUMMARY_FILE
    return ValidationSummary.from_json(path.read_text()) if path.exists() else None


def prepare_window(ctx: CycleContext, cycle_id: str, window_batches: int | None = None) -> PreparedWindow:
    """Open the cycle's MLflow run and split the newest window by time into train and holdout.

    The splits are written to the cycle's workspace (``train.parquet``, ``holdout.parquet``). The
    validation summary of the batches this cycle accepted goes to the run: the ``validation_summary.json``
    artifact and the metrics ``data.validation_warnings`` (and the other counts).

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
    landed = [p.stat().st_mtime for p in claimed_files(ctx.store, cycle_id)]
    if landed:
        ctx.client.set_tag(run_id, tags.DATA_LANDED_AT, datetime.fromtimestamp(max(landed), UTC).isoformat(timespec="seconds"))
    _log_validation(ctx, run_id, cycle_id)
    return prepared


def _log_validation(ctx: CycleContext, run_id: str, cycle_id: str) -> None:
    """Log the cycle's validation summary to its MLflow run: the artifact and counts as metrics."""
    summary = validation_summary(ctx, cycle_id)
    if summary is None:
        return
    counts = summary.as_dict()
    tracking.log_dict_artifact(ctx.client, run_id, counts, VALIDATION_ARTIFACT)
    for key in ("warnings", "accepted_batches", "quarantined_batches", "rows_received", "rows_accepted"):
        ctx.client.log_metric(run_id, f"data.validation_{key}", counts[key])
    ctx.client.log_metric(run_id, "data.validation_new_classes", len(summary.new_classes))
    if summary.warning_count:
        log.warning("%d validation warning(s), in %s of run %s", summary.warning_count, VALIDATION_ARTIFACT, run_id)
