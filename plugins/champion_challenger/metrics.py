"""Metrics of every task, computed from labels and a model's scores on the same rows.

``scores`` are what a model outputs (:mod:`champion_challenger.task`): the positive-class probability
for binary, a ``(n, K)`` class-probability matrix for multiclass, the predicted value for regression.
Labels are 0/1, class indices into the same ``K`` columns, or values.
"""

from __future__ import annotations

import math
from typing import overload

import numpy as np
from sklearn import metrics as skm

from champion_challenger.task import TaskKind

EPS = 1e-7


def binary_metrics(y_true: np.ndarray, probability: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Metrics of one binary classifier on one set of labelled rows.

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
    probability = np.clip(np.asarray(probability, dtype=float), EPS, 1 - EPS)
    _check_lengths(y_true, probability)
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


def multiclass_metrics(y_true: np.ndarray, probabilities: np.ndarray) -> dict[str, float]:
    """Metrics of one multiclass classifier: ``accuracy``, ``macro_f1`` (over the classes present in
    labels or predictions), ``log_loss``, ``brier`` (summed over classes, 0..2) and ``n``.

    Args:
        y_true: class indices into the columns of ``probabilities``.
        probabilities: ``(n, K)`` class probabilities.
    """
    y_true = np.asarray(y_true, dtype=int)
    probabilities = _matrix(probabilities)
    _check_lengths(y_true, probabilities)
    return {
        "accuracy": float(1 - _row_loss("accuracy", y_true, probabilities, "multiclass").mean()),
        "macro_f1": _macro_f1(y_true, probabilities.argmax(axis=1), probabilities.shape[1]),
        "log_loss": float(_row_loss("log_loss", y_true, probabilities, "multiclass").mean()),
        "brier": float(_row_loss("brier", y_true, probabilities, "multiclass").mean()),
        "n": float(len(y_true)),
    }


def regression_metrics(y_true: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Metrics of one regressor: ``rmse``, ``mae``, ``r2`` (NaN when the labels are constant),
    ``smape`` (0..2, a row where label and prediction are both 0 counts 0) and ``n``."""
    y_true = np.asarray(y_true, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    _check_lengths(y_true, predicted)
    squared = (y_true - predicted) ** 2
    return {
        "rmse": float(math.sqrt(squared.mean())),
        "mae": float(np.abs(y_true - predicted).mean()),
        "r2": _r2(squared.mean(), y_true.var()),
        "smape": float(_row_loss("smape", y_true, predicted, "regression").mean()),
        "n": float(len(y_true)),
    }


def task_metrics(task: TaskKind, y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """Every metric of ``task`` (:func:`binary_metrics`, :func:`multiclass_metrics` or :func:`regression_metrics`)."""
    if task == "multiclass":
        return multiclass_metrics(y_true, scores)
    if task == "regression":
        return regression_metrics(y_true, scores)
    return binary_metrics(y_true, scores, threshold)


def class_recalls(y_true: np.ndarray, probabilities: np.ndarray) -> np.ndarray:
    """Each class's recall (share of its rows predicted as it), NaN for a class with no rows."""
    y_true = np.asarray(y_true, dtype=int)
    probabilities = _matrix(probabilities)
    k = probabilities.shape[1]
    support = np.bincount(y_true, minlength=k).astype(float)
    hits = np.bincount(y_true[probabilities.argmax(axis=1) == y_true], minlength=k).astype(float)
    return np.divide(hits, support, out=np.full(k, np.nan), where=support > 0)


def predicted_labels(task: TaskKind, scores: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """What each row is predicted as: 0/1 at ``threshold``, the argmax class index, or the value."""
    if task == "multiclass":
        return _matrix(scores).argmax(axis=1)
    if task == "regression":
        return np.asarray(scores, dtype=float)
    return (np.asarray(scores, dtype=float) >= threshold).astype(int)


def metric_value(metric: str, y_true: np.ndarray, scores: np.ndarray, threshold: float = 0.5, task: TaskKind = "binary") -> float:
    """One metric, computed alone (cheaper than :func:`task_metrics` inside a bootstrap)."""
    if task != "binary":
        loss = per_row_loss(metric, y_true, scores, task=task)
        if loss is not None:
            return float(1 - loss.mean()) if metric == "accuracy" else float(loss.mean())
        return task_metrics(task, y_true, scores)[metric]
    probability = np.clip(np.asarray(scores, dtype=float), EPS, 1 - EPS)
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


#: Per task, the metrics that are a mean over rows of a per-row loss (:func:`per_row_loss`); ``accuracy``
#: is 1 − the mean 0/1 error. ``absolute_error`` / ``squared_error`` are the online test's names.
ROW_LOSSES: dict[TaskKind, tuple[str, ...]] = {
    "binary": ("accuracy", "brier", "log_loss"),
    "multiclass": ("accuracy", "brier", "log_loss"),
    "regression": ("mae", "smape", "absolute_error", "squared_error"),
}


def per_row_loss(
    metric: str, y_true: np.ndarray, scores: np.ndarray, eps: float = EPS, task: TaskKind = "binary"
) -> np.ndarray | None:
    """Each row's loss for a mean-decomposable ``metric`` of ``task`` (:data:`ROW_LOSSES`), else None.

    Classifiers: ``accuracy`` is the 0/1 error (at 0.5, or the argmax), ``brier`` the squared error of
    the probabilities (summed over classes), ``log_loss`` −log of the true class's probability clipped to
    ``[eps, 1 - eps]``. Regression: ``mae``/``absolute_error`` |y − ŷ|, ``squared_error`` (y − ŷ)²,
    ``smape`` 2|y − ŷ| / (|y| + |ŷ|) (0 where both are 0).
    """
    if metric not in ROW_LOSSES[task]:
        return None
    if task == "regression":
        return _regression_row_loss(metric, np.asarray(y_true, dtype=float), np.asarray(scores, dtype=float))
    if task == "multiclass":
        return _multiclass_row_loss(metric, np.asarray(y_true, dtype=int), _matrix(scores), eps)
    y = np.asarray(y_true, dtype=float)
    p = np.asarray(scores, dtype=float)
    if metric == "accuracy":
        return ((p >= 0.5) != y).astype(float)
    if metric == "brier":
        return (p - y) ** 2
    p = np.clip(p, eps, 1 - eps)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _row_loss(metric: str, y_true: np.ndarray, scores: np.ndarray, task: TaskKind) -> np.ndarray:
    """:func:`per_row_loss` of a ``metric`` the caller knows is one of ``ROW_LOSSES[task]``."""
    loss = per_row_loss(metric, y_true, scores, task=task)
    assert loss is not None, f"{metric} is not a per-row loss of a {task} target"
    return loss


def _regression_row_loss(metric: str, y: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    error = y - predicted
    if metric in ("mae", "absolute_error"):
        return np.abs(error)
    if metric == "squared_error":
        return error**2
    scale = np.abs(y) + np.abs(predicted)
    return np.divide(2 * np.abs(error), scale, out=np.zeros_like(error), where=scale > 0)


def _multiclass_row_loss(metric: str, y: np.ndarray, probabilities: np.ndarray, eps: float) -> np.ndarray:
    rows = np.arange(len(y))
    if metric == "accuracy":
        return (probabilities.argmax(axis=1) != y).astype(float)
    if metric == "log_loss":
        return -np.log(np.clip(probabilities[rows, y], eps, 1 - eps))
    onehot = np.zeros_like(probabilities)
    onehot[rows, y] = 1.0
    return ((probabilities - onehot) ** 2).sum(axis=1)


def resampled_metric(task: TaskKind, metric: str, y_true: np.ndarray, scores: np.ndarray, idx: np.ndarray) -> np.ndarray | None:
    """``metric`` on each bootstrap resample of the rows, vectorised, or None when it has no vectorised
    form (the caller loops).

    Args:
        task: the task.
        metric: a metric of ``task``.
        y_true / scores: labels and one model's scores.
        idx: ``(B, n)`` row indices, one resample per row.

    Returns:
        ``(B,)`` metric values (NaN where undefined, e.g. R² on constant labels).
    """
    loss = per_row_loss(metric, y_true, scores, task=task)
    if loss is not None:
        mean = loss[idx].mean(axis=1)
        return 1 - mean if metric == "accuracy" else mean
    if task == "regression":
        squared = _row_loss("squared_error", y_true, scores, task)[idx].mean(axis=1)
        if metric == "rmse":
            return np.sqrt(squared)
        return _r2(squared, np.asarray(y_true, dtype=float)[idx].var(axis=1))
    if metric in ("macro_f1", "f1", "precision", "recall"):
        k = _matrix(scores).shape[1] if task == "multiclass" else 2
        counts = _resampled_confusion(np.asarray(y_true, dtype=int), predicted_labels(task, scores), k, idx)
        return _confusion_metric(metric, counts)
    if task == "binary" and metric in ("roc_auc", "ece"):
        y, probability = np.asarray(y_true, dtype=int), np.clip(np.asarray(scores, dtype=float), EPS, 1 - EPS)
        return _resampled_roc_auc(y, probability, idx) if metric == "roc_auc" else _resampled_ece(y, probability, idx)
    return None


def _resampled_counts(cell_of_row: np.ndarray, cells: int, idx: np.ndarray) -> np.ndarray:
    """``(B, cells)``: per resample, how many drawn rows fall in each cell."""
    drawn = (cell_of_row[idx] + (np.arange(len(idx)) * cells)[:, None]).ravel()
    return np.bincount(drawn, minlength=len(idx) * cells).reshape(len(idx), cells)


def _resampled_roc_auc(y: np.ndarray, probability: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """ROC AUC of each resample: the Mann–Whitney statistic over groups of tied scores (ties count half),
    the value ``roc_auc_score`` gives on the resampled rows; NaN without both classes."""
    values, group = np.unique(probability, return_inverse=True)
    counts = _resampled_counts(group * 2 + y, 2 * len(values), idx).reshape(len(idx), len(values), 2).astype(float)
    neg, pos = counts[:, :, 0], counts[:, :, 1]
    below = np.cumsum(neg, axis=1) - neg
    pairs = pos.sum(axis=1) * neg.sum(axis=1)
    wins = (pos * (below + 0.5 * neg)).sum(axis=1)
    return np.divide(wins, pairs, out=np.full(len(idx), np.nan), where=pairs > 0)


def _resampled_ece(y: np.ndarray, probability: np.ndarray, idx: np.ndarray, bins: int = 10) -> np.ndarray:
    """:func:`expected_calibration_error` of each resample."""
    which = np.minimum((probability * bins).astype(int), bins - 1)
    in_bin = np.zeros((len(y), bins))
    in_bin[np.arange(len(y)), which] = 1.0
    drawn = _resampled_counts(np.arange(len(y)), len(y), idx).astype(float)  # (B, n): times each row is drawn
    gaps = drawn @ (in_bin * y[:, None]) - drawn @ (in_bin * probability[:, None])
    return np.abs(gaps).sum(axis=1) / idx.shape[1]


def _resampled_confusion(y: np.ndarray, predicted: np.ndarray, k: int, idx: np.ndarray) -> np.ndarray:
    """``(B, k, k)`` confusion counts (actual × predicted) of each resample."""
    return _resampled_counts(y * k + predicted, k * k, idx).reshape(len(idx), k, k)


def _confusion_metric(metric: str, counts: np.ndarray) -> np.ndarray:
    """Binary f1/precision/recall of class 1, or macro F1 over classes present, from ``(B, k, k)`` counts."""
    tp = np.diagonal(counts, axis1=1, axis2=2).astype(float)
    actual, predicted = counts.sum(axis=2).astype(float), counts.sum(axis=1).astype(float)
    if metric == "precision":
        return np.divide(tp[:, 1], predicted[:, 1], out=np.zeros(len(tp)), where=predicted[:, 1] > 0)
    if metric == "recall":
        return np.divide(tp[:, 1], actual[:, 1], out=np.zeros(len(tp)), where=actual[:, 1] > 0)
    denominator = actual + predicted
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    if metric == "f1":
        return f1[:, 1]
    present = denominator > 0
    return (f1 * present).sum(axis=1) / np.maximum(present.sum(axis=1), 1)


def _macro_f1(y: np.ndarray, predicted: np.ndarray, k: int) -> float:
    counts = np.bincount(y * k + predicted, minlength=k * k).reshape(1, k, k)
    return float(_confusion_metric("macro_f1", counts)[0])


@overload
def _r2(mean_squared_error: float, label_variance: float) -> float: ...
@overload
def _r2(mean_squared_error: np.ndarray, label_variance: np.ndarray) -> np.ndarray: ...
def _r2(mean_squared_error: np.ndarray | float, label_variance: np.ndarray | float) -> np.ndarray | float:
    """1 − MSE / Var(y); NaN where the labels are constant. A float for one value, an array for ``(B,)`` resamples."""
    mse, var = np.asarray(mean_squared_error, dtype=float), np.asarray(label_variance, dtype=float)
    r2 = np.divide(mse, var, out=np.full(np.shape(mse), np.nan), where=var > 0)
    r2 = 1 - r2
    return float(r2) if r2.ndim == 0 else r2


def _matrix(probabilities: np.ndarray) -> np.ndarray:
    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.size == 0:  # no rows yet (an online window before its first labelled row)
        return np.zeros((len(probabilities), 1))
    return probabilities.reshape(len(probabilities), -1)


def _check_lengths(y: np.ndarray, scores: np.ndarray) -> None:
    if len(y) == 0 or len(y) != len(scores):
        raise ValueError(f"need equally long, non-empty labels and scores, got {len(y)} and {len(scores)}")
