"""Evidence about one trained candidate: learning curves and permutation feature importance, per task.

Learning curves draw whatever Ludwig reports for the output feature (binary: ``roc_auc``, ``accuracy``,
…; category: ``accuracy``, ``hits_at_k``, …; number: ``mean_squared_error``, ``r2``, …). Permutation
importance is the worsening of the task's primary metric when one feature is shuffled, oriented so
that a positive value means the feature matters, whichever way the metric points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from champion_challenger.config.ludwig_schema import ModelSchema
from champion_challenger.metrics import metric_value
from champion_challenger.policy.direction import gain
from champion_challenger.task import TASK_DEFAULTS, encode_labels


def plot_learning_curves(epoch_metrics: dict[str, dict[str, list[float]]], path: Path) -> Path:
    """One panel per metric Ludwig reported for the output feature (any task), training and validation
    curves over epochs, losses and errors marked lower-is-better; saved as PNG.

    Args:
        epoch_metrics: ``{split: {metric: [value per epoch]}}`` (``TrainedModel.epoch_metrics``).
        path: where to save.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = sorted(set().union(*(series.keys() for series in epoch_metrics.values())))
    cols = min(3, len(names)) or 1
    rows = (len(names) + cols - 1) // cols or 1
    fig, axes = plt.subplots(rows, cols, figsize=(4.5 * cols, 3.2 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        for split, series in epoch_metrics.items():
            values = series.get(name, [])
            ax.plot(range(1, len(values) + 1), values, marker="o", label=split)
        ax.set_title(f"{name} (lower is better)" if _ludwig_lower_is_better(name) else name)
        ax.set_xlabel("epoch")
        ax.legend()
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _ludwig_lower_is_better(name: str) -> bool:
    """Whether a Ludwig metric name is a loss or an error (``loss``, ``mean_squared_error``, …)."""
    return "loss" in name or "error" in name


def permutation_importance(
    score: Callable[[pd.DataFrame], np.ndarray],
    frame: pd.DataFrame,
    schema: ModelSchema,
    seed: int = 0,
    classes: Sequence[str] = (),
    metric: str | None = None,
) -> dict[str, float]:
    """How much the task's primary metric worsens when each feature is shuffled (higher = more important).

    Args:
        score: the model's scorer: a DataFrame of features → the task's scores (binary positive-class
            probabilities, multiclass ``(n, K)`` probabilities in ``classes`` order, regression values).
        frame: labelled rows the model did not train on.
        schema: features, target and task (``schema.task``).
        seed: shuffling seed.
        classes: multiclass: the column order of ``score``'s probabilities (every label must be one of them).
        metric: the metric to judge by (a metric of the task, e.g. the pipeline's ``decision.primary_metric``);
            None: the task's default primary metric (roc_auc, macro_f1, rmse).

    Returns:
        Feature → baseline minus shuffled, oriented so a positive value means shuffling hurt (for a
        lower-is-better metric such as RMSE, the rise of the error); most important first.

    Raises:
        ValueError: a multiclass label is not one of ``classes``.
    """
    task = schema.task
    metric = metric or str(TASK_DEFAULTS[task]["primary_metric"])
    rng = np.random.default_rng(seed)
    y = encode_labels(task, frame[schema.target], classes)
    features = frame[schema.feature_names].reset_index(drop=True)
    baseline = metric_value(metric, y, score(features), task=task)
    importance = {}
    for name in schema.feature_names:
        shuffled = features.copy()
        shuffled[name] = rng.permutation(shuffled[name].to_numpy())
        importance[name] = float(gain(metric, baseline, metric_value(metric, y, score(shuffled), task=task)))
    return dict(sorted(importance.items(), key=lambda kv: kv[1], reverse=True))


def plot_importance(importance: dict[str, float], path: Path, metric: str = "roc_auc") -> Path:
    """Horizontal bar chart of permutation importance (of :func:`permutation_importance` by ``metric``), saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(importance)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(names) + 1.2))
    ax.barh(names, [importance[n] for n in names])
    ax.set_xlabel("ROC AUC drop when shuffled" if metric == "roc_auc" else f"{metric} worsening when shuffled")
    ax.set_title("Permutation feature importance")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
