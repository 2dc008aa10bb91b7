"""The models a comparison is about: each one's scores on the same paired rows, and the labels of those rows.

Scores follow :mod:`champion_challenger.task`: the positive-class probability (binary), a ``(n, K)``
class-probability matrix in the pipeline's class order (multiclass; a Parquet list column in
``paired_scores.parquet``) or the predicted value (regression).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from champion_challenger.task import TaskKind, encode_labels, stack_scores

#: Plot colour of each role, the same in every figure.
COLORS = {"champion": "tab:blue", "challenger": "tab:orange"}


@dataclass(frozen=True)
class ModelScores:
    """One model's scores on the paired rows.

    Attributes:
        role: ``champion`` or ``challenger``.
        version: registry version (None: a dry run's unregistered candidate).
        scores: the task's scores, one per paired row (``(n,)``, or ``(n, K)`` for multiclass).
    """

    role: str
    version: int | None
    scores: np.ndarray

    @property
    def label(self) -> str:
        return f"{self.role} v{self.version}" if self.version is not None else f"{self.role} (dry run, unregistered)"

    @property
    def color(self) -> str:
        return COLORS[self.role]


def paired_models(
    paired: pd.DataFrame,
    target: str,
    slice_columns: list[str],
    champion_version: int | None,
    challenger_version: int | None,
    task: TaskKind = "binary",
    classes: Sequence[str] = (),
) -> list[ModelScores]:
    """Check the paired frame and return the models it scores, champion first when there is one.

    Args:
        paired: ``paired_scores.parquet`` as a frame.
        target: label column.
        slice_columns: columns that must be present.
        champion_version / challenger_version: registry versions (None: no champion / a dry run).
        task: ``binary``, ``multiclass`` or ``regression``.
        classes: multiclass: the column order of the class-probability lists.

    Raises:
        ValueError: what is missing or inconsistent, by name.
    """
    has_champion = "champion" in paired.columns
    if has_champion != (champion_version is not None):
        raise ValueError(
            f"paired scores {'have' if has_champion else 'lack'} a 'champion' column but champion_version is "
            f"{champion_version}: pass the champion's version exactly when its scores are present"
        )
    roles = {"challenger": challenger_version}
    if has_champion:
        roles = {"champion": champion_version, **roles}
    missing = [c for c in (target, *roles, *slice_columns) if c not in paired.columns]
    if missing:
        raise ValueError(f"paired scores lack columns {missing}; found {list(paired.columns)}")
    if paired.empty:
        raise ValueError("paired scores are empty: there is nothing to compare")
    for column in (target, *roles):
        if gaps := int(paired[column].isna().sum()):
            raise ValueError(f"paired scores column {column!r} has {gaps} missing values; score every holdout row")
    return [
        ModelScores(role, None if version is None else int(version), _scores(paired[role], role, task, classes))
        for role, version in roles.items()
    ]


def paired_labels(paired: pd.DataFrame, target: str, task: TaskKind = "binary", classes: Sequence[str] = ()) -> np.ndarray:
    """The labels as the metrics read them (0/1, class indices into ``classes``, values).

    Raises:
        ValueError: a multiclass label is not one of ``classes``.
    """
    return encode_labels(task, paired[target], classes)


def _scores(column: pd.Series, role: str, task: TaskKind, classes: Sequence[str]) -> np.ndarray:
    try:
        scores = stack_scores(column, task)
    except ValueError as exc:  # ragged probability lists, or cells that are no numbers
        raise ValueError(f"paired scores column {role!r} cannot be read as {task} scores: {exc}") from exc
    if task != "multiclass":
        return scores
    if not classes:
        raise ValueError("a multiclass comparison needs the classes: the column order of the probability lists")
    if scores.ndim != 2 or scores.shape[1] != len(classes):
        raise ValueError(
            f"paired scores column {role!r} holds {scores.shape[-1] if scores.ndim == 2 else 'no'} class probabilities "
            f"per row, expected {len(classes)} (classes {list(classes)})"
        )
    return scores
