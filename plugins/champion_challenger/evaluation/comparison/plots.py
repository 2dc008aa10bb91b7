"""The comparison's figures, saved as PNG: overlaid ROC and precision–recall curves, confusion
matrices side by side, a reliability diagram and per-slice bars. Drawn with matplotlib's Agg
backend (no display needed); on the first cycle each figure shows the challenger alone.
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
    top = np.nanmax(part[metric].to_numpy(dtype=float), initial=0.0) or 1.0
    ax.set(ylabel=metric, title=f"{metric} by {column}{more}", ylim=(0, top * 1.3))
    ax.legend(loc="upper right", ncols=len(roles), fontsize=8)
