"""One cycle's champion–challenger comparison, written as evidence a person reads in the MLflow UI.

From the paired shadow scores (both models on the SAME holdout rows) and the gate's decision this
module writes a comparison table (CSV, and JSON in the format of ``MlflowClient.log_table`` so the
UI renders it as a table), overlaid ROC and precision–recall curves, confusion matrices, a
reliability diagram, per-slice bars and ``decision.md``, the story of the cycle in a few lines.
On the first cycle there is no champion: every table cell and plot shows the challenger alone.

Deltas and their confidence intervals are always ``challenger − champion`` in the metric's own
units; ``better`` says which model wins, respecting metrics where lower is better.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from champion_challenger.config import LOWER_IS_BETTER
from champion_challenger.evaluation.metrics import binary_metrics, metric_value

if TYPE_CHECKING:
    from matplotlib.figure import Figure
    from mlflow import MlflowClient

TABLE_METRICS: tuple[str, ...] = ("accuracy", "roc_auc", "f1", "precision", "recall", "log_loss", "brier")
TABLE_COLUMNS: tuple[str, ...] = ("metric", "champion", "challenger", "delta", "better", "ci_low", "ci_high", "check")
TABLE_FILE = "comparison_table.json"
COLORS = {"champion": "tab:blue", "challenger": "tab:orange"}
MAX_SLICE_VALUES = 20
#: MLflow's SQL store keeps at most 5,000 characters of a model version's description.
MAX_DESCRIPTION_CHARS = 5000


@dataclass(frozen=True)
class ModelScores:
    """One model's positive-class probabilities on the paired rows.

    Attributes:
        role: ``champion`` or ``challenger``.
        version: registry version (None: a dry run's unregistered candidate).
        probability: positive-class probabilities, one per paired row.
    """

    role: str
    version: int | None
    probability: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.role} v{self.version}" if self.version is not None else f"{self.role} (dry run, unregistered)"

    @property
    def color(self) -> str:
        return COLORS[self.role]


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
        roc_curves: ROC curves of both models.
        pr_curves: precision–recall curves of both models.
        confusion_matrices: confusion matrices side by side.
        calibration: reliability diagram and histogram of predicted probabilities.
        slice_metrics: per-slice bars, None when there are no slice columns.
        slice_table: per-slice numbers behind the bars, None when there are no slice columns.
        decision_md: the cycle's story in markdown.
    """

    out_dir: Path
    challenger_version: int | None
    champion_version: int | None
    n_rows: int
    rows: tuple[dict[str, Any], ...]
    table_csv: Path
    table_json: Path
    roc_curves: Path
    pr_curves: Path
    confusion_matrices: Path
    calibration: Path
    slice_metrics: Path | None
    slice_table: Path | None
    decision_md: Path

    @property
    def files(self) -> list[Path]:
        """Every file written, the comparison table's JSON first."""
        optional = [p for p in (self.slice_metrics, self.slice_table) if p is not None]
        plots = [self.roc_curves, self.pr_curves, self.confusion_matrices, self.calibration]
        return [self.table_json, self.table_csv, *plots, *optional, self.decision_md]

    def table(self) -> pd.DataFrame:
        """The comparison table as a DataFrame (columns :data:`TABLE_COLUMNS`)."""
        return pd.DataFrame(list(self.rows), columns=list(TABLE_COLUMNS))


# ---- the whole comparison -------------------------------------------------------------------
def write_comparison(
    paired: pd.DataFrame,
    target: str,
    slice_columns: list[str],
    out_dir: Path,
    champion_version: int | None,
    challenger_version: int | None,
    decision: dict | None = None,
    threshold: float = 0.5,
) -> ComparisonSummary:
    """Write the comparison table, plots and ``decision.md`` of one cycle into ``out_dir``.

    Args:
        paired: one row per holdout row: ``target`` (0/1), ``challenger`` and, when there is a
            champion, ``champion`` positive-class probabilities, plus the slice columns.
        target: label column.
        slice_columns: columns whose values get their own bars (may be empty).
        out_dir: folder to write into (created; files are overwritten, so a retry gives the same files).
        champion_version: registry version of the champion, None when there is none yet.
        challenger_version: registry version of the challenger (None: a dry run's unregistered candidate).
        decision: the gate's ``GateResult.as_dict()``, or None when no decision was made.
        threshold: probability at or above which a prediction is positive.

    Returns:
        Paths of every file and the table's rows.

    Raises:
        ValueError: a required column is missing, scores are missing, or the champion column and
            ``champion_version`` disagree.
    """
    models = paired_models(paired, target, slice_columns, champion_version, challenger_version)
    y = paired[target].to_numpy(dtype=int)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = comparison_rows(y, models, decision, threshold)
    table_csv, table_json = write_table(rows, out_dir)
    metric = (decision or {}).get("metric", "roc_auc")
    slices = slice_frame(paired, target, slice_columns, models, metric, threshold)
    slice_table = slice_plot = None
    if not slices.empty:
        slices.to_csv(slice_table := out_dir / "slice_metrics.csv", index=False)
        slice_plot = plot_slices(slices, metric, out_dir / "slice_metrics.png")
    summary = ComparisonSummary(
        out_dir=out_dir,
        challenger_version=challenger_version,
        champion_version=champion_version,
        n_rows=len(y),
        rows=tuple(rows),
        table_csv=table_csv,
        table_json=table_json,
        roc_curves=plot_roc(y, models, out_dir / "roc_curves.png"),
        pr_curves=plot_pr(y, models, out_dir / "pr_curves.png"),
        confusion_matrices=plot_confusion(y, models, threshold, out_dir / "confusion_matrices.png"),
        calibration=plot_calibration(y, models, out_dir / "calibration.png"),
        slice_metrics=slice_plot,
        slice_table=slice_table,
        decision_md=out_dir / "decision.md",
    )
    summary.decision_md.write_text(decision_markdown(summary, decision, threshold))
    return summary


def paired_models(
    paired: pd.DataFrame, target: str, slice_columns: list[str], champion_version: int | None, challenger_version: int | None
) -> list[ModelScores]:
    """Check the paired frame and return the models it scores, champion first when there is one.

    Raises:
        ValueError: what is missing or inconsistent, by name.
    """
    has_champion = "champion" in paired.columns
    if has_champion != (champion_version is not None):
        raise ValueError(
            f"paired scores {'have' if has_champion else 'lack'} a 'champion' column but champion_version is "
            f"{champion_version}: pass the champion's version exactly when its scores are present"
        )
    roles = {"champion": champion_version, "challenger": challenger_version} if has_champion else {"challenger": challenger_version}
    missing = [c for c in (target, *roles, *slice_columns) if c not in paired.columns]
    if missing:
        raise ValueError(f"paired scores lack columns {missing}; found {list(paired.columns)}")
    if paired.empty:
        raise ValueError("paired scores are empty: there is nothing to compare")
    for column in (target, *roles):
        if gaps := int(paired[column].isna().sum()):
            raise ValueError(f"paired scores column {column!r} has {gaps} missing values; score every holdout row")
    return [ModelScores(role, None if version is None else int(version), paired[role].to_numpy(dtype=float))
            for role, version in roles.items()]


# ---- the table ------------------------------------------------------------------------------
def comparison_rows(
    y: np.ndarray, models: Sequence[ModelScores], decision: dict | None = None, threshold: float = 0.5
) -> list[dict[str, Any]]:
    """One row per metric of :data:`TABLE_METRICS`: both values, delta, winner, CI and gate reasons.

    Args:
        y: 0/1 labels.
        models: the challenger and, optionally, the champion, scored on the same rows.
        decision: the gate's result as a dict; its checks annotate the metrics they concern.
        threshold: probability at or above which a prediction is positive.

    Returns:
        Dicts with the keys of :data:`TABLE_COLUMNS`; NaN values become None.

    Raises:
        ValueError: labels and probabilities differ in length, or no challenger is given.
    """
    scores = {m.role: binary_metrics(y, m.probability, threshold) for m in models}
    if "challenger" not in scores:
        raise ValueError("the comparison needs the challenger's scores")
    checks = checks_by_metric(decision)
    return [
        _row(metric, scores["challenger"][metric], scores["champion"][metric] if "champion" in scores else None, checks.get(metric, []))
        for metric in TABLE_METRICS
    ]


def _row(metric: str, challenger: float, champion: float | None, checks: list[dict]) -> dict[str, Any]:
    champion, challenger = _finite(champion), _finite(challenger)
    delta = challenger - champion if champion is not None and challenger is not None else None
    low, high = _delta_ci(metric, checks)
    reasons = "; ".join(f"{'PASS' if c['passed'] else 'FAIL'} {c['name']}: {c['reason']}" for c in checks)
    return {
        "metric": metric, "champion": champion, "challenger": challenger, "delta": delta,
        "better": better(metric, challenger, champion), "ci_low": low, "ci_high": high, "check": reasons or None,
    }


def better(metric: str, challenger: float | None, champion: float | None, tolerance: float = 1e-12) -> str | None:
    """Which model is better on ``metric``: ``challenger``, ``champion``, ``tie``, or None without two values.

    Lower is better for the metrics in :data:`~champion_challenger.config.LOWER_IS_BETTER`.
    """
    if _finite(challenger) is None or _finite(champion) is None:
        return None
    gain = (champion - challenger) if metric in LOWER_IS_BETTER else (challenger - champion)
    if abs(gain) <= tolerance:
        return "tie"
    return "challenger" if gain > 0 else "champion"


def checks_by_metric(decision: dict | None) -> dict[str, list[dict]]:
    """The decision's checks grouped by the table metric they concern.

    ``primary:<m>`` and ``guardrail:<m>`` concern metric ``m``; ``quality_floor`` concerns the
    decision's primary metric. Slice and sample-size checks concern no single table row.
    """
    grouped: dict[str, list[dict]] = {}
    for check in (decision or {}).get("checks", []):
        if check["name"].startswith("online/"):  # online evidence: other rows than this table's
            continue
        kind, _, metric = check["name"].removeprefix("offline/").partition(":")
        if kind == "quality_floor":
            metric = decision.get("metric", "")
        elif kind not in ("primary", "guardrail"):
            continue
        if metric in TABLE_METRICS:
            grouped.setdefault(metric, []).append(check)
    return grouped


def _delta_ci(metric: str, checks: list[dict]) -> tuple[float | None, float | None]:
    """The gate's CI (of the gain, positive = better) turned into a CI of challenger − champion."""
    for check in checks:
        if check.get("ci_low") is not None and check.get("ci_high") is not None:
            low, high = float(check["ci_low"]), float(check["ci_high"])
            return (-high, -low) if metric in LOWER_IS_BETTER else (low, high)
    return None, None


def _finite(value: float | None) -> float | None:
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


# ---- slices ---------------------------------------------------------------------------------
def slice_frame(
    paired: pd.DataFrame,
    target: str,
    slice_columns: list[str],
    models: Sequence[ModelScores],
    metric: str,
    threshold: float = 0.5,
) -> pd.DataFrame:
    """The metric of every model on every value of every slice column.

    Returns:
        Columns ``column, value, rows, role, version, <metric>``; empty without slice columns.
        Values are compared as text; missing values form their own ``(missing)`` slice.
        The metric is NaN where it is undefined (e.g. ROC AUC on a one-class slice).
    """
    y = paired[target].to_numpy(dtype=int)
    records = []
    for column in slice_columns:
        values = paired[column].astype(str).fillna("(missing)").to_numpy(dtype=object)
        for value, count in pd.Series(values).value_counts().items():
            mask = values == value
            for model in models:
                score = metric_value(metric, y[mask], model.probability[mask], threshold)
                records.append({"column": column, "value": value, "rows": int(count), "role": model.role,
                                "version": model.version, metric: score})
    return pd.DataFrame(records, columns=["column", "value", "rows", "role", "version", metric])


# ---- plots ----------------------------------------------------------------------------------
def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    _pyplot().close(fig)
    return path


def _both_classes(y: np.ndarray) -> bool:
    return len(np.unique(y)) == 2


def plot_roc(y: np.ndarray, models: Sequence[ModelScores], path: Path) -> Path:
    """ROC curves of every model overlaid, AUC in the legend, chance diagonal; saved as PNG."""
    fig, ax = _pyplot().subplots(figsize=(5.5, 5))
    for model in models if _both_classes(y) else []:
        fpr, tpr, _ = skm.roc_curve(y, model.probability)
        auc = skm.roc_auc_score(y, model.probability)
        ax.plot(fpr, tpr, color=model.color, label=f"{model.label} (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title("ROC curve" if _both_classes(y) else "ROC curve undefined: the labels hold one class only")
    ax.legend(loc="lower right")
    return _save(fig, path)


def plot_pr(y: np.ndarray, models: Sequence[ModelScores], path: Path) -> Path:
    """Precision–recall curves overlaid, average precision in the legend, base-rate line; saved as PNG."""
    fig, ax = _pyplot().subplots(figsize=(5.5, 5))
    for model in models if _both_classes(y) else []:
        precision, recall, _ = skm.precision_recall_curve(y, model.probability)
        ap = skm.average_precision_score(y, model.probability)
        ax.step(recall, precision, where="post", color=model.color, label=f"{model.label} (AP {ap:.3f})")
    base_rate = float(np.mean(y))
    ax.axhline(base_rate, linestyle="--", color="grey", label=f"base rate {base_rate:.3f}")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title("Precision–recall curve" if _both_classes(y) else "PR curve undefined: the labels hold one class only")
    ax.legend(loc="upper right")
    return _save(fig, path)


def plot_confusion(y: np.ndarray, models: Sequence[ModelScores], threshold: float, path: Path) -> Path:
    """Confusion matrices side by side: counts and row-normalised percentages; saved as PNG."""
    fig, axes = _pyplot().subplots(1, len(models), figsize=(max(5.6, 4.6 * len(models)), 4.6), squeeze=False)
    for ax, model in zip(axes.flat, models, strict=True):
        counts = skm.confusion_matrix(y, (model.probability >= threshold).astype(int), labels=[0, 1])
        totals = counts.sum(axis=1, keepdims=True)
        share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        for (row, col), count in np.ndenumerate(counts):
            colour = "white" if share[row, col] > 0.5 else "black"
            ax.text(col, row, f"{count}\n{share[row, col]:.1%}", ha="center", va="center", color=colour)
        ax.set(xticks=[0, 1], yticks=[0, 1], xlabel="predicted", ylabel="actual", title=model.label)
    fig.suptitle(f"Confusion matrices at threshold {threshold:g}\n(% of each actual class)", fontsize=11)
    return _save(fig, path)


def plot_calibration(y: np.ndarray, models: Sequence[ModelScores], path: Path, bins: int = 10, strategy: str = "uniform") -> Path:
    """Reliability diagram above a histogram of predicted probabilities; saved as PNG.

    Args:
        bins: number of probability bins.
        strategy: ``uniform`` (equal-width) or ``quantile`` (equal-count) bins.
    """
    fig, (top, bottom) = _pyplot().subplots(2, 1, figsize=(5.5, 6.5), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for model in models:
        observed, predicted = calibration_curve(y, model.probability, n_bins=bins, strategy=strategy)
        brier = skm.brier_score_loss(y, model.probability)
        top.plot(predicted, observed, marker="o", color=model.color, label=f"{model.label} (Brier {brier:.3f})")
        bottom.hist(model.probability, bins=20, range=(0, 1), histtype="step", color=model.color, label=model.label)
    top.set(ylabel="observed positive rate", ylim=(0, 1.01), title=f"Calibration ({bins} {strategy} bins)")
    top.legend(loc="upper left")
    bottom.set(xlabel="predicted probability", ylabel="rows", xlim=(0, 1))
    return _save(fig, path)


def plot_slices(slices: pd.DataFrame, metric: str, path: Path) -> Path:
    """Grouped bars of ``metric`` per slice value and model, row counts under each value; saved as PNG.

    Args:
        slices: output of :func:`slice_frame` (not empty).
        metric: the metric column to draw.
        path: where to save.
    """
    columns = list(dict.fromkeys(slices["column"]))
    widest = min(MAX_SLICE_VALUES, slices.groupby("column")["value"].nunique().max())
    fig, axes = _pyplot().subplots(len(columns), 1, figsize=(max(6.0, 0.9 * widest + 2), 3.6 * len(columns)), squeeze=False)
    for ax, column in zip(axes.flat, columns, strict=True):
        _slice_bars(ax, slices[slices["column"] == column], column, metric)
    return _save(fig, path)


def _slice_bars(ax: Any, part: pd.DataFrame, column: str, metric: str) -> None:
    counts = part.drop_duplicates("value").set_index("value")["rows"]
    shown = counts.sort_values(ascending=False).index[:MAX_SLICE_VALUES]
    roles = list(dict.fromkeys(part["role"]))
    width = 0.8 / len(roles)
    x = np.arange(len(shown))
    for i, role in enumerate(roles):
        rows = part[part["role"] == role].set_index("value").loc[shown]
        heights = rows[metric].to_numpy(dtype=float)
        version = rows["version"].iloc[0]
        label = f"{role} v{int(version)}" if pd.notna(version) else f"{role} (dry run)"
        bars = ax.bar(x + (i - (len(roles) - 1) / 2) * width, np.nan_to_num(heights), width, color=COLORS[role], label=label)
        ax.bar_label(bars, labels=["n/a" if math.isnan(h) else f"{h:.3f}" for h in heights], fontsize=7)
    ax.set_xticks(x, [f"{value}\n(n={counts[value]})" for value in shown], fontsize=8)
    more = f", top {len(shown)} of {len(counts)} values by rows" if len(counts) > len(shown) else ""
    top = np.nanmax(part[metric].to_numpy(dtype=float), initial=0.0) or 1.0
    ax.set(ylabel=metric, title=f"{metric} by {column}{more}", ylim=(0, top * 1.3))
    ax.legend(loc="upper right", ncols=len(roles), fontsize=8)


# ---- the story ------------------------------------------------------------------------------
def _challenger(version: int | None) -> str:
    return f"challenger v{version}" if version is not None else "challenger (dry run, unregistered)"


def headline(decision: dict | None, champion_version: int | None, challenger_version: int | None) -> str:
    """One sentence: what happened to the challenger and why, e.g. "v7 promoted over v5 because ..."."""
    new = f"v{challenger_version}" if challenger_version is not None else "the dry-run candidate"
    old = f"v{champion_version}" if champion_version is not None else None
    if decision is None:
        return f"{new} evaluated against {old}; no decision was recorded" if old else f"{new} evaluated; no decision was recorded"
    stays = f"{old} stays champion" if old else "there is still no champion"
    outcome = {
        "promote": f"{new} promoted over {old}" if old else f"{new} promoted as the first champion",
        "hold": f"{new} held: {stays}",
        "reject": f"{new} rejected: {stays}",
    }.get(decision["action"], f"{new}: {decision['action']}")
    return f"{outcome} because {decision['reason'].rstrip('.')}"


def decision_markdown(summary: ComparisonSummary, decision: dict | None, threshold: float) -> str:
    """``decision.md``: the headline, the comparison table and every check with its reason."""
    champion = f"champion v{summary.champion_version}" if summary.champion_version is not None else "champion (none)"
    scored = "Both models scored the same" if summary.champion_version is not None else "There is no champion; the challenger scored"
    lines = [
        f"# Cycle decision: {_challenger(summary.challenger_version)} vs {champion}",
        "",
        f"**{headline(decision, summary.champion_version, summary.challenger_version)}.**",
        "",
        f"{scored} {summary.n_rows} holdout rows; predictions are positive at "
        f"probability >= {threshold:g}. Delta and CI are challenger − champion; lower is better for "
        f"{', '.join(sorted(LOWER_IS_BETTER))}.",
        "",
        "## Metrics",
        "",
        f"| metric | {champion} | {_challenger(summary.challenger_version)} | delta | better | CI of delta |",
        "|---|---|---|---|---|---|",
        *(_markdown_row(row) for row in summary.rows),
        "",
        "## Checks",
        "",
        *(_markdown_checks(decision)),
        "",
        "## Evidence",
        "",
        *(f"- `{path.name}`" for path in summary.files if path != summary.decision_md),
    ]
    return "\n".join(lines) + "\n"


def _fmt(value: float | None, signed: bool = False) -> str:
    return "–" if value is None else (f"{value:+.4f}" if signed else f"{value:.4f}")


def _markdown_row(row: dict[str, Any]) -> str:
    ci = f"{_fmt(row['ci_low'], True)} .. {_fmt(row['ci_high'], True)}" if row["ci_low"] is not None else "–"
    return (f"| {row['metric']} | {_fmt(row['champion'])} | {_fmt(row['challenger'])} | "
            f"{_fmt(row['delta'], True)} | {row['better'] or '–'} | {ci} |")


def _markdown_checks(decision: dict | None) -> list[str]:
    checks = (decision or {}).get("checks", [])
    if not checks:
        return ["No checks were recorded." if decision is None else "The decision recorded no checks."]
    return [f"- {'PASS' if c['passed'] else 'FAIL'} `{c['name']}`: {c['reason']}" for c in checks]


# ---- MLflow -----------------------------------------------------------------------------------
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


def version_description(decision: dict, evaluation: dict, cycle_run_url: str) -> str:
    """Markdown for the challenger's registered model version: the decision and a link to its evidence.

    Args:
        decision: the gate's ``GateResult.as_dict()``.
        evaluation: ``Pipeline.shadow_evaluate``'s result (``versions``, ``rows``, both models' metrics).
        cycle_run_url: the MLflow UI address of the cycle run holding the comparison (:func:`run_url`).

    Returns:
        At most :data:`MAX_DESCRIPTION_CHARS` characters, the evidence link always kept.
    """
    versions = evaluation["versions"]
    lines = [
        f"**Decision: {decision['action']}**: {headline(decision, versions.get('champion'), versions['challenger'])}.",
        "",
        _primary_line(decision),
        "",
        f"Evaluated on {evaluation.get('rows', '?')} paired holdout rows.",
    ]
    failed = [c for c in decision.get("checks", []) if not c["passed"]]
    if failed:
        lines += ["", "Failed checks:", *(f"- `{c['name']}`: {c['reason']}" for c in failed)]
    link = f"\n\n[Evidence: comparison table, curves and decision]({cycle_run_url})"
    body = "\n".join(lines)
    if len(body) + len(link) > MAX_DESCRIPTION_CHARS:
        body = body[: MAX_DESCRIPTION_CHARS - len(link) - 20] + "\n\n… (truncated)"
    return body + link


def _primary_line(decision: dict) -> str:
    metric, champion, challenger = decision["metric"], decision.get("champion_value"), decision["challenger_value"]
    if champion is None:
        return f"Primary metric **{metric}**: challenger {_fmt(_finite(challenger))}; there was no champion to compare with."
    low, high = _delta_ci(metric, [c for c in decision.get("checks", [])
                                   if c["name"].removeprefix("offline/") == f"primary:{metric}"])
    ci = f" (CI {_fmt(low, True)} .. {_fmt(high, True)})" if low is not None else ""
    delta = _finite(challenger - champion) if _finite(challenger) is not None else None
    return (f"Primary metric **{metric}**: challenger {_fmt(_finite(challenger))} vs champion {_fmt(_finite(champion))}, "
            f"delta {_fmt(delta, True)}{ci}, better: {better(metric, challenger, champion) or '–'}.")
