"""Triton Python-backend model serving one Ludwig model version.

Copied into ``<repository>/<model>/<version>/model.py`` next to ``ludwig_model/`` and
``serving_spec.json`` by :mod:`champion_challenger.serving.triton_repository`.

Inputs: one tensor per Ludwig input feature (``TYPE_FP32`` for numbers, ``TYPE_STRING`` otherwise),
shape ``[batch, 1]``. Outputs: ``probability`` (positive class, FP32) and ``prediction`` (INT32 0/1).
All requests of one ``execute`` call are scored in a single call of the fast tensor path
(:class:`~champion_challenger.serving.fast_predictor.TensorPredictor`, same probabilities as
``LudwigModel.predict`` without its ~40 ms DataFrame pipeline); models it does not cover fall back
to ``LudwigModel.predict``.
"""

import locale
import os
import sys

# The stub's embedded interpreter starts in the ASCII locale; Ludwig reads UTF-8 files on import.
locale.setlocale(locale.LC_ALL, "C.UTF-8")
# It also ignores PYTHONPATH: the server passes the serving environment's packages here.
for _path in reversed(os.environ.get("CCP_TRITON_PYTHONPATH", "").split(":")):
    if _path and _path not in sys.path:
        sys.path.insert(1, _path)

import json  # noqa: E402

import numpy as np  # noqa: E402
import triton_python_backend_utils as pb_utils  # noqa: E402


class TritonPythonModel:
    """Scores rows with the fast tensor path, or ``LudwigModel.predict`` where it does not apply."""

    def initialize(self, args):
        import logging

        import torch
        from ludwig.api import LudwigModel

        torch.set_num_threads(int(os.environ.get("CCP_TRITON_TORCH_THREADS", "1")))
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        with open(os.path.join(version_dir, "serving_spec.json"), encoding="utf-8") as fh:
            self.spec = json.load(fh)
        self.model = LudwigModel.load(os.path.join(version_dir, "ludwig_model"), backend="local", logging_level=logging.ERROR)
        from champion_challenger.serving.fast_predictor import TensorPredictor, UnsupportedModelError

        try:
            self.fast = TensorPredictor.from_model(self.model)
        except UnsupportedModelError as exc:
            pb_utils.Logger.log_warn(f"{args['model_name']} v{args['model_version']}: LudwigModel.predict path ({exc})")
            self.fast = None
        # Triton counts an error response as a successful request; count invalid ones ourselves.
        # The family must outlive its metric, so both are kept on the model.
        self.invalid_family = pb_utils.MetricFamily(
            name="ccp_invalid_requests_total",
            description="Requests answered with an error by the model (malformed inputs)",
            kind=pb_utils.MetricFamily.COUNTER,
        )
        self.invalid_requests = self.invalid_family.Metric(labels={"model": args["model_name"], "version": args["model_version"]})

    def execute(self, requests):
        parsed, errors = [], []
        for request in requests:  # a malformed request fails alone, not the whole dynamic batch
            try:
                parsed.append(self._columns(request))
                errors.append(None)
            except Exception as exc:  # noqa: BLE001 - reported to that request's client
                parsed.append(None)
                errors.append(pb_utils.TritonError(f"invalid request: {type(exc).__name__}: {exc}"))
                self.invalid_requests.increment(1)
        good = [c for c in parsed if c is not None]
        probs = self._score(_concat(good)) if good else np.empty(0, dtype=np.float32)
        responses, start = [], 0
        for columns, error in zip(parsed, errors, strict=True):
            if error is not None:
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
                continue
            rows = len(next(iter(columns.values())))
            p = probs[start : start + rows].reshape(-1, 1)
            start += rows
            responses.append(
                pb_utils.InferenceResponse(
                    output_tensors=[
                        pb_utils.Tensor("probability", p),
                        pb_utils.Tensor("prediction", (p >= self.spec["threshold"]).astype(np.int32)),
                    ]
                )
            )
        return responses

    def _score(self, columns):
        if self.fast is not None:
            return self.fast.predict_proba(columns)
        import pandas as pd

        scored = self.model.predict(pd.DataFrame(columns), return_type=pd.DataFrame)[0]
        return np.stack(scored[self.spec["target"] + "_probabilities"].to_numpy())[:, 1].astype(np.float32)

    def _columns(self, request):
        """Feature name → values of one request (numbers as float64, text decoded from UTF-8)."""
        columns = {}
        for feature in self.spec["features"]:
            values = pb_utils.get_input_tensor_by_name(request, feature["name"]).as_numpy().reshape(-1)
            if feature["numeric"]:
                columns[feature["name"]] = values.astype(np.float64)
            else:
                columns[feature["name"]] = np.array(
                    [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in values], dtype=object
                )
        return columns


def _concat(parts):
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
