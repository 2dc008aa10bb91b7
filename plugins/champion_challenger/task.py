"""The learning task of a pipeline, read from the Ludwig output feature, and what fits each task.

Ludwig trains a binary classifier, a multiclass classifier and a regressor from the same YAML; only
the output feature's type differs. The pipeline follows it:

=============  ==========================  ================================================
Ludwig type    task                        a model's output on ``n`` rows (``scores``)
=============  ==========================  ================================================
``binary``     ``binary``                  positive-class probability, shape ``(n,)``
``category``   ``multiclass``              class probabilities, shape ``(n, K)``, columns in
                                           the order of the pipeline's ``classes``
``number``     ``regression``              predicted value, shape ``(n,)``
=============  ==========================  ================================================

Labels (``y``) are 0/1 for binary, the class's index into ``classes`` for multiclass and the value
for regression. This module names the metrics each task supports and the defaults the pipeline config
falls back to when it names none, so a regression pipeline needs no metric settings at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

TaskKind = Literal["binary", "multiclass", "regression"]
TASKS: tuple[TaskKind, ...] = ("binary", "multiclass", "regression")

#: Ludwig output feature type → task.
OUTPUT_TYPE_TASK: Mapping[str, TaskKind] = {"binary": "binary", "category": "multiclass", "number": "regression"}

#: Metrics of each task: the primary metric, the selection metric, a guardrail and the watch's label metric
#: may name any of them. ``ece`` is the expected calibration error; ``smape`` the symmetric mean absolute
#: percentage error (0..2, defined where the label is 0); ``macro_f1`` the unweighted mean of per-class F1.
TASK_METRICS: Mapping[TaskKind, tuple[str, ...]] = {
    "binary": ("accuracy", "roc_auc", "f1", "precision", "recall", "log_loss", "brier", "ece"),
    "multiclass": ("accuracy", "macro_f1", "log_loss", "brier"),
    "regression": ("rmse", "mae", "r2", "smape"),
}
#: Guardrails that are not a single number: ``class_recall`` checks every class's recall on its own.
GUARDRAIL_ONLY_METRICS: Mapping[TaskKind, tuple[str, ...]] = {"binary": (), "multiclass": ("class_recall",), "regression": ()}
#: Per-row losses the always-valid online test can judge (their paired difference is bounded).
ONLINE_LOSSES: Mapping[TaskKind, tuple[str, ...]] = {
    "binary": ("brier", "log_loss", "accuracy"),
    "multiclass": ("brier", "log_loss", "accuracy"),
    "regression": ("absolute_error", "squared_error"),
}
#: Every metric name any task knows (the config's type check; the task check comes after).
ALL_METRICS: tuple[str, ...] = tuple(
    dict.fromkeys(m for kind in TASKS for m in (*TASK_METRICS[kind], *GUARDRAIL_ONLY_METRICS[kind]))
)
ALL_ONLINE_LOSSES: tuple[str, ...] = tuple(dict.fromkeys(loss for kind in TASKS for loss in ONLINE_LOSSES[kind]))

#: What a pipeline config that names no metric gets, per task.
TASK_DEFAULTS: Mapping[TaskKind, Mapping[str, Any]] = {
    "binary": {"primary_metric": "roc_auc", "guardrails": {"log_loss": 0.02}, "online_loss": "brier"},
    "multiclass": {"primary_metric": "macro_f1", "guardrails": {"log_loss": 0.02, "class_recall": 0.05}, "online_loss": "brier"},
    "regression": {"primary_metric": "rmse", "guardrails": {"smape": 0.02}, "online_loss": "absolute_error"},
}


def task_of_output(output_type: str) -> TaskKind | None:
    """The task a Ludwig output feature type trains, or None when the pipeline does not support it."""
    return OUTPUT_TYPE_TASK.get(output_type)


def metrics_for(task: TaskKind, guardrail: bool = False) -> tuple[str, ...]:
    """Metrics valid for ``task`` (with ``guardrail``, also the guardrail-only ones)."""
    return (*TASK_METRICS[task], *(GUARDRAIL_ONLY_METRICS[task] if guardrail else ()))


def encode_labels(task: TaskKind, values: Sequence[Any] | np.ndarray, classes: Sequence[str] = ()) -> np.ndarray:
    """Labels as the metrics read them: 0/1 ints, class indices into ``classes``, or floats.

    Binary labels must already be 0/1 (accepted batches are typed so); multiclass labels are matched
    as text, and a label outside ``classes`` raises.

    Raises:
        ValueError: a multiclass label is not one of ``classes``.
    """
    if task == "binary":
        return np.asarray(values, dtype=int)
    if task == "regression":
        return np.asarray(values, dtype=float)
    index = {str(c): i for i, c in enumerate(classes)}
    text = [str(v) for v in np.asarray(values, dtype=object).reshape(-1)]
    unknown = sorted({t for t in text if t not in index})
    if unknown:
        raise ValueError(f"labels {unknown[:5]} are not among the known classes {list(classes)}")
    return np.fromiter((index[t] for t in text), dtype=int, count=len(text))


def align_probabilities(probabilities: np.ndarray, from_classes: Sequence[str], to_classes: Sequence[str]) -> np.ndarray:
    """Reorder class-probability columns from one class order to another (a class the model does not
    know gets probability 0; rows are not renormalised).

    Args:
        probabilities: ``(n, len(from_classes))``.
        from_classes: the column order of ``probabilities``.
        to_classes: the wanted column order.
    """
    probabilities = np.asarray(probabilities, dtype=float).reshape(len(probabilities), len(from_classes))
    if list(from_classes) == list(to_classes):
        return probabilities
    where = {str(c): i for i, c in enumerate(from_classes)}
    out = np.zeros((len(probabilities), len(to_classes)))
    for j, cls in enumerate(to_classes):
        if str(cls) in where:
            out[:, j] = probabilities[:, where[str(cls)]]
    return out


def stack_scores(column: Sequence[Any] | np.ndarray, task: TaskKind) -> np.ndarray:
    """A score column read back from Parquet as an array: ``(n,)`` floats, or ``(n, K)`` for multiclass
    (each cell a list of class probabilities)."""
    if task != "multiclass":
        return np.asarray(column, dtype=float)
    values = list(column)
    return np.stack([np.asarray(v, dtype=float) for v in values]) if values else np.empty((0, 0))


def score_cells(scores: np.ndarray) -> list[Any] | np.ndarray:
    """A score array as a column for a DataFrame/Parquet: multiclass rows become lists, others stay."""
    scores = np.asarray(scores)
    return [row.tolist() for row in scores] if scores.ndim == 2 else scores
