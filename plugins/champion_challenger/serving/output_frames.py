"""A model's answers as one frame per task, the same for the Triton client and the MLflow pyfunc.

=============  ==================================================================
task           columns
=============  ==================================================================
binary         ``probability`` (positive class), ``prediction`` (0/1)
multiclass     ``prediction`` (the class), one ``probability_<class>`` per class
regression     ``prediction`` (the value)
=============  ==================================================================
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from champion_challenger.serving.triton_repository import PREDICTION_OUTPUT
from champion_challenger.task import TaskKind, align_probabilities

#: Frame column of one class's probability (multiclass): ``probability_<class>``.
PROBABILITY_PREFIX = "probability_"


def probability_column(cls: str) -> str:
    """Frame column of one class's probability."""
    return f"{PROBABILITY_PREFIX}{cls}"


def output_frame(task: TaskKind, scores: np.ndarray, predictions: np.ndarray, classes: Sequence[str] = ()) -> pd.DataFrame:
    """A model's answers as one frame: binary ``probability, prediction``; multiclass ``prediction`` and one
    ``probability_<class>`` per class (``scores`` columns in ``classes`` order); regression ``prediction``.

    Raises:
        ValueError: multiclass scores whose width is not ``len(classes)``.
    """
    if task == "binary":
        return pd.DataFrame(
            {"probability": np.asarray(scores).reshape(-1), PREDICTION_OUTPUT: np.asarray(predictions).reshape(-1)}
        )
    if task == "regression":
        return pd.DataFrame({PREDICTION_OUTPUT: np.asarray(predictions, dtype=float).reshape(-1)})
    scores = np.asarray(scores).reshape(len(predictions), len(classes))
    frame = pd.DataFrame({PREDICTION_OUTPUT: [str(p) for p in np.asarray(predictions, dtype=object).reshape(-1)]})
    for j, cls in enumerate(classes):
        frame[probability_column(cls)] = scores[:, j]
    return frame


def frame_scores(frame: pd.DataFrame, task: TaskKind, classes: Sequence[str] = ()) -> np.ndarray:
    """The task's scores from an :func:`output_frame`: ``probability``; the ``probability_<class>`` columns
    in ``classes`` order (0 for a class the frame lacks; empty = the frame's classes, sorted); or ``prediction``."""
    if task == "binary":
        return frame["probability"].to_numpy(dtype=float)
    if task == "regression":
        return frame[PREDICTION_OUTPUT].to_numpy(dtype=float)
    own = [c[len(PROBABILITY_PREFIX) :] for c in frame.columns if c.startswith(PROBABILITY_PREFIX)]
    order = list(classes) or sorted(own)
    if frame.empty:
        return np.empty((0, len(order)))
    return align_probabilities(frame[[probability_column(c) for c in own]].to_numpy(dtype=float), own, order)
