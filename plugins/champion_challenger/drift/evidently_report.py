"""Drift between the champion's training reference and the newest data, with Evidently.

Three kinds, in one Evidently report: feature drift (every model input), prediction drift (the
champion's own outputs on both sides) and target drift (the label distribution, when both sides
carry labels). Large inputs are sampled down deliberately; the summary and the report say so.

What the prediction and target columns hold follows the task (:mod:`champion_challenger.task`):

=============  ===========================================  =============================
task           prediction column (the champion's output)    target column
=============  ===========================================  =============================
binary         positive-class probability (numerical)        0/1 label (categorical)
multiclass     predicted class: argmax of its probabilities  class label (categorical)
               (categorical)
regression     predicted value (numerical)                   value (numerical)
=============  ===========================================  =============================

A multiclass label in the current rows that the reference never had (a batch accepted under
``data.unseen_classes: accept``) is target drift on its own: the summary names the new classes.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from champion_challenger.config.ludwig_schema import ModelSchema
from champion_challenger.task import TaskKind

log = logging.getLogger(__name__)


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
        target_drift: the label distribution drifted, or the current labels hold a class the reference
            never had (None: a side has no labels).
        new_classes: multiclass: current-side classes the reference never had (each is target drift).
        task: ``binary``, ``multiclass`` or ``regression``.
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
    new_classes: list[str] = field(default_factory=list)
    task: TaskKind = "binary"

    def triggered(self, triggers: list[str]) -> list[str]:
        """Which of ``triggers`` (``features``, ``prediction``, ``target``) drifted."""
        found = {"features": self.dataset_drift, "prediction": bool(self.prediction_drift), "target": bool(self.target_drift)}
        return [t for t in triggers if found[t]]

    def as_dict(self) -> dict:
        return asdict(self)

    def target_note(self) -> str:
        """Target drift in words, naming new classes (``True (new classes in the current labels: x)``)."""
        if not self.new_classes:
            return str(self.target_drift)
        return f"{self.target_drift} (new classes in the current labels: {', '.join(self.new_classes)})"


def sample_rows(frame: pd.DataFrame, max_rows: int, seed: int = 0) -> pd.DataFrame:
    """Deterministic sample of at most ``max_rows`` rows."""
    return frame if len(frame) <= max_rows else frame.sample(n=max_rows, random_state=seed)


PREDICTION_COLUMN = "champion_prediction"


def prediction_values(task: TaskKind, scores: np.ndarray, classes: Sequence[str] = ()) -> np.ndarray:
    """The champion's output as the prediction-drift column compares it.

    Args:
        task: ``binary``, ``multiclass`` or ``regression``.
        scores: the task's scores (binary ``(n,)`` positive-class probabilities, multiclass ``(n, K)``
            probabilities in ``classes`` order, regression ``(n,)`` predicted values).
        classes: multiclass: the column order of ``scores``.

    Returns:
        Binary and regression: the scores as floats; multiclass: the predicted class label (argmax).

    Raises:
        ValueError: multiclass scores that do not have one column per class.
    """
    if task != "multiclass":
        return np.asarray(scores, dtype=float).reshape(-1)
    scores = np.asarray(scores, dtype=float)
    if scores.ndim != 2 or scores.shape[1] != len(classes) or not classes:
        raise ValueError(f"multiclass scores of shape {scores.shape} do not have one column per class of {list(classes)}")
    return np.asarray([str(c) for c in classes], dtype=object)[scores.argmax(axis=1)]


def new_classes(reference_labels: Iterable, current_labels: Iterable) -> list[str]:
    """Classes of ``current_labels`` that ``reference_labels`` never had (compared as text), sorted."""
    known = {str(v) for v in pd.unique(pd.Series(list(reference_labels), dtype=object).dropna())}
    seen = {str(v) for v in pd.unique(pd.Series(list(current_labels), dtype=object).dropna())}
    return sorted(seen - known)


def drift_report(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    schema: ModelSchema,
    out_dir: Path,
    max_rows: int,
    drift_share: float,
    score: Callable[[pd.DataFrame], np.ndarray] | None = None,
    target: bool = True,
    classes: Sequence[str] = (),
    known_classes: Iterable[str] = (),
) -> DriftSummary:
    """Run Evidently's data-drift preset on features, predictions and target; save HTML and JSON.

    The task is ``schema.task``; it decides the type of the prediction and target columns (see the
    module docstring).

    Args:
        reference / current: the two sides (the champion's training reference, the newest data).
        schema: feature names and types, target column, task.
        out_dir: where ``drift_report.html``, ``drift_report.json`` (Evidently's own),
            ``drift_summary.json`` (ours) and ``README.md`` are written.
        max_rows: each side is sampled down to at most this many rows (seeded) before anything else.
        drift_share: share of drifted features that makes the dataset drifted.
        score: the champion's scorer (rows → the task's scores: binary ``(n,)``, multiclass ``(n, K)``
            in ``classes`` order, regression ``(n,)``); None skips prediction drift.
        target: compare the label distributions when both sides carry the target column.
        classes: multiclass: the column order of ``score``'s probabilities (the pipeline's classes).
        known_classes: multiclass: classes the reference side is known to have beyond its own labels
            (e.g. every label the champion trained on, when ``reference`` is a sample of it); a current
            class outside both is a new class and counts as target drift.

    Raises:
        ValueError: multiclass scores without one column per class of ``classes``.
    """
    ref, cur = sample_rows(reference, max_rows), sample_rows(current, max_rows)
    if score is not None:
        ref, cur = (
            side.assign(**{PREDICTION_COLUMN: prediction_values(schema.task, score(side), classes)}) for side in (ref, cur)
        )
    with_target = target and schema.target in ref and schema.target in cur
    added: list[str] = []
    if with_target and schema.task == "multiclass":
        ref, cur = _labels_as_text(ref, schema.target), _labels_as_text(cur, schema.target)
        added = new_classes([*reference[schema.target], *known_classes], current[schema.target])
    columns, numeric, categorical = column_kinds(schema, score is not None, with_target)
    evidently_json = _run_evidently(ref, cur, columns, numeric, categorical, drift_share, out_dir)
    note = sampling_note(len(reference), len(current), len(ref), len(cur), max_rows)
    summary = _summarise(evidently_json, schema, drift_share, len(ref), len(cur), note, columns, added)
    _write_summary(summary, out_dir)
    return summary


def _run_evidently(
    ref: pd.DataFrame,
    cur: pd.DataFrame,
    columns: list[str],
    numeric: list[str],
    categorical: list[str],
    drift_share: float,
    out_dir: Path,
) -> dict:
    """Evidently's data-drift preset on ``columns``; saves ``drift_report.html`` and ``drift_report.json``
    in ``out_dir`` and returns that JSON."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    with np.errstate(divide="ignore", invalid="ignore"):  # chi-square on a category one side lacks divides by 0
        snapshot = Report([DataDriftPreset(columns=columns, drift_share=drift_share)]).run(
            current_data=Dataset.from_pandas(cur[columns], data_definition=definition),
            reference_data=Dataset.from_pandas(ref[columns], data_definition=definition),
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    snapshot.save_html(str(out_dir / "drift_report.html"))
    evidently_json = snapshot.dict()
    (out_dir / "drift_report.json").write_text(json.dumps(evidently_json, indent=2, default=str))
    return evidently_json


def column_kinds(schema: ModelSchema, prediction: bool, target: bool) -> tuple[list[str], list[str], list[str]]:
    """The compared columns and how Evidently reads them: ``(columns, numerical, categorical)``.

    Features by their Ludwig type; the prediction column is categorical for multiclass (a class label)
    and numerical otherwise; the target is numerical for regression and categorical otherwise.
    """
    numeric = [f.name for f in schema.features if f.is_numeric]
    categorical = [f.name for f in schema.features if not f.is_numeric]
    columns = list(schema.feature_names)
    if prediction:
        (categorical if schema.task == "multiclass" else numeric).append(PREDICTION_COLUMN)
        columns.append(PREDICTION_COLUMN)
    if target:
        (numeric if schema.task == "regression" else categorical).append(schema.target)
        columns.append(schema.target)
    return columns, numeric, categorical


def _write_summary(summary: DriftSummary, out_dir: Path) -> None:
    """``drift_summary.json`` and the folder's ``README.md`` (new classes named, and logged)."""
    if summary.new_classes:
        log.warning("target drift: the current labels hold classes the reference never had: %s", ", ".join(summary.new_classes))
    (out_dir / "drift_summary.json").write_text(json.dumps(summary.as_dict(), indent=2))
    (out_dir / "README.md").write_text(
        f"# Drift report ({summary.task})\n\n{summary.sampling_note}\n\nDrifted features: "
        f"{', '.join(summary.drifted_columns) or 'none'}; prediction drift: "
        f"{summary.prediction_drift}; target drift: {summary.target_note()}.\n"
    )


def _labels_as_text(frame: pd.DataFrame, target: str) -> pd.DataFrame:
    """Class labels compared as text on both sides (a parquet may hold them as numbers on one side)."""
    return frame.assign(**{target: frame[target].map(lambda v: v if pd.isna(v) else str(v))})


def sampling_note(n_ref: int, n_cur: int, used_ref: int, used_cur: int, max_rows: int) -> str:
    """Say, in words, whether and how the two sides were sampled."""
    if used_ref == n_ref and used_cur == n_cur:
        return f"All rows compared: {n_ref} reference rows, {n_cur} current rows (limit {max_rows} per side)."
    return (
        f"Sampled deliberately (seeded, uniform, at most {max_rows} rows per side, drift.max_rows): "
        f"{used_ref} of {n_ref} reference rows and {used_cur} of {n_cur} current rows."
    )


def _summarise(
    raw: dict,
    schema: ModelSchema,
    threshold: float,
    n_ref: int,
    n_cur: int,
    note: str,
    columns: list[str],
    added: list[str],
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
        target_drift=(schema.target in drifted or bool(added)) if schema.target in scores else None,
        new_classes=list(added),
        task=schema.task,
    )
