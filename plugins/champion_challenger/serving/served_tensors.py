"""A served version's request columns and answer arrays, as the Triton models take and give them.

Both Triton Python-backend models use this: the versions model (``triton_backend/model.py``) for every
version it serves, and the router (``triton_backend/router.py``) when it scores an exported champion in its
own process (:class:`InProcessVersion`). Plain NumPy (Triton's tensors go in and out as arrays), so it is
tested without Triton; imports neither torch nor Ludwig.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from champion_challenger.serving.onnx_scoring import ONNX_FILE, GraphAnswer, OnnxScorer
from champion_challenger.serving.triton_repository import SPEC_FILE
from champion_challenger.task import align_probabilities


def request_columns(features: Sequence[Mapping[str, Any]], read: Callable[[str], np.ndarray]) -> dict[str, np.ndarray]:
    """Feature name → values of one request (numbers as float64, text decoded from UTF-8).

    Args:
        features: ``serving_spec.json``'s ``features`` (name, numeric).
        read: the request's input array of a feature (raises when the request lacks it).
    """
    columns = {}
    for feature in features:
        values = np.asarray(read(feature["name"])).reshape(-1)
        if feature["numeric"]:
            columns[feature["name"]] = values.astype(np.float64)
        else:
            columns[feature["name"]] = np.array(
                [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values], dtype=object
            )
    return columns


class AnswerArrays:
    """Turns a version's :class:`~.onnx_scoring.GraphAnswer` into the output arrays of its task.

    Args:
        task: ``binary``, ``multiclass`` or ``regression``.
        own_classes: the version's classes, sorted (the answer's probability columns; multiclass only).
    """

    def __init__(self, task: str, own_classes: Sequence[str] = ()) -> None:
        self.task = task
        self.own_classes = tuple(own_classes)
        self._encoded: dict[Any, bytes] = {}

    def arrays(self, answer: GraphAnswer, rows: slice, order: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """Output name → array ``[n, width]`` of ``rows`` of ``answer``: binary ``probability`` (FP32) and
        ``prediction`` (INT32); regression ``prediction`` (FP32); multiclass ``probabilities`` (FP32, in
        ``order``; a class this version does not know gets 0) and ``prediction`` (UTF-8 bytes)."""
        scores, labels = answer.scores[rows], answer.predictions[rows]
        if self.task == "binary":
            return {
                "probability": scores.astype(np.float32).reshape(-1, 1),
                "prediction": labels.astype(np.int32).reshape(-1, 1),
            }
        if self.task == "regression":
            return {"prediction": scores.astype(np.float32).reshape(-1, 1)}
        order = tuple(order) or self.own_classes
        probabilities = scores if order == self.own_classes else align_probabilities(scores, self.own_classes, order)
        return {
            "probabilities": np.ascontiguousarray(probabilities, dtype=np.float32),
            "prediction": np.array([self._encode(label) for label in labels], dtype=object).reshape(-1, 1),
        }

    def _encode(self, label: Any) -> bytes:
        if label not in self._encoded:
            self._encoded[label] = str(label).encode("utf-8")
        return self._encoded[label]


def read_spec(version_dir: str | Path) -> dict:
    """A version folder's ``serving_spec.json``."""
    with open(os.path.join(version_dir, SPEC_FILE), encoding="utf-8") as fh:
        return json.load(fh)


class InProcessVersion:
    """An exported version scored in the caller's process: its graph on ONNX Runtime, its spec's features,
    the task's output arrays. Built by :meth:`load`, which answers None for a version that is not exported."""

    def __init__(self, version_dir: str | Path, spec: Mapping[str, Any]) -> None:
        self.features = list(spec["features"])
        self.task = spec.get("task", "binary")
        self.scorer = OnnxScorer(os.path.join(version_dir, ONNX_FILE), self.features)
        self.answers = AnswerArrays(self.task, spec.get("classes", []))

    @classmethod
    def load(cls, version_dir: str | Path) -> InProcessVersion | None:
        """The version in ``version_dir`` when it was exported (``format: onnx``), else None."""
        spec = read_spec(version_dir)
        return cls(version_dir, spec) if spec.get("format") == "onnx" else None

    def outputs(self, read: Callable[[str], np.ndarray], order: Sequence[str] = ()) -> dict[str, np.ndarray]:
        """The task's output arrays for the rows of one request (``read``: its input array by name)."""
        answer = self.scorer.task_outputs(self.task, request_columns(self.features, read))
        return self.answers.arrays(answer, slice(None), order)


#: ``0`` keeps the router from scoring exported versions (champion and challenger) in its own process (every
#: request then goes to the versions model over BLS).
IN_PROCESS_ENV = "CCP_ROUTER_CHAMPION_IN_PROCESS"
#: A versions model served by Triton's native ONNX Runtime backend says so in its config.
NATIVE_ONNX_PLATFORM = 'platform: "onnxruntime_onnx"'


def load_in_process(versions_dir: str | Path, version: int) -> InProcessVersion | None:
    """``version`` of the versions model in ``versions_dir``, to be scored in the router's process; None when
    it is not exported, when Triton serves the versions natively (``onnxruntime`` backend: a native hop
    costs little and runs on the GPU), or when ``$CCP_ROUTER_CHAMPION_IN_PROCESS`` is ``0``."""
    if os.environ.get(IN_PROCESS_ENV, "1") == "0":
        return None
    config = Path(versions_dir) / "config.pbtxt"
    if config.exists() and NATIVE_ONNX_PLATFORM in config.read_text(encoding="utf-8"):
        return None
    return InProcessVersion.load(Path(versions_dir) / str(int(version)))
