"""Score an exported graph (:mod:`.onnx_export`) with ONNX Runtime: no torch, no Ludwig, no pandas.

This is what the Triton Python-backend model runs for an exported version (the embedded default's
Triton has only the Python backend), and what the export's parity check runs, so the check covers the
code that serves. Imports only NumPy and ``onnxruntime``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ONNX_FILE = "model.onnx"
EXPORT_FILE = "export.json"
#: Parity tolerance of every served score against ``LudwigModel.predict`` (absolute and relative).
PARITY_TOLERANCE = 1e-5
#: Threads ONNX Runtime uses per loaded version (one Triton instance each; Triton batches requests).
THREADS_ENV = "CCP_TRITON_ONNX_THREADS"


@dataclass(frozen=True)
class ServingExport:
    """The outcome of :func:`export_serving` (``export.json`` beside the graph).

    Attributes:
        format: ``onnx`` (the graph passed the parity check) or ``ludwig`` (served by the Ludwig path).
        reason: why the Ludwig path (None for ``onnx``).
        max_abs_diff: largest absolute difference of a score against ``LudwigModel.predict`` (None when
            the graph was not built).
        parity_rows: rows the check compared.
        seconds: time the export and the check took.
    """

    format: str
    reason: str | None = None
    max_abs_diff: float | None = None
    parity_rows: int = 0
    seconds: float = 0.0

    @classmethod
    def read(cls, folder: Path) -> ServingExport | None:
        """The export recorded in ``folder``; None when it has none (a model logged before exports)."""
        path = folder / EXPORT_FILE
        return cls(**json.loads(path.read_text())) if path.exists() else None


@dataclass(frozen=True)
class GraphAnswer:
    """The graph's answer on ``n`` rows, as :class:`~.prediction_outputs.TaskPrediction`: ``scores``
    (multiclass: the model's own classes, sorted) and ``predictions`` (0/1, class names, or the values)."""

    scores: np.ndarray
    predictions: np.ndarray


class OnnxScorer:
    """One ONNX Runtime session over an exported graph.

    Args:
        path: the ``model.onnx`` file.
        features: ``serving_spec.json``'s ``features`` (name, numeric), in any order.
        threads: intra-op threads (default ``$CCP_TRITON_ONNX_THREADS`` or 1).
        providers: ONNX Runtime execution providers; default CUDA where this build has it, then CPU.
    """

    def __init__(
        self,
        path: str | Path,
        features: Sequence[Mapping[str, Any]],
        threads: int | None = None,
        providers: Sequence[str] | None = None,
    ) -> None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get(THREADS_ENV, "1"))
        options.inter_op_num_threads = 1
        available = ort.get_available_providers()
        chosen = list(providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available])
        self.session = ort.InferenceSession(str(path), options, providers=chosen)
        numeric = {f["name"]: bool(f["numeric"]) for f in features}
        self.inputs = [(i.name, numeric.get(i.name, i.type != "tensor(string)")) for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, columns: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Every output of the graph (``[n, 1]``; multiclass probabilities ``[n, K]``) for the rows of
        ``columns`` (feature name → 1-D values; numbers as floats, NaN missing; text as ``str`` or UTF-8
        ``bytes``, ``""`` missing). Extra columns are ignored.

        Raises:
            KeyError: a feature the graph needs is absent (names it).
        """
        missing = [name for name, _ in self.inputs if name not in columns]
        if missing:
            raise KeyError(f"missing input feature(s) {missing}; the model needs {[n for n, _ in self.inputs]}")
        feeds = {name: _numbers(columns[name]) if numeric else _strings(columns[name]) for name, numeric in self.inputs}
        return dict(zip(self.output_names, self.session.run(self.output_names, feeds), strict=True))

    def task_outputs(self, task: str, columns: Mapping[str, Any]) -> GraphAnswer:
        """The task's scores and labels (see :class:`GraphAnswer`)."""
        out = self.run(columns)
        if task == "binary":
            return GraphAnswer(out["probability"].reshape(-1), out["prediction"].reshape(-1))
        if task == "multiclass":
            return GraphAnswer(out["probabilities"], out["prediction"].reshape(-1))
        values = out["prediction"].reshape(-1)
        return GraphAnswer(values, values)


def _numbers(values: Any) -> np.ndarray:
    array = np.asarray(values).reshape(-1)
    try:
        return array.astype(np.float32).reshape(-1, 1)
    except (TypeError, ValueError):  # text or None among numbers: unparsable → NaN (filled in the graph)
        return np.array([_float(v) for v in array], dtype=np.float32).reshape(-1, 1)


def _float(value: Any) -> float:
    try:
        return float(value.decode() if isinstance(value, bytes) else value)
    except (TypeError, ValueError, AttributeError):
        return float("nan")


def _strings(values: Any) -> np.ndarray:
    """Text as ``str`` stripped (Ludwig strips category values); None / NaN → ``""`` (missing)."""
    out = []
    for v in np.asarray(values, dtype=object).reshape(-1):
        if isinstance(v, bytes):
            out.append(v.decode("utf-8").strip())
        elif v is None or (isinstance(v, float) and v != v):
            out.append("")
        else:
            out.append(str(v).strip())
    return np.array(out, dtype=object).reshape(-1, 1)
