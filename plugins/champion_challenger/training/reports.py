"""Evidence about one trained candidate: learning curves and permutation feature importance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from champion_challenger.evaluation.metrics import binary_metrics
from champion_challenger.ludwig_schema import ModelSchema


def plot_learning_curves(epoch_metrics: dict[str, dict[str, list[float]]], path: Path) -> Path:
    """One panel per metric, training and validation curves over epochs, saved as PNG."""
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
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.legend()
    for ax in list(axes.flat)[len(names) :]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def permutation_importance(predict_proba, frame: pd.DataFrame, schema: ModelSchema, seed: int = 0) -> dict[str, float]:
    """Drop in ROC AUC when each feature is shuffled (higher = more important).

    Args:
        predict_proba: callable scoring a DataFrame of features into positive-class probabilities.
        frame: labelled rows the model did not train on.
        schema: features and target.
        seed: shuffling seed.
    """
    rng = np.random.default_rng(seed)
    y = frame[schema.target].to_numpy()
    features = frame[schema.feature_names].reset_index(drop=True)
    baseline = binary_metrics(y, predict_proba(features))["roc_auc"]
    importance = {}
    for name in schema.feature_names:
        shuffled = features.copy()
        shuffled[name] = rng.permutation(shuffled[name].to_numpy())
        importance[name] = float(baseline - binary_metrics(y, predict_proba(shuffled))["roc_auc"])
    return dict(sorted(importance.items(), key=lambda kv: kv[1], reverse=True))


def plot_importance(importance: dict[str, float], path: Path) -> Path:
    """Horizontal bar chart of permutation importance, saved as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(importance)[::-1]
    fig, ax = plt.subplots(figsize=(6, 0.4 * len(names) + 1.2))
    ax.barh(names, [importance[n] for n in names])
    ax.set_xlabel("ROC AUC drop when shuffled")
    ax.set_title("Permutation feature importance")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
