"""Drift between the champion's training reference and the newest data, with Evidently.

Three kinds, in one Evidently report: feature drift (every model input), prediction drift (the
champion's own outputs on both sides) and target drift (the label distribution, when both sides
carry labels). Large inputs are sampled down deliberately; the summary and the report say so.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from champion_challenger.ludwig_schema import ModelSchema


@dataclass(frozen=True)
class DriftSummary:
    """What the drift report found.

    Attributes:
        dataset_drift: True when the share of drifted columns reaches the configured threshold.
        drift_share: share of feature columns that drifted.
        drifted_columns: names of the drifted columns.
        column_scores: per-column drift score from Evidently's default test for the column type.
        reference_rows / current_rows: rows compared after sampling.
        sampled: True when either side was sampled down.
        sampling_note: how the rows were sampled, in words (also written into the report folder).
        prediction_drift: the champion's outputs drifted (None: not computed).
        target_drift: the label distribution drifted (None: a side has no labels).
    """

    dataset_drift: bool
    drift_share: float
    drifted_columns: list[str]
    column_scores: dict[str, float]
    reference_rows: int
    current_rows: int
    sampled: bool
    sampling_note: str = ""
    prediction_drift: bool | None = None
    target_drift: bool | None = None

    def triggered(self, triggers: list[str]) -> list[str]:
        """Which of ``triggers`` (``features``, ``prediction``, ``target``) drifted."""
        found = {"features": self.dataset_drift, "prediction": bool(self.prediction_drift), "target": bool(self.target_drift)}
        return [t for t in triggers if found[t]]

    def as_dict(self) -> dict:
        return asdict(self)


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int = 0) -> pd.DataFrame:
    """Deterministic sample of at most ``max_rows`` rows."""
    return frame if len(frame) <= max_rows else frame.sample(n=max_rows, random_state=seed)


PREDICTION_COLUMN = "champion_prediction"


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: ModelSchema,
    out_dir: Path,
    max_rows: int,
    drift_share: float,
    score: Callable[[pd.DataFrame], np.ndarray] | None = None,
    target: bool = True,
) -> DriftSummary:
    """Run Evidently's data-drift preset on features, predictions and target; save HTML and JSON.

    Args:
        reference / current: the two sides (the champion's training reference, the newest data).
        schema: feature names and types, target column.
        out_dir: where ``drift_report.html``, ``drift_report.json`` (Evidently's own) and
            ``drift_summary.json`` (ours) are written.
        max_rows: each side is sampled down to at most this many rows (seeded) before anything else.
        drift_share: share of drifted features that makes the dataset drifted.
        score: the champion's scorer (rows → positive-class probability); None skips prediction drift.
        target: compare the label distributions when both sides carry the target column.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    ref, cur = sample_rows(reference, max_rows), sample_rows(current, max_rows)
    numeric = [f.name for f in schema.features if f.is_numeric]
    categorical = [f.name for f in schema.features if not f.is_numeric]
    columns = list(schema.feature_names)
    if score is not None:
        ref, cur = ref.assign(**{PREDICTION_COLUMN: score(ref)}), cur.assign(**{PREDICTION_COLUMN: score(cur)})
        numeric.append(PREDICTION_COLUMN)
        columns.append(PREDICTION_COLUMN)
    if target and schema.target in ref and schema.target in cur:
        categorical.append(schema.target)
        columns.append(schema.target)
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    snapshot = Report([DataDriftPreset(columns=columns, drift_share=drift_share)]).run(
        current_data=Dataset.from_pandas(cur[columns], data_definition=definition),
        reference_data=Dataset.from_pandas(ref[columns], data_definition=definition),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out_dir / "drift_report.html"))
    evidently_json = snapshot.dict()
    (out_dir / "drift_report.json").write_text(json.dumps(evidently_json, indent=2, default=str))
    note = sampling_note(len(reference), len(current), len(ref), len(cur), max_rows)
    summary = _summarise(evidently_json, schema, drift_share, len(ref), len(cur), note, columns)
    (out_dir / "drift_summary.json").write_text(json.dumps(summary.as_dict(), indent=2))
    (out_dir / "README.md").write_text(
        f"# Drift report\n\n{note}\n\nDrifted features: "
        f"{', '.join(summary.drifted_columns) or 'none'}; prediction drift: "
        f"{summary.prediction_drift}; target drift: {summary.target_drift}.\n"
    )
    return summary


def sampling_note(n_ref: int, n_cur: int, used_ref: int, used_cur: int, max_rows: int) -> str:
    """Say, in words, whether and how the two sides were sampled."""
    if used_ref == n_ref and used_cur == n_cur:
        return f"All rows compared: {n_ref} reference rows, {n_cur} current rows (limit {max_rows} per side)."
    return (
        f"Sampled deliberately (seeded, uniform, at most {max_rows} rows per side, drift.max_rows): "
        f"{used_ref} of {n_ref} reference rows and {used_cur} of {n_cur} current rows."
    )


def _summarise(
    raw: dict, schema: ModelSchema, threshold: float, n_ref: int, n_cur: int, note: str, columns: list[str]
) -> DriftSummary:
    scores: dict[str, float] = {}
    drifted: set[str] = set()
    for metric in raw.get("metrics", []):
        config = metric.get("config", {})
        column = config.get("column")
        if config.get("type", "").endswith("ValueDrift") and column in columns:
            value = float(metric["value"])
            scores[column] = value
            method_threshold = float(config.get("threshold", 0.1))
            # Evidently reports p-values for statistical tests (drift when below the threshold)
            # and distances otherwise (drift when at or above it).
            is_pvalue = "p_value" in str(config.get("method", "")).lower()
            if (value < method_threshold) if is_pvalue else (value >= method_threshold):
                drifted.add(column)
    features = [c for c in schema.feature_names if c in scores]
    share = len(drifted & set(features)) / max(len(schema.feature_names), 1)
    return DriftSummary(
        dataset_drift=share >= threshold,
        drift_share=share,
        drifted_columns=sorted(drifted & set(features)),
        column_scores=scores,
        reference_rows=n_ref,
        current_rows=n_cur,
        sampled="Sampled" in note,
        sampling_note=note,
        prediction_drift=(PREDICTION_COLUMN in drifted) if PREDICTION_COLUMN in scores else None,
        target_drift=(schema.target in drifted) if schema.target in scores else None,
    )
