"""The whole comparison of one cycle: write every file (:func:`write_comparison`), log them to the
cycle's MLflow run (:func:`log_comparison`) and link to that run (:func:`run_url`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from champion_challenger.evaluation.comparison.decision_markdown import decision_markdown
from champion_challenger.evaluation.comparison.paired_scores import ModelScores, paired_labels, paired_models
from champion_challenger.evaluation.comparison.plots import (
    plot_calibration,
    plot_class_metrics,
    plot_confusion,
    plot_pr,
    plot_predicted_vs_actual,
    plot_residuals,
    plot_roc,
    plot_slices,
)
from champion_challenger.evaluation.comparison.table import (
    ComparisonSummary,
    comparison_rows,
    default_metric,
    slice_frame,
    write_table,
)
from champion_challenger.task import TaskKind

if TYPE_CHECKING:
    from mlflow import MlflowClient

#: The whole-holdout figures of each task (file ``<name>.png``), in the order they are written and listed.
TASK_PLOTS: Mapping[TaskKind, tuple[str, ...]] = {
    "binary": ("roc_curves", "pr_curves", "confusion_matrices", "calibration"),
    "multiclass": ("confusion_matrices", "class_metrics"),
    "regression": ("predicted_vs_actual", "residuals"),
}


def write_comparison(
    paired: pd.DataFrame,
    target: str,
    slice_columns: list[str],
    out_dir: Path,
    champion_version: int | None,
    challenger_version: int | None,
    decision: dict | None = None,
    threshold: float = 0.5,
    task: TaskKind = "binary",
    classes: Sequence[str] = (),
) -> ComparisonSummary:
    """Write the comparison table, plots and ``decision.md`` of one cycle into ``out_dir``.

    Args:
        paired: one row per holdout row (``paired_scores.parquet``): ``target`` (the raw label: 0/1, a
            class label, a value), ``challenger`` and, when there is a champion, ``champion`` scores
            (binary positive-class probabilities, multiclass lists of class probabilities in ``classes``
            order, regression predicted values), plus the slice columns.
        target: label column.
        slice_columns: columns whose values get their own bars (may be empty).
        out_dir: folder to write into (created; files are overwritten, so a retry gives the same files).
        champion_version: registry version of the champion, None when there is none yet.
        challenger_version: registry version of the challenger (None: a dry run's unregistered candidate).
        decision: the gate's ``GateResult.as_dict()``, or None when no decision was made.
        threshold: binary: probability at or above which a prediction is positive.
        task: ``binary``, ``multiclass`` or ``regression``.
        classes: multiclass: the pipeline's classes, the order of the probability lists (required).

    Returns:
        Paths of every file and the table's rows.

    Raises:
        ValueError: a required column is missing, scores are missing or of the wrong shape, a label is
            not one of ``classes``, or the champion column and ``champion_version`` disagree.
    """
    classes = tuple(str(c) for c in classes) if task == "multiclass" else ()
    models = paired_models(paired, target, slice_columns, champion_version, challenger_version, task, classes)
    y = paired_labels(paired, target, task, classes)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = comparison_rows(y, models, decision, threshold, task, classes)
    table_csv, table_json = write_table(rows, out_dir)
    slice_table, slice_plot = _write_slices(paired, target, slice_columns, models, decision, threshold, out_dir, task, classes)
    summary = ComparisonSummary(
        out_dir=out_dir,
        challenger_version=challenger_version,
        champion_version=champion_version,
        n_rows=len(y),
        rows=tuple(rows),
        table_csv=table_csv,
        table_json=table_json,
        plots=_write_plots(y, models, threshold, task, classes, out_dir),
        slice_metrics=slice_plot,
        slice_table=slice_table,
        decision_md=out_dir / "decision.md",
        task=task,
        classes=classes,
    )
    summary.decision_md.write_text(decision_markdown(summary, decision, threshold))
    return summary


def _write_plots(
    y: np.ndarray, models: list[ModelScores], threshold: float, task: TaskKind, classes: Sequence[str], out_dir: Path
) -> dict[str, Path]:
    """The task's whole-holdout figures (:data:`TASK_PLOTS`), keyed by name."""
    paths = {name: out_dir / f"{name}.png" for name in TASK_PLOTS[task]}
    if task == "multiclass":
        plot_confusion(y, models, threshold, paths["confusion_matrices"], classes)
        plot_class_metrics(y, models, classes, paths["class_metrics"])
    elif task == "regression":
        plot_predicted_vs_actual(y, models, paths["predicted_vs_actual"])
        plot_residuals(y, models, paths["residuals"])
    else:
        plot_roc(y, models, paths["roc_curves"])
        plot_pr(y, models, paths["pr_curves"])
        plot_confusion(y, models, threshold, paths["confusion_matrices"])
        plot_calibration(y, models, paths["calibration"])
    return paths


def _write_slices(
    paired: pd.DataFrame,
    target: str,
    slice_columns: list[str],
    models: list[ModelScores],
    decision: dict | None,
    threshold: float,
    out_dir: Path,
    task: TaskKind,
    classes: Sequence[str],
) -> tuple[Path | None, Path | None]:
    """The per-slice table and bars of the decision's primary metric (the task's default one without a
    decision): ``(csv, png)``, both None without slice columns."""
    metric = (decision or {}).get("metric") or default_metric(task)
    slices = slice_frame(paired, target, slice_columns, models, metric, threshold, decision, task, classes)
    if slices.empty:
        return None, None
    slices.to_csv(table := out_dir / "slice_metrics.csv", index=False)
    return table, plot_slices(slices, metric, out_dir / "slice_metrics.png")


def log_comparison(client: MlflowClient, run_id: str, summary: ComparisonSummary, artifact_path: str = "comparison") -> list[str]:
    """Log every comparison file to the run under ``artifact_path``, the table through ``log_table``.

    ``log_table`` appends to a table that already exists, so on a retry the table file is replaced
    (same JSON format, the run's table tag is already set) instead of getting its rows twice.

    Args:
        client: MLflow client of the tracking server.
        run_id: the cycle's run.
        summary: what :func:`write_comparison` wrote.
        artifact_path: folder inside the run's artifacts.

    Returns:
        Run-relative artifact paths logged, the table first.
    """
    table_file = f"{artifact_path}/{summary.table_json.name}"
    if table_file in {f.path for f in client.list_artifacts(run_id, artifact_path)}:
        client.log_artifact(run_id, str(summary.table_json), artifact_path)
    else:
        client.log_table(run_id, data=summary.table(), artifact_file=table_file)
    logged = [table_file]
    for path in summary.files:
        if path != summary.table_json:
            client.log_artifact(run_id, str(path), artifact_path)
            logged.append(f"{artifact_path}/{path.name}")
    return logged


def run_url(tracking_uri: str, experiment_id: str, run_id: str) -> str:
    """The MLflow UI address of a run: ``<tracking_uri>/#/experiments/<exp_id>/runs/<run_id>``."""
    return f"{tracking_uri.rstrip('/')}/#/experiments/{experiment_id}/runs/{run_id}"
