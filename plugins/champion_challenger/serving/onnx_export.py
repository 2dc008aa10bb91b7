"""Export a Ludwig ECD model to one ONNX graph that Triton serves without Python, torch or Ludwig.

The graph takes the same inputs as the Triton model (``[n, 1]``: FP32 for number and binary features,
STRING for category features) and answers the task's outputs (``triton_repository.TASK_OUTPUTS``):

* preprocessing is inside the graph: a missing number (NaN) gets the feature's ``computed_fill_value``,
  outliers are replaced and the feature's Ludwig normalization applied (the transformer's own
  ``transform_inference``); a binary feature is true when non-zero (NaN → its fill value); a category
  string is looked up in ``str2idx`` by an ``ai.onnx.ml`` ``LabelEncoder`` (``""`` → the fill value's
  index, unknown → ``<UNK>`` or the most frequent value, as :mod:`.fast_predictor` does);
* then the ECD module's ``predictions``;
* then the output side: binary ``probability`` and ``prediction`` (``probability >= threshold``);
  multiclass ``probabilities`` in the model's own classes *sorted by name* and ``prediction`` (the class
  name, by a second ``LabelEncoder``); regression ``prediction``, the inverse normalization computed in
  float64 and served as FP32.

What stays outside the graph is in ``serving_spec.json`` (:func:`champion_challenger.serving.triton_repository.serving_spec`)
plus ``format: onnx``: the inputs, the task and the classes. One thing the graph does not do is strip
whitespace around category strings (ONNX has no string strip); :mod:`.onnx_scoring` strips before it
calls the graph, Triton's native ``onnxruntime`` backend would look ``" a"`` up as an unknown value.

A version is served from ONNX only when :func:`export_serving` found the graph's answers equal to
``LudwigModel.predict`` on the parity rows (``|onnx - ludwig| <= atol + rtol * |ludwig|`` with 1e-5 for
both, every score); otherwise it keeps today's Ludwig path and the reason is recorded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from champion_challenger.serving.fast_predictor import UnsupportedModelError, check_supported
from champion_challenger.serving.onnx_scoring import EXPORT_FILE, ONNX_FILE, PARITY_TOLERANCE, OnnxScorer, ServingExport
from champion_challenger.serving.prediction_outputs import ludwig_prediction
from champion_challenger.task import OUTPUT_TYPE_TASK

log = logging.getLogger(__name__)

PARITY_ROWS = 2000
OPSET = 17
ML_OPSET = 2
_INDEX_SUFFIX = "__index"


def export_serving(model: Any, dest: Path, rows: pd.DataFrame) -> ServingExport:
    """Export ``model`` (a ``LudwigModel``) to ``dest/model.onnx`` and check it on ``rows``.

    Always writes ``dest/export.json``; ``model.onnx`` stays only when the parity check passed. Never
    raises for a model it cannot export: the answer says why and the version keeps the Ludwig path.

    Args:
        model: a trained or loaded ``LudwigModel``.
        dest: folder to write into (created).
        rows: raw rows (features at least) to compare on, e.g. the cycle's holdout; at most
            :data:`PARITY_ROWS` are used.
    """
    dest.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    sample = rows.head(PARITY_ROWS)
    try:
        if sample.empty:
            raise UnsupportedModelError("no rows to check the exported graph against LudwigModel.predict")
        write_onnx(model, dest / ONNX_FILE)
        parity = parity_difference(model, dest / ONNX_FILE, sample)
        if not parity.ok:
            raise ParityError(parity)
        result = ServingExport("onnx", None, parity.max_abs, len(sample))
    except Exception as exc:  # noqa: BLE001 - any failure keeps the Ludwig path, with its reason
        (dest / ONNX_FILE).unlink(missing_ok=True)
        max_abs = exc.parity.max_abs if isinstance(exc, ParityError) else None
        result = ServingExport("ludwig", f"{type(exc).__name__}: {exc}", max_abs, len(sample))
    result = ServingExport(**{**asdict(result), "seconds": round(time.perf_counter() - started, 3)})
    (dest / EXPORT_FILE).write_text(json.dumps(asdict(result), indent=2))
    log.info("serving export: %s in %.2f s%s", result.format, result.seconds, f" ({result.reason})" if result.reason else "")
    return result


@dataclass(frozen=True)
class Parity:
    """Largest differences of the graph's scores against ``LudwigModel.predict``."""

    max_abs: float
    worst_excess: float  # max(|diff| - (atol + rtol*|ludwig|)); <= 0 when every score is within tolerance
    labels_differ: int

    @property
    def ok(self) -> bool:
        return self.worst_excess <= 0 and self.labels_differ == 0

    def describe(self) -> str:
        return f"max |onnx - ludwig| {self.max_abs:.3g} (tolerance {PARITY_TOLERANCE:g}), {self.labels_differ} label(s) differ"


class ParityError(UnsupportedModelError):
    """The exported graph answers differently from ``LudwigModel.predict``."""

    def __init__(self, parity: Parity) -> None:
        super().__init__(f"parity check failed: {parity.describe()}")
        self.parity = parity


def parity_difference(model: Any, onnx_path: Path, rows: pd.DataFrame) -> Parity:
    """Compare the graph (run as Triton runs it, :class:`~.onnx_scoring.OnnxScorer`) with ``LudwigModel.predict``."""
    target = model.config["output_features"][0]
    task = OUTPUT_TYPE_TASK[target["type"]]
    vocabulary = model.training_set_metadata[target["name"]].get("idx2str", []) if task == "multiclass" else []
    classes = sorted(str(c) for c in vocabulary)
    inputs = [f["name"] for f in model.config["input_features"]]
    scorer = OnnxScorer(onnx_path, _spec_inputs(model))
    answer = scorer.task_outputs(task, {name: rows[name].to_numpy() for name in inputs})
    scored = model.predict(rows[inputs], return_type=pd.DataFrame)[0]
    expected = ludwig_prediction(scored, target["name"], task, float(target.get("threshold", 0.5)), classes)
    got, want = np.asarray(answer.scores, np.float64), np.asarray(expected.scores, np.float64)
    diff = np.abs(got - want)
    excess = diff - (PARITY_TOLERANCE + PARITY_TOLERANCE * np.abs(want))
    differ = np.asarray(answer.predictions).astype(str) != np.asarray(expected.predictions).astype(str)
    if task == "binary":  # a probability within tolerance of the threshold may round either way
        differ &= np.abs(want - float(target.get("threshold", 0.5))) > PARITY_TOLERANCE
    labels = 0 if task == "regression" else int(differ.sum())
    return Parity(float(diff.max(initial=0.0)), float(excess.max(initial=-1.0)), labels)


def write_onnx(model: Any, path: Path) -> None:
    """Write the graph of a ``LudwigModel`` (see the module docstring) to ``path``.

    Raises:
        UnsupportedModelError: the model is not covered (its type, a feature type or an option).
    """
    import onnx
    import torch

    check_supported(model.config, model.training_set_metadata)
    wrapper = _graph_module(model)
    sample = wrapper.sample_inputs()
    names = wrapper.input_names()
    outputs = wrapper.output_names()
    with torch.inference_mode(False), torch.no_grad(), _static_dense_squeeze():
        torch.onnx.export(
            wrapper,
            sample,
            str(path),
            input_names=names,
            output_names=outputs,
            dynamic_axes={name: {0: "n"} for name in (*names, *outputs)},
            opset_version=OPSET,
            dynamo=False,
        )
    graph = onnx.load(str(path))
    _add_string_lookups(graph, wrapper)
    onnx.checker.check_model(graph)
    onnx.save(graph, str(path))


@contextlib.contextmanager
def _static_dense_squeeze() -> Iterator[None]:
    """Export Ludwig's ``Dense`` with its squeeze decided by the layer's width.

    ``Dense.forward`` squeezes the last dimension, a no-op unless the layer has one output; the ONNX
    exporter turns that into an ``If`` on the runtime shape whose untaken branch ONNX Runtime rejects
    for a multi-class decoder. The layer's width is fixed, so the choice is made while tracing.
    """
    from ludwig.utils.torch_utils import Dense

    original = Dense.forward

    def forward(self: Any, input: Any) -> Any:  # noqa: A002 - Ludwig's parameter name
        output = self.dense(input)
        return output[..., 0] if self.dense.out_features == 1 else output

    Dense.forward = forward
    try:
        yield
    finally:
        Dense.forward = original


def _spec_inputs(model: Any) -> list[dict[str, Any]]:
    """``serving_spec.json``'s ``features`` of a model: name and numeric (FP32) or not (STRING)."""
    return [{"name": f["name"], "numeric": f["type"] in ("number", "binary")} for f in model.config["input_features"]]


def _graph_module_class() -> type:
    import torch

    class GraphModule(torch.nn.Module):
        """The ECD module with the numeric preprocessing before it and the output side after it."""

        def __init__(self, model: Any) -> None:
            super().__init__()
            config, metadata = model.config, model.training_set_metadata
            self.ecd = model.model.eval()
            types = {f["name"]: f["type"] for f in config["input_features"]}
            self.features = [(name, types[name]) for name in model.model.input_features.keys()]
            self.numbers = {name: _number_steps(name, metadata[name]) for name, kind in self.features if kind == "number"}
            self.binary_fill = {name: _binary_fill(metadata[name]) for name, kind in self.features if kind == "binary"}
            self.lookups = {name: _category_lookup(metadata[name]) for name, kind in self.features if kind == "category"}
            target = config["output_features"][0]
            self.target, self.task = target["name"], OUTPUT_TYPE_TASK[target["type"]]
            self.threshold = float(target.get("threshold", 0.5))
            target_metadata = metadata.get(target["name"], {})
            self.vocabulary = [str(c) for c in target_metadata.get("idx2str", [])]
            order = sorted(range(len(self.vocabulary)), key=lambda i: self.vocabulary[i])
            self.register_buffer("class_order", torch.tensor(order, dtype=torch.long))
            self.inverse = _output_transformer(target, target_metadata) if self.task == "regression" else None

        def input_names(self) -> list[str]:
            return [name + _INDEX_SUFFIX if kind == "category" else name for name, kind in self.features]

        def output_names(self) -> list[str]:
            return {
                "binary": ["probability", "prediction"],
                "multiclass": ["probabilities", "prediction" + _INDEX_SUFFIX],
                "regression": ["prediction"],
            }[self.task]

        def sample_inputs(self) -> tuple[torch.Tensor, ...]:
            return tuple(
                torch.zeros((3, 1), dtype=torch.int64 if kind == "category" else torch.float32) for _, kind in self.features
            )

        def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
            inputs = {}
            for (name, kind), tensor in zip(self.features, tensors, strict=True):
                x = tensor.reshape(-1)
                if kind == "number":
                    inputs[name] = self.numbers[name](x)
                elif kind == "binary":
                    inputs[name] = torch.where(torch.isnan(x), torch.full_like(x, self.binary_fill[name]), x) != 0
                else:
                    inputs[name] = x
            out = self.ecd.predictions(inputs)[self.target]
            if self.task == "binary":
                probability = out["probabilities"].reshape(-1, 1).float()
                return probability, (probability >= self.threshold).to(torch.int32)
            if self.task == "multiclass":
                probabilities = out["probabilities"].float().index_select(1, self.class_order)
                return probabilities, out["predictions"].reshape(-1, 1).to(torch.int64)
            value = self.inverse(out["predictions"].reshape(-1).double())
            return (value.float().reshape(-1, 1),)

    return GraphModule


def _graph_module(model: Any) -> Any:
    """The export wrapper of ``model`` (its class is built on first use: torch is imported only here)."""
    return _graph_module_class()(model)


def _number_steps(name: str, metadata: Mapping[str, Any]) -> Any:
    """fill NaN, replace outliers, normalize: the number feature's preprocessing on a float32 tensor."""
    import torch
    from ludwig.features.number_feature import get_transformer

    prep = metadata["preprocessing"]
    transformer = get_transformer({**metadata, "name": name}, prep)
    fill = float(prep["computed_fill_value"])
    outliers = None
    if prep.get("outlier_strategy") is not None:
        replacement = float(prep["computed_outlier_fill_value"])
        outliers = (float(metadata["mean"]), float(metadata["std"]), float(prep["outlier_threshold"]), replacement)

    def steps(x: torch.Tensor) -> torch.Tensor:
        x = torch.where(torch.isnan(x), torch.full_like(x, fill), x)
        if outliers is not None:
            mean, std, threshold, outlier_fill = outliers
            x = torch.where(torch.abs((x - mean) / std) > threshold, torch.full_like(x, outlier_fill), x)
        return transformer.transform_inference(x).to(torch.float32)

    return steps


def _binary_fill(metadata: Mapping[str, Any]) -> float:
    """The binary feature's fill value as 1.0 / 0.0 (ONNX Runtime has no ``Where`` on booleans)."""
    from champion_challenger.serving.fast_predictor import _BinaryColumn

    return 1.0 if _BinaryColumn("fill", metadata).fill else 0.0


def _category_lookup(metadata: Mapping[str, Any]) -> tuple[dict[str, int], int]:
    """``str2idx`` with ``""`` → the fill value's index, and the index of an unknown value."""
    from champion_challenger.serving.fast_predictor import _CategoryColumn

    column = _CategoryColumn("lookup", metadata)
    keys = dict(column.str2idx)
    keys[""] = keys.get(column.fill.strip(), column.unknown)  # "" is missing: the fill value's index
    return keys, int(column.unknown)


def _output_transformer(target: Mapping[str, Any], metadata: Mapping[str, Any]) -> Any:
    from ludwig.features.number_feature import get_transformer

    preprocessing = metadata.get("preprocessing") or target.get("preprocessing") or {}
    transformer = get_transformer({**metadata, "name": target["name"]}, preprocessing)
    return transformer.inverse_transform_inference


def _add_string_lookups(graph: Any, wrapper: Any) -> None:
    """Put the category lookups (string → index) before the exported graph and, for multiclass, the
    class name of the predicted index after it (``ai.onnx.ml`` ``LabelEncoder``)."""
    from onnx import TensorProto, helper

    nodes, new_inputs = [], []
    for name, (keys, unknown) in wrapper.lookups.items():
        index_name = name + _INDEX_SUFFIX
        old = next(i for i in graph.graph.input if i.name == index_name)
        graph.graph.input.remove(old)
        new_inputs.append((name, index_name))
        nodes.append(
            helper.make_node(
                "LabelEncoder",
                [name],
                [index_name],
                domain="ai.onnx.ml",
                name=f"lookup_{name}",
                keys_strings=list(keys),
                values_int64s=[int(v) for v in keys.values()],
                default_int64=unknown,
            )
        )
    existing = {i.name: i for i in graph.graph.input}
    inputs = []
    for name, _kind in wrapper.features:
        if name in wrapper.lookups:
            inputs.append(helper.make_tensor_value_info(name, TensorProto.STRING, ["n", 1]))
        else:
            inputs.append(existing[name])
    del graph.graph.input[:]
    graph.graph.input.extend(inputs)
    for node in reversed(nodes):
        graph.graph.node.insert(0, node)
    if wrapper.task == "multiclass":
        index_name = "prediction" + _INDEX_SUFFIX
        graph.graph.node.append(
            helper.make_node(
                "LabelEncoder",
                [index_name],
                ["prediction"],
                domain="ai.onnx.ml",
                name="class_name",
                keys_int64s=list(range(len(wrapper.vocabulary))),
                values_strings=wrapper.vocabulary,
                default_string="",
            )
        )
        old = next(o for o in graph.graph.output if o.name == index_name)
        graph.graph.output.remove(old)
        graph.graph.output.append(helper.make_tensor_value_info("prediction", TensorProto.STRING, ["n", 1]))
    if not any(o.domain == "ai.onnx.ml" for o in graph.opset_import):
        graph.opset_import.append(helper.make_opsetid("ai.onnx.ml", ML_OPSET))
