"""The comparison table: one row per metric with both models' values, the delta, the winner, the
gate's CI and the gate's checks on that metric; and the per-slice numbers behind the slice plot.

The rows are the task's metrics (:func:`table_metrics`): binary keeps :data:`TABLE_METRICS`; multiclass
shows :data:`~champion_challenger.task.TASK_METRICS` plus each class's recall (``recall[<class>]``, the
row the gate's ``guardrail:class_recall=<class>`` check annotates); regression shows its error metrics.
Deltas and their confidence intervals are ``challenger − champion`` in the metric's own units;
which model is better comes from :mod:`champion_challenger.policy.direction`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from champion_challenger.evaluation.comparison.paired_scores import ModelScores, paired_labels
from champion_challenger.metrics import class_recalls, metric_value, task_metrics
from champion_challenger.policy.direction import better, gain_interval
from champion_challenger.task import TASK_DEFAULTS, TASK_METRICS, TaskKind

#: The binary table's rows (the order of every binary comparison so far).
TABLE_METRICS: tuple[str, ...] = ("accuracy", "roc_auc", "f1", "precision", "recall", "log_loss", "brier")
TABLE_COLUMNS: tuple[str, ...] = ("metric", "champion", "challenger", "delta", "better", "ci_low", "ci_high", "check")
TABLE_FILE = "comparison_table.json"
SLICE_COLUMNS: tuple[str, ...] = ("column", "value", "rows", "role", "version")
#: The gate's per-class recall guardrail (``guardrail:class_recall=<class>``).
CLASS_RECALL = "class_recall"


def class_recall_metric(cls: str) -> str:
    """The table row holding the recall of class ``cls``: ``recall[<cls>]``."""
    return f"recall[{cls}]"


def table_metrics(task: TaskKind = "binary", classes: Sequence[str] = ()) -> tuple[str, ...]:
    """The table's metric rows for ``task``, in order (multiclass: one ``recall[<class>]`` per class last)."""
    if task == "binary":
        return TABLE_METRICS
    per_class = tuple(class_recall_metric(str(c)) for c in classes) if task == "multiclass" else ()
    return (*TASK_METRICS[task], *per_class)


def default_metric(task: TaskKind) -> str:
    """The metric the slice table shows when no decision names one: the task's default primary metric."""
    return str(TASK_DEFAULTS[task]["primary_metric"])


def model_metrics(
    task: TaskKind, y: np.ndarray, scores: np.ndarray, threshold: float = 0.5, classes: Sequence[str] = ()
) -> dict[str, float]:
    """Every metric the table can show for one model: the task's metrics, plus each class's recall."""
    values = task_metrics(task, y, scores, threshold)
    if task == "multiclass":
        recalls = class_recalls(y, scores)
        values.update({class_recall_metric(str(c)): float(r) for c, r in zip(classes, recalls, strict=False)})
    return values


def comparison_rows(
    y: np.ndarray,
    models: Sequence[ModelScores],
    decision: dict | None = None,
    threshold: float = 0.5,
    task: TaskKind = "binary",
    classes: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One row per metric of :func:`table_metrics`: both values, delta, winner, CI and gate reasons.

    Args:
        y: labels as the metrics read them (0/1, class indices into ``classes``, values).
        models: the challenger and, optionally, the champion, scored on the same rows.
        decision: the gate's result as a dict; its checks annotate the metrics they concern.
        threshold: binary: probability at or above which a prediction is positive.
        task: ``binary``, ``multiclass`` or ``regression``.
        classes: multiclass: the column order of the probabilities (names the per-class recall rows).

    Returns:
        Dicts with the keys of :data:`TABLE_COLUMNS`; NaN values become None.

    Raises:
        ValueError: labels and scores differ in length, or no challenger is given.
    """
    scores = {m.role: model_metrics(task, y, m.scores, threshold, classes) for m in models}
    if "challenger" not in scores:
        raise ValueError("the comparison needs the challenger's scores")
    checks = checks_by_metric(decision)
    return [
        metric_row(
            metric,
            scores["challenger"][metric],
            scores["champion"][metric] if "champion" in scores else None,
            checks.get(metric, []),
        )
        for metric in table_metrics(task, classes)
    ]


def metric_row(metric: str, challenger: float, champion: float | None, checks: list[dict]) -> dict[str, Any]:
    """The table row of ``metric``; ``checks`` are the gate's checks on it (passed and failed alike)."""
    champion, challenger = finite(champion), finite(challenger)
    delta = challenger - champion if champion is not None and challenger is not None else None
    low, high = delta_ci(metric, checks)
    reasons = "; ".join(f"{verdict(c)} {c['name']}: {c['reason']}" for c in checks)
    return {
        "metric": metric,
        "champion": champion,
        "challenger": challenger,
        "delta": delta,
        "better": better(metric, challenger, champion),
        "ci_low": low,
        "ci_high": high,
        "check": reasons or None,
    }


def verdict(check: dict) -> str:
    """``PASS`` or ``FAIL``: how a check reads in the table, the slice table and ``decision.md``."""
    return "PASS" if check["passed"] else "FAIL"


def offline_checks(decision: dict | None) -> Iterator[tuple[str, dict]]:
    """``(name, check)`` of the decision's checks on the paired holdout rows, ``offline/`` dropped
    from the name. Online checks (``online/...``) concern other rows than this comparison's."""
    for check in (decision or {}).get("checks", []):
        if not check["name"].startswith("online/"):
            yield check["name"].removeprefix("offline/"), check


def checks_by_metric(decision: dict | None) -> dict[str, list[dict]]:
    """The decision's checks, passed or failed, grouped by the table metric they concern.

    ``primary:<m>`` and ``guardrail:<m>`` concern metric ``m``; ``guardrail:class_recall=<c>`` concerns
    ``recall[<c>]`` (:func:`class_recall_metric`); ``quality_floor`` concerns the decision's primary
    metric. Slice and sample-size checks concern no single table row. A metric the table does not show
    keeps its checks here and in ``decision.md`` only.
    """
    grouped: dict[str, list[dict]] = {}
    for name, check in offline_checks(decision):
        kind, _, metric = name.partition(":")
        if kind == "quality_floor":
            metric = decision.get("metric", "")
        elif kind not in ("primary", "guardrail"):
            continue
        family, is_class, cls = metric.partition("=")
        if is_class and family == CLASS_RECALL:
            metric = class_recall_metric(cls)
        grouped.setdefault(metric, []).append(check)
    return grouped


def delta_ci(metric: str, checks: list[dict]) -> tuple[float | None, float | None]:
    """The first CI among ``checks`` (the gate's, of the gain: positive = better) turned into a CI of
    challenger − champion; ``(None, None)`` when no check has one."""
    for check in checks:
        if check.get("ci_low") is not None and check.get("ci_high") is not None:
            return gain_interval(metric, float(check["ci_low"]), float(check["ci_high"]))
    return None, None


def finite(value: float | None) -> float | None:
    """``value`` as a float, None for None and NaN."""
    return None if value is None or math.isnan(value) else float(value)


def write_table(rows: list[dict[str, Any]], out_dir: Path) -> tuple[Path, Path]:
    """Write the table as CSV and as JSON exactly as ``MlflowClient.log_table`` stores it.

    Returns:
        ``(csv_path, json_path)``.
    """
    frame = pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
    frame.to_csv(csv_path := out_dir / "comparison_table.csv", index=False)
    # MLflow 3.17's log_table writes ``to_json(orient="split", index=False, date_format="iso")``.
    frame.to_json(json_path := out_dir / TABLE_FILE, orient="split", index=False, date_format="iso")
    return csv_path, json_path


def slice_frame(
    paired: pd.DataFrame,
    target: str,
    slice_columns: list[str],
    models: Sequence[ModelScores],
    metric: str,
    threshold: float = 0.5,
    decision: dict | None = None,
    task: TaskKind = "binary",
    classes: Sequence[str] = (),
) -> pd.DataFrame:
    """The metric of every model on every value of every slice column, with the gate's verdict on it.

    ``metric`` is any metric of ``task`` (binary: at ``threshold``); for a regression that is the error
    by slice (e.g. RMSE).

    Returns:
        Columns ``column, value, rows, role, version, <metric>, check``; empty without slice columns.
        Values are compared as text; missing values form their own ``(missing)`` slice.
        The metric is NaN where it is undefined (e.g. ROC AUC on a one-class slice, R² on constant labels).
        ``check`` is ``PASS`` or ``FAIL`` where the decision has a ``slice:<column>=<value>`` check,
        None where the gate did not check that slice (too few rows, one class, or no decision).
    """
    y = paired_labels(paired, target, task, classes)
    verdicts = {name: verdict(c) for name, c in offline_checks(decision) if name.startswith("slice:")}
    records = []
    for column in slice_columns:
        values = paired[column].astype(str).fillna("(missing)").to_numpy(dtype=object)
        for value, count in pd.Series(values).value_counts().items():
            mask = values == value
            check = verdicts.get(f"slice:{column}={value}")
            for model in models:
                score = metric_value(metric, y[mask], model.scores[mask], threshold, task=task)
                records.append(
                    {
                        "column": column,
                        "value": value,
                        "rows": int(count),
                        "role": model.role,
                        "version": model.version,
                        metric: score,
                        "check": check,
                    }
                )
    return pd.DataFrame(records, columns=[*SLICE_COLUMNS, metric, "check"])


@dataclass(frozen=True)
class ComparisonSummary:
    """What :func:`write_comparison` wrote: file paths and the comparison table's rows.

    Attributes:
        out_dir: folder holding every file.
        challenger_version: registry version of the challenger (None: a dry run's unregistered candidate).
        champion_version: registry version of the champion, None on the first cycle.
        n_rows: paired rows the comparison was computed on.
        rows: one dict per metric with the keys of :data:`TABLE_COLUMNS`.
        table_csv: the table as CSV.
        table_json: the table in ``MlflowClient.log_table``'s JSON format (pandas ``orient="split"``).
        plots: the task's whole-holdout figures by name (:data:`TASK_PLOTS`): binary ROC and PR curves,
            confusion matrices, calibration; multiclass K×K confusion matrices and per-class bars;
            regression predicted-vs-actual scatter and residual histograms.
        slice_metrics: per-slice bars, None when there are no slice columns.
        slice_table: per-slice numbers behind the bars, None when there are no slice columns.
        decision_md: the cycle's story in markdown.
        task: ``binary``, ``multiclass`` or ``regression``.
        classes: multiclass: the class order of the probabilities; empty otherwise.
    """

    out_dir: Path
    challenger_version: int | None
    champion_version: int | None
    n_rows: int
    rows: tuple[dict[str, Any], ...]
    table_csv: Path
    table_json: Path
    plots: Mapping[str, Path]
    slice_metrics: Path | None
    slice_table: Path | None
    decision_md: Path
    task: TaskKind = "binary"
    classes: tuple[str, ...] = ()

    @property
    def files(self) -> list[Path]:
        """Every file written, the comparison table's JSON first."""
        optional = [p for p in (self.slice_metrics, self.slice_table) if p is not None]
        return [self.table_json, self.table_csv, *self.plots.values(), *optional, self.decision_md]

    def table(self) -> pd.DataFrame:
        """The comparison table as a DataFrame (columns :data:`TABLE_COLUMNS`)."""
        return pd.DataFrame(list(self.rows), columns=list(TABLE_COLUMNS))
