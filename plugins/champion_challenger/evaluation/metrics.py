"""Binary-classification metrics computed from labels and positive-class probabilities."""

from __future__ import annotations

import numpy as np
from sklearn import metrics as skm


def binary_metrics(y_true: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Metrics of one model on one set of labelled rows.

    Args:
        y_true: 0/1 labels.
        probability: positive-class probabilities, same length.
        threshold: probability at or above which the prediction is 1.

    Returns:
        ``accuracy``, ``roc_auc`` (NaN when only one class is present), ``f1``, ``precision``,
        ``recall``, ``log_loss``, ``brier``, ``ece`` (expected calibration error), ``positive_rate`` and ``n``.

    Raises:
        ValueError: empty input or lengths differ.
    """
    y_true = np.asarray(y_true, dtype=int)
    probability = np.clip(np.asarray(probability, dtype=float), 1e-7, 1 - 1e-7)
    if len(y_true) == 0 or len(y_true) != len(probability):
        raise ValueError(f"need equally long, non-empty labels and probabilities, got {len(y_true)} and {len(probability)}")
    predicted = (probability >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "accuracy": float(skm.accuracy_score(y_true, predicted)),
        "roc_auc": float(skm.roc_auc_score(y_true, probability)) if both_classes else float("nan"),
        "f1": float(skm.f1_score(y_true, predicted, zero_division=0)),
        "precision": float(skm.precision_score(y_true, predicted, zero_division=0)),
        "recall": float(skm.recall_score(y_true, predicted, zero_division=0)),
        "log_loss": float(skm.log_loss(y_true, probability, labels=[0, 1])),
        "brier": float(skm.brier_score_loss(y_true, probability)),
        "ece": expected_calibration_error(y_true, probability),
        "positive_rate": float(predicted.mean()),
        "n": float(len(y_true)),
    }


def metric_value(metric: str, y_true: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> float:
    """One metric, computed alone (cheaper than :func:`binary_metrics` inside a bootstrap)."""
    probability = np.clip(np.asarray(probability, dtype=float), 1e-7, 1 - 1e-7)
    predicted = (probability >= threshold).astype(int)
    if metric == "roc_auc":
        return float(skm.roc_auc_score(y_true, probability)) if len(np.unique(y_true)) == 2 else float("nan")
    if metric == "accuracy":
        return float((predicted == y_true).mean())
    if metric == "log_loss":
        return float(skm.log_loss(y_true, probability, labels=[0, 1]))
    if metric == "brier":
        return float(np.mean((probability - y_true) ** 2))
    if metric == "ece":
        return expected_calibration_error(y_true, probability)
    scorer = {"f1": skm.f1_score, "precision": skm.precision_score, "recall": skm.recall_score}[metric]
    return float(scorer(y_true, predicted, zero_division=0))


def expected_calibration_error(y_true: np.ndarray, probability: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error: the row-weighted mean |observed rate - mean probability| over
    ``bins`` equal-width probability bins (0 = perfectly calibrated)."""
    y_true = np.asarray(y_true, dtype=float)
    probability = np.asarray(probability, dtype=float)
    which = np.minimum((probability * bins).astype(int), bins - 1)
    counts = np.bincount(which, minlength=bins)
    gaps = np.abs(np.bincount(which, weights=y_true, minlength=bins) - np.bincount(which, weights=probability, minlength=bins))
    return float(gaps.sum() / max(counts.sum(), 1))


#: Metrics that are a mean over rows of a per-row loss (:func:`per_row_loss`).
ROW_LOSSES = ("accuracy", "brier", "log_loss")


def per_row_loss(metric: str, y_true: np.ndarray, probability: np.ndarray, eps: float = 1e-7) -> np.ndarray | None:
    """Each row's loss for a mean-decomposable ``metric`` (``accuracy``: the 0/1 error at 0.5), else None.

    Args:
        metric: ``accuracy``, ``brier`` or ``log_loss`` (others return None).
        y_true: 0/1 labels.
        probability: positive-class probabilities.
        eps: log loss clips probabilities to ``[eps, 1 - eps]``.
    """
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(probability, dtype=float)
    if metric == "accuracy":
        return ((p >= 0.5) != y).astype(float)
    if metric == "brier":
        return (p - y) ** 2
    if metric == "log_loss":
        p = np.clip(p, eps, 1 - eps)
        return -(y * np.log(p) + (1 - y) * np.log(1 - p))
    return None
