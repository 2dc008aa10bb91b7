"""Feature drift between the champion's training reference and the newest data, with Evidently."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from champion_challenger.config import ModelSchema


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
    """

    dataset_drift: bool
    drift_share: float
    drifted_columns: list[str]
    column_scores: dict[str, float]
    reference_rows: int
    current_rows: int
    sampled: bool

    def as_dict(self) -> dict:
        return asdict(self)


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int = 0) -> pd.DataFrame:
    """Deterministic sample of at most ``max_rows`` rows."""
    return frame if len(frame) <= max_rows else frame.sample(n=max_rows, random_state=seed)


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: ModelSchema,
    out_dir: Path,
    max_rows: int,
    drift_share: float,
) -> DriftSummary:
    """Run Evidently's data-drift preset on the model's features and save HTML and JSON.

    Writes ``drift_report.html``, ``drift_report.json`` (Evidently's own) and
    ``drift_summary.json`` (ours) to ``out_dir``.
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    numeric = [f.name for f in schema.features if f.is_numeric]
    categorical = [f.name for f in schema.features if not f.is_numeric]
    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    ref = sample_rows(reference[schema.feature_names], max_rows)
    cur = sample_rows(current[schema.feature_names], max_rows)
    report = Report([DataDriftPreset(drift_share=drift_share)])
    snapshot = report.run(
        current_data=Dataset.from_pandas(cur, data_definition=definition),
        reference_data=Dataset.from_pandas(ref, data_definition=definition),
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out_dir / "drift_report.html"))
    evidently_json = snapshot.dict()
    (out_dir / "drift_report.json").write_text(json.dumps(evidently_json, indent=2, default=str))
    summary = _summarise(evidently_json, schema, drift_share, len(ref), len(cur), len(ref) < len(reference) or len(cur) < len(current))
    (out_dir / "drift_summary.json").write_text(json.dumps(summary.as_dict(), indent=2))
    return summary


def _summarise(raw: dict, schema: ModelSchema, threshold: float, n_ref: int, n_cur: int, sampled: bool) -> DriftSummary:
    scores: dict[str, float] = {}
    drifted: list[str] = []
    for metric in raw.get("metrics", []):
        config = metric.get("config", {})
        column = config.get("column")
        if config.get("type", "").endswith("ValueDrift") and column in schema.feature_names:
            value = float(metric["value"])
            scores[column] = value
            method_threshold = float(config.get("threshold", 0.1))
            # Evidently reports p-values for statistical tests (drift when below the threshold)
            # and distances otherwise (drift when at or above it).
            is_pvalue = "p_value" in str(config.get("method", "")).lower()
            if (value < method_threshold) if is_pvalue else (value >= method_threshold):
                drifted.append(column)
    share = len(drifted) / max(len(schema.feature_names), 1)
    return DriftSummary(share >= threshold, share, sorted(drifted), scores, n_ref, n_cur, sampled)
