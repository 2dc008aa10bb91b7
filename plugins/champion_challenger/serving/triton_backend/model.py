"""Triton Python-backend model serving one Ludwig model version.

Copied into ``<repository>/<model>/<version>/model.py`` next to ``serving_spec.json`` and either
``model.onnx`` (an exported version, ``format: onnx`` in the spec) or ``ludwig_model/`` by
:mod:`champion_challenger.serving.triton_repository`.

Inputs: one tensor per Ludwig input feature (``TYPE_FP32`` for numbers, ``TYPE_STRING`` otherwise),
shape ``[batch, 1]``. Outputs follow the model's task (``task`` in ``serving_spec.json``):

* binary: ``probability`` (positive class, FP32) and ``prediction`` (INT32 0/1);
* multiclass: ``probabilities`` (FP32 ``[K]``) and ``prediction`` (the predicted class, STRING). The
  columns follow the ``classes`` parameter of the model config (the served versions' classes), or a
  request's own ``classes`` parameter (a JSON list; the router sends its order); a class this
  version does not know gets probability 0;
* regression: ``prediction`` (the predicted value, FP32).

All requests of one ``execute`` call are scored in a single call of the exported graph on ONNX Runtime
(:class:`~champion_challenger.serving.onnx_scoring.OnnxScorer`; this stub imports neither torch nor
Ludwig). A version that was not exported runs the fast tensor path
(:class:`~champion_challenger.serving.fast_predictor.TensorPredictor`, same answers as
``LudwigModel.predict`` without its ~40 ms DataFrame pipeline); models it does not cover fall back
to ``LudwigModel.predict``. The log says which path a version took and how long its load took.
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

from champion_challenger.serving.served_tensors import AnswerArrays, read_spec, request_columns  # noqa: E402


class TritonPythonModel:
    """Scores rows with the exported graph, else the fast tensor path, else ``LudwigModel.predict``."""

    def initialize(self, args):
        import time

        from champion_challenger.serving.routing import config_classes

        started = time.perf_counter()
        self.label = f"{args['model_name']} v{args['model_version']}"
        version_dir = os.path.join(args["model_repository"], args["model_version"])
        self.spec = read_spec(version_dir)
        self.task = self.spec.get("task", "binary")  # exported before tasks were recorded: binary
        self.own_classes = tuple(self.spec.get("classes", []))  # this version's classes, sorted
        config = json.loads(args["model_config"])
        self.classes = config_classes(config.get("parameters") or {}) or self.own_classes  # the served order
        self.orders = {}  # a request's "classes" parameter (JSON text) -> class order
        self.answers = AnswerArrays(self.task, self.own_classes)
        if self.spec.get("format") == "onnx":
            self._score = self._onnx(version_dir)
        else:
            self._score = self._ludwig(version_dir)
        # Triton counts an error response as a successful request; count invalid ones ourselves.
        # The family must outlive its metric, so both are kept on the model.
        self.invalid_family = pb_utils.MetricFamily(
            name="ccp_invalid_requests_total",
            description="Requests answered with an error by the model (malformed inputs)",
            kind=pb_utils.MetricFamily.COUNTER,
        )
        self.invalid_requests = self.invalid_family.Metric(labels={"model": args["model_name"], "version": args["model_version"]})
        pb_utils.Logger.log_info(f"{self.label}: {self.path} ready in {time.perf_counter() - started:.2f} s")

    def _onnx(self, version_dir):
        """The exported graph on ONNX Runtime: imports neither torch nor Ludwig."""
        from champion_challenger.serving.onnx_scoring import OnnxScorer

        scorer = OnnxScorer(os.path.join(version_dir, "model.onnx"), self.spec["features"])
        self.path = f"ONNX Runtime ({', '.join(scorer.session.get_providers())})"
        return lambda columns: scorer.task_outputs(self.task, columns)

    def _ludwig(self, version_dir):
        """The Ludwig model: the fast tensor path, or ``LudwigModel.predict`` where it does not apply."""
        import logging

        import torch
        from ludwig.api import LudwigModel

        from champion_challenger.serving.fast_predictor import TensorPredictor, UnsupportedModelError

        torch.set_num_threads(int(os.environ.get("CCP_TRITON_TORCH_THREADS", "1")))
        model = LudwigModel.load(os.path.join(version_dir, "ludwig_model"), backend="local", logging_level=logging.ERROR)
        reason = self.spec.get("fallback_reason")
        try:
            fast = TensorPredictor.from_model(model)
            self.path = "Ludwig tensor path" + (f" (not exported: {reason})" if reason else "")
            return fast.predict
        except UnsupportedModelError as exc:
            self.path = f"LudwigModel.predict ({exc})"
            pb_utils.Logger.log_warn(f"{self.label}: {self.path}")

        def predict(columns):
            import pandas as pd

            from champion_challenger.serving.prediction_outputs import ludwig_prediction

            scored = model.predict(pd.DataFrame(columns), return_type=pd.DataFrame)[0]
            return ludwig_prediction(scored, self.spec["target"], self.task, self.spec["threshold"], self.own_classes)

        return predict

    def execute(self, requests):
        parsed, errors = [], []
        for request in requests:  # a malformed request fails alone, not the whole dynamic batch
            try:
                parsed.append((self._columns(request), self._order(request)))
                errors.append(None)
            except Exception as exc:  # noqa: BLE001 - reported to that request's client
                parsed.append(None)
                errors.append(pb_utils.TritonError(f"invalid request: {type(exc).__name__}: {exc}"))
                self.invalid_requests.increment(1)
        good = [p[0] for p in parsed if p is not None]
        answer = self._score(_concat(good)) if good else None
        responses, start = [], 0
        for item, error in zip(parsed, errors, strict=True):
            if error is not None:
                responses.append(pb_utils.InferenceResponse(output_tensors=[], error=error))
                continue
            columns, order = item
            rows = slice(start, start + len(next(iter(columns.values()))))
            start = rows.stop
            responses.append(pb_utils.InferenceResponse(output_tensors=self._outputs(answer, rows, order)))
        return responses

    def _outputs(self, answer, rows, order):
        """The task's output tensors for ``rows`` of ``answer``."""
        return [pb_utils.Tensor(name, array) for name, array in self.answers.arrays(answer, rows, order).items()]

    def _order(self, request):
        """The class order a request asks for (its ``classes`` parameter), else the config's."""
        if self.task != "multiclass":
            return ()
        text = json.loads(request.parameters() or "{}").get("classes")
        if not text:
            return self.classes
        if text not in self.orders:
            self.orders[text] = tuple(str(c) for c in json.loads(text))
        return self.orders[text]

    def _columns(self, request):
        """Feature name → values of one request (numbers as float64, text decoded from UTF-8)."""
        return request_columns(self.spec["features"], lambda name: pb_utils.get_input_tensor_by_name(request, name).as_numpy())


def _concat(parts):
    if len(parts) == 1:
        return parts[0]
    return {name: np.concatenate([p[name] for p in parts]) for name in parts[0]}
