"""A Ludwig model's answer per task: the output side of the fast path and of ``LudwigModel.predict``.

Each output feature type follows Ludwig's postprocessing (``postprocess_predictions``):

* binary: the positive-class probability; the label is ``probability >= threshold``.
* category: the class probabilities, reordered by class *name* to a requested class order (default:
  the model's own classes, sorted); the label is ``idx2str`` of the module's predicted index.
* number: the module's prediction (``clip`` already applied, in the normalized space), then the
  inverse of the output feature's normalization, computed in float64 as ``LudwigModel.predict`` does.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from champion_challenger.task import TaskKind, align_probabilities

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class TaskPrediction:
    """A model's answer on ``n`` rows.

    Attributes:
        scores: the task's scores: positive-class probability ``(n,)`` float32 (binary), class
            probabilities ``(n, K)`` float32 in the requested class order (multiclass), predicted
            value ``(n,)`` float64 (regression).
        predictions: the label: 0/1 int32 (binary), the class name (object array of ``str``,
            multiclass), the predicted value (regression, the same array as ``scores``).
    """

    scores: np.ndarray
    predictions: np.ndarray


class _BinaryOutput:
    """Positive-class probability; the label is ``probability >= threshold``."""

    task: TaskKind = "binary"

    def __init__(self, feature: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        self.threshold = float(feature.get("threshold", 0.5))
        self.classes: tuple[str, ...] = ()

    def __call__(self, out: Mapping[str, torch.Tensor], classes: Sequence[str] | None) -> TaskPrediction:
        p = out["probabilities"].reshape(-1).float().cpu().numpy()
        return TaskPrediction(p, (p >= self.threshold).astype(np.int32))

    def empty(self, classes: Sequence[str] | None) -> TaskPrediction:
        return TaskPrediction(np.empty(0, np.float32), np.empty(0, np.int32))


class _CategoryOutput:
    """Class probabilities reordered by name; the label is ``idx2str`` of the predicted index."""

    task: TaskKind = "multiclass"

    def __init__(self, feature: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        self.vocabulary = tuple(str(c) for c in metadata["idx2str"])  # the module's column order
        self.classes = tuple(sorted(self.vocabulary))
        self._labels = np.asarray(self.vocabulary, dtype=object)

    def __call__(self, out: Mapping[str, torch.Tensor], classes: Sequence[str] | None) -> TaskPrediction:
        probabilities = out["probabilities"].float().cpu().numpy()
        scores = align_probabilities(probabilities, self.vocabulary, self.classes if classes is None else classes)
        labels = self._labels[out["predictions"].reshape(-1).cpu().numpy()]
        return TaskPrediction(scores.astype(np.float32), labels)

    def empty(self, classes: Sequence[str] | None) -> TaskPrediction:
        width = len(self.classes if classes is None else classes)
        return TaskPrediction(np.empty((0, width), np.float32), np.empty(0, dtype=object))


class _NumberOutput:
    """The module's (clipped, normalized) prediction mapped back by the inverse normalization.

    ``LudwigModel.predict`` applies the inverse value by value on Python floats; doing it on the
    float32 predictions cast to float64 gives the same numbers.
    """

    task: TaskKind = "regression"

    def __init__(self, feature: Mapping[str, Any], metadata: Mapping[str, Any]) -> None:
        from ludwig.features.number_feature import get_transformer

        preprocessing = metadata.get("preprocessing") or feature.get("preprocessing") or {}
        self.transformer = get_transformer({**metadata, "name": feature["name"]}, preprocessing)
        self.classes: tuple[str, ...] = ()

    def __call__(self, out: Mapping[str, torch.Tensor], classes: Sequence[str] | None) -> TaskPrediction:
        normalized = out["predictions"].reshape(-1).float().cpu().numpy().astype(np.float64)
        values = np.asarray(self.transformer.inverse_transform(normalized), dtype=np.float64)
        return TaskPrediction(values, values)

    def empty(self, classes: Sequence[str] | None) -> TaskPrediction:
        return TaskPrediction(np.empty(0, np.float64), np.empty(0, np.float64))


OUTPUTS: dict[str, Callable[[Mapping[str, Any], Mapping[str, Any]], Any]] = {
    "binary": _BinaryOutput,
    "category": _CategoryOutput,
    "number": _NumberOutput,
}


def ludwig_prediction(
    scored: pd.DataFrame, target: str, task: TaskKind, threshold: float = 0.5, classes: Sequence[str] = ()
) -> TaskPrediction:
    """The task's scores and labels from ``LudwigModel.predict`` output (the slow path's answer).

    Args:
        scored: ``LudwigModel.predict(...)[0]`` as a DataFrame.
        target: the output feature name.
        task: the model's task.
        threshold: binary decision threshold.
        classes: multiclass column order (a class the model lacks gets 0); empty = the model's own
            classes, sorted.
    """
    if task == "regression":
        values = scored[f"{target}_predictions"].to_numpy(dtype=np.float64)
        return TaskPrediction(values, values)
    if task == "binary":
        column = scored[f"{target}_probabilities"].to_numpy()
        p = np.stack(column)[:, 1].astype(float) if len(column) else np.empty(0)
        return TaskPrediction(p, (p >= threshold).astype(np.int32))
    prefix = f"{target}_probabilities_"
    own = [c[len(prefix) :] for c in scored.columns if c.startswith(prefix)]
    order = list(classes) or sorted(own)
    probabilities = scored[[prefix + c for c in own]].to_numpy(dtype=float)
    scores = align_probabilities(probabilities, own, order) if len(scored) else np.empty((0, len(order)))
    labels = np.asarray([str(v) for v in scored[f"{target}_predictions"]], dtype=object)
    return TaskPrediction(scores, labels)


def ludwig_scores(scored: pd.DataFrame, target: str, task: TaskKind, classes: Sequence[str] = ()) -> np.ndarray:
    """The task's scores from ``LudwigModel.predict`` output: positive-class probability (binary), class
    probabilities from the ``<target>_probabilities_<class>`` columns in ``classes`` order (multiclass;
    0 for a class the model lacks; empty = its own classes, sorted) or the predicted value (regression)."""
    return ludwig_prediction(scored, target, task, classes=classes).scores
