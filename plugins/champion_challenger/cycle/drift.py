"""Drift: the Evidently report between the champion's training reference and data it has not seen."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from champion_challenger import tags, tracking
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.serving_deployment import sync_serving
from champion_challenger.data.store import load_window
from champion_challenger.payloads import DriftOutcome, PreparedWindow
from champion_challenger.registry import model_registry as registry

log = logging.getLogger(__name__)


def detect_drift(ctx: CycleContext, prepared: PreparedWindow) -> DriftOutcome:
    """Evidently drift report: the champion's training reference vs data it has not seen.

    Feature drift on every input, prediction drift on the champion's own outputs (scored by
    Triton: binary its positive-class probability, multiclass its predicted class, regression its
    predicted value) and target drift on the labels; a multiclass label the champion never saw (a
    batch accepted under ``data.unseen_classes: accept``) is target drift too. The report (HTML +
    JSON) goes to the cycle run. Without a champion there is no reference: the step records that
    and reports no drift.
    """
    from champion_challenger.drift.evidently_report import drift_report

    champion = registry.alias_version(ctx.client, ctx.model_name, registry.CHAMPION)
    if champion is None:
        ctx.client.set_tag(prepared.cycle_run_id, tags.DRIFT, "skipped: no champion yet")
        return DriftOutcome(skipped="no champion yet: nothing to compare against")
    work = ctx.workspace(prepared.cycle_id)
    reference_dir = Path(tempfile.mkdtemp(dir=work))
    reference = pd.read_parquet(ctx.client.download_artifacts(champion.run_id, tracking.REFERENCE_ARTIFACT, str(reference_dir)))
    rules = ctx.config.drift
    seen, unseen = _split_window(ctx, champion.tags.get(tags.TRAIN_END))
    summary = drift_report(
        reference,
        unseen,
        ctx.schema,
        work / "drift",
        rules.max_rows,
        rules.drift_share,
        score=_champion_scorer(ctx, int(champion.version)) if rules.prediction_drift else None,
        target=rules.target_drift,
        classes=ctx.classes,
        known_classes=_seen_classes(ctx, seen),
    )
    outcome = DriftOutcome(
        triggered=tuple(summary.triggered(rules.triggers)),
        drift_share=summary.drift_share,
        drifted_columns=tuple(summary.drifted_columns),
        prediction_drift=summary.prediction_drift,
        target_drift=summary.target_drift,
        sampling_note=summary.sampling_note,
    )
    _log_drift(ctx, prepared.cycle_run_id, work / "drift", outcome, summary.target_note())
    return outcome


def _log_drift(ctx: CycleContext, cycle_run_id: str, report_dir: Path, outcome: DriftOutcome, target_note: str) -> None:
    ctx.client.log_artifacts(cycle_run_id, str(report_dir), "drift")
    ctx.client.log_metric(cycle_run_id, "drift_share", outcome.drift_share)
    for key, value in {
        tags.DRIFT: "detected: " + ", ".join(outcome.triggered) if outcome.triggered else "none",
        tags.DRIFTED_COLUMNS: ",".join(outcome.drifted_columns) or "-",
        tags.PREDICTION_DRIFT: str(outcome.prediction_drift),
        tags.TARGET_DRIFT: target_note,
        tags.DRIFT_SAMPLING: outcome.sampling_note,
    }.items():
        ctx.client.set_tag(cycle_run_id, key, value)


def _champion_scorer(ctx: CycleContext, version: int) -> Callable[[pd.DataFrame], np.ndarray] | None:
    """Rows → the champion's scores through Triton (multiclass: probabilities in ``ctx.classes`` order),
    or None (and a warning) when Triton cannot score them: prediction drift is then left out rather
    than failing the cycle."""
    classes = ctx.classes

    def score(frame: pd.DataFrame) -> np.ndarray:
        return ctx.triton.predict_scores(
            ctx.versions_model, frame, ctx.schema, version, ctx.config.evaluation.batch_size, classes=classes
        )

    try:
        if not ctx.triton.is_ready(ctx.versions_model, version):
            with ctx.champion_change("serve", "cycle"):
                sync_serving(ctx)
        score(load_window(ctx.store, 1).head(2))
    except Exception as exc:  # noqa: BLE001 - drift on features and target still runs
        log.warning("prediction drift left out: champion v%s cannot be scored by Triton (%s)", version, exc)
        return None
    return score


def _split_window(ctx: CycleContext, train_end: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(seen, unseen)``: window rows up to the champion's training end, and those newer.

    When no row is newer the unseen side is the newest holdout share; the champion trained on every
    window row then (seen is the whole window), or, with no known training end, on those before it.
    """
    window = load_window(ctx.store, ctx.config.training.window_batches)
    ts = ctx.config.data.timestamp_column
    newer = window[ts] > pd.Timestamp(train_end) if train_end else None
    if newer is not None and newer.any():
        return window[~newer], window[newer]
    ordered = window.sort_values(ts)
    cut = len(ordered) - max(1, int(len(window) * ctx.config.evaluation.holdout_fraction))
    return (window if newer is not None else ordered.iloc[:cut]), ordered.iloc[cut:]


def _seen_classes(ctx: CycleContext, seen: pd.DataFrame) -> tuple[str, ...]:
    """Multiclass: the labels of window rows the champion trained on (its training reference is a
    sample, so a rare class may be missing from it); empty for the other tasks."""
    if ctx.task != "multiclass" or ctx.schema.target not in seen:
        return ()
    return tuple(str(v) for v in seen[ctx.schema.target].dropna().unique())
