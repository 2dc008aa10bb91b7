"""The comparison's figures, saved as PNG. Drawn with matplotlib's Agg backend (no display needed);
on the first cycle each figure shows the challenger alone.

* binary: overlaid ROC and precision–recall curves, confusion matrices side by side, a reliability diagram;
* multiclass: K×K confusion matrices side by side and per-class precision / recall / F1 bars;
* regression: predicted-vs-actual scatter (sampled to at most :data:`MAX_SCATTER_POINTS` rows) and
  residual histograms;
* every task: per-slice bars of the decision's primary metric.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from sklearn import metrics as skm
from sklearn.calibration import calibration_curve

from champion_challenger.evaluation.comparison.paired_scores import COLORS, ModelScores

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: The slice plot draws at most this many values of a column, those with the most rows.
MAX_SLICE_VALUES = 20
#: The predicted-vs-actual scatter draws at most this many rows (a seeded sample, the same rows for both models).
MAX_SCATTER_POINTS = 5000
#: Confusion matrices write counts into the cells up to this many classes (beyond it, colour only).
MAX_ANNOTATED_CLASSES = 15


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
        fpr, tpr, _ = skm.roc_curve(y, model.scores)
        auc = skm.roc_auc_score(y, model.scores)
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
        precision, recall, _ = skm.precision_recall_curve(y, model.scores)
        ap = skm.average_precision_score(y, model.scores)
        ax.step(recall, precision, where="post", color=model.color, label=f"{model.label} (AP {ap:.3f})")
    base_rate = float(np.mean(y))
    ax.axhline(base_rate, linestyle="--", color="grey", label=f"base rate {base_rate:.3f}")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.01))
    ax.set_title("Precision–recall curve" if _both_classes(y) else "PR curve undefined: the labels hold one class only")
    ax.legend(loc="upper right")
    return _save(fig, path)


def plot_confusion(
    y: np.ndarray,
    models: Sequence[ModelScores],
    threshold: float,
    path: Path,
    classes: Sequence[str] = (),
) -> Path:
    """Confusion matrices side by side: counts and row-normalised percentages; saved as PNG.

    Args:
        y: 0/1 labels, or class indices into ``classes``.
        models: scored models (binary probabilities, or ``(n, K)`` class probabilities).
        threshold: binary: probability at or above which a prediction is positive.
        path: where to save.
        classes: multiclass: the class names (the prediction is the most probable class); empty for binary.
    """
    if not classes:
        predicted = [(m.scores >= threshold).astype(int) for m in models]
        title = f"Confusion matrices at threshold {threshold:g}\n(% of each actual class)"
        return _confusion_figure(y, models, predicted, [], title, path)
    predicted = [np.asarray(m.scores).argmax(axis=1) for m in models]
    title = f"Confusion matrices over {len(classes)} classes (prediction: the most probable class)\n(% of each actual class)"
    return _confusion_figure(y, models, predicted, [str(c) for c in classes], title, path)


def _confusion_figure(
    y: np.ndarray, models: Sequence[ModelScores], predicted: list[np.ndarray], names: list[str], title: str, path: Path
) -> Path:
    """One confusion-matrix panel per model; ``names`` label the classes (empty: binary 0/1)."""
    k = len(names) or 2
    side = max(4.6, 0.5 * k + 2.4)
    text_size = {"fontsize": 7 if k > 6 else 9} if names else {}
    fig, axes = _pyplot().subplots(1, len(models), figsize=(max(5.6, side * len(models)), side), squeeze=False)
    for ax, model, guess in zip(axes.flat, models, predicted, strict=True):
        counts = skm.confusion_matrix(y, guess, labels=list(range(k)))
        totals = counts.sum(axis=1, keepdims=True)
        share = np.divide(counts, totals, out=np.zeros(counts.shape), where=totals > 0)
        ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
        if k <= MAX_ANNOTATED_CLASSES:
            for (row, col), count in np.ndenumerate(counts):
                colour = "white" if share[row, col] > 0.5 else "black"
                ax.text(col, row, f"{count}\n{share[row, col]:.1%}", ha="center", va="center", color=colour, **text_size)
        ax.set(xticks=list(range(k)), yticks=list(range(k)), xlabel="predicted", ylabel="actual", title=model.label)
        if names:
            ax.set_xticklabels(names, rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center", fontsize=8)
            ax.set_yticklabels(names, fontsize=8)
    fig.suptitle(title, fontsize=11)
    return _save(fig, path)


def plot_class_metrics(y: np.ndarray, models: Sequence[ModelScores], classes: Sequence[str], path: Path) -> Path:
    """Multiclass: precision, recall and F1 of every class (the most probable class predicted), grouped
    bars of both models, one panel per measure, support under each class; saved as PNG."""
    k = len(classes)
    support = np.bincount(np.asarray(y, dtype=int), minlength=k)
    measures = {}
    for model in models:
        precision, recall, f1, _ = skm.precision_recall_fscore_support(
            y, np.asarray(model.scores).argmax(axis=1), labels=list(range(k)), zero_division=0
        )
        measures[model.role] = {"precision": precision, "recall": recall, "F1": f1}
    fig, axes = _pyplot().subplots(3, 1, figsize=(max(6.0, 0.45 * k * len(models) + 2.5), 8.5), sharex=True)
    x = np.arange(k)
    width = 0.8 / len(models)
    for ax, measure in zip(axes, ("precision", "recall", "F1"), strict=True):
        for i, model in enumerate(models):
            heights = measures[model.role][measure]
            ax.bar(x + (i - (len(models) - 1) / 2) * width, heights, width, color=model.color, label=model.label)
        ax.set(ylabel=measure, ylim=(0, 1.3), yticks=np.linspace(0, 1, 6), title=f"{measure} per class")
        ax.legend(loc="upper right", ncols=len(models), fontsize=8)
    axes[-1].set_xticks(x, [f"{c}\n(n={n})" for c, n in zip(classes, support, strict=True)], fontsize=8,
                        rotation=45 if k > 8 else 0)  # fmt: skip
    return _save(fig, path)


def scatter_rows(n: int, max_points: int = MAX_SCATTER_POINTS, seed: int = 0) -> np.ndarray:
    """The rows a scatter draws: all ``n``, or a seeded uniform sample of ``max_points`` of them, in order."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=max_points, replace=False))


def plot_predicted_vs_actual(
    y: np.ndarray, models: Sequence[ModelScores], path: Path, max_points: int = MAX_SCATTER_POINTS, seed: int = 0
) -> Path:
    """Regression: predicted against actual values, one panel per model on shared axes, the identity
    line dashed; at most ``max_points`` rows are drawn (a seeded sample, the same rows in each panel,
    said in the title); RMSE and MAE over every row in the panel titles. Saved as PNG."""
    y = np.asarray(y, dtype=float)
    rows = scatter_rows(len(y), max_points, seed)
    everything = np.concatenate([y, *(np.asarray(m.scores, dtype=float) for m in models)])
    low, high = float(np.min(everything)), float(np.max(everything))
    pad = (high - low) * 0.03 or 1.0
    fig, axes = _pyplot().subplots(1, len(models), figsize=(5.2 * len(models), 5), squeeze=False, sharex=True, sharey=True)
    for ax, model in zip(axes.flat, models, strict=True):
        predicted = np.asarray(model.scores, dtype=float)
        rmse, mae = float(np.sqrt(np.mean((predicted - y) ** 2))), float(np.mean(np.abs(predicted - y)))
        ax.scatter(y[rows], predicted[rows], s=6, alpha=0.35, color=model.color, linewidths=0)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], linestyle="--", color="grey", label="predicted = actual")
        ax.set(xlabel="actual", ylabel="predicted", title=f"{model.label}\nRMSE {rmse:.4g}, MAE {mae:.4g}")
        ax.set(xlim=(low - pad, high + pad), ylim=(low - pad, high + pad))
        ax.legend(loc="upper left", fontsize=8)
    drawn = f"a seeded sample of {len(rows)} of {len(y)} rows" if len(rows) < len(y) else f"all {len(y)} rows"
    fig.suptitle(f"Predicted vs actual ({drawn})", fontsize=11)
    return _save(fig, path)


def plot_residuals(y: np.ndarray, models: Sequence[ModelScores], path: Path, bins: int = 50) -> Path:
    """Regression: histograms of the residuals (predicted − actual) of every model overlaid on the same
    bins, zero marked, mean and standard deviation in the legend; saved as PNG."""
    y = np.asarray(y, dtype=float)
    residuals = {m.role: np.asarray(m.scores, dtype=float) - y for m in models}
    edges = np.histogram_bin_edges(np.concatenate(list(residuals.values())), bins=bins)
    fig, ax = _pyplot().subplots(figsize=(6.5, 4.5))
    for model in models:
        r = residuals[model.role]
        ax.hist(r, bins=edges, histtype="step", linewidth=1.5, color=model.color,
                label=f"{model.label} (mean {r.mean():+.4g}, sd {r.std():.4g})")  # fmt: skip
    ax.axvline(0, linestyle="--", color="grey")
    ax.set(xlabel="residual: predicted − actual", ylabel="rows", title=f"Residuals over {len(y)} rows")
    ax.legend(loc="upper right", fontsize=8)
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
        observed, predicted = calibration_curve(y, model.scores, n_bins=bins, strategy=strategy)
        brier = skm.brier_score_loss(y, model.scores)
        top.plot(predicted, observed, marker="o", color=model.color, label=f"{model.label} (Brier {brier:.3f})")
        bottom.hist(model.scores, bins=20, range=(0, 1), histtype="step", color=model.color, label=model.label)
    top.set(ylabel="observed positive rate", ylim=(0, 1.01), title=f"Calibration ({bins} {strategy} bins)")
    top.legend(loc="upper left")
    bottom.set(xlabel="predicted probability", ylabel="rows", xlim=(0, 1))
    return _save(fig, path)


def plot_slices(slices: pd.DataFrame, metric: str, path: Path) -> Path:
    """Grouped bars of ``metric`` per slice value and model, row counts under each value; saved as PNG.

    Args:
        slices: output of :func:`~champion_challenger.evaluation.comparison.table.slice_frame` (not empty).
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
    values = part[metric].to_numpy(dtype=float)
    top = np.nanmax(values, initial=0.0) or 1.0
    bottom = min(0.0, np.nanmin(values, initial=0.0) * 1.3)  # R² can be negative
    ax.set(ylabel=metric, title=f"{metric} by {column}{more}", ylim=(bottom, top * 1.3))
    ax.legend(loc="upper right", ncols=len(roles), fontsize=8)
