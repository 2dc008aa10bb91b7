"""Fast online scoring of Ludwig ECD models: tensors in, task scores out, no DataFrame pipeline.

``LudwigModel.predict`` costs tens of milliseconds per call whatever the batch size, because it runs
Ludwig's whole DataFrame preprocessing pipeline. :class:`TensorPredictor` does the same preprocessing
row by row from the saved ``training_set_metadata`` (Ludwig 0.17.10,
``ludwig/data/preprocessing.py:build_dataset`` and each feature's ``add_feature_data``), builds one
tensor per input feature and calls the ECD module's ``predictions`` directly:

* number: missing → ``preprocessing.computed_fill_value``, cast to float32, optional outlier
  replacement, then Ludwig's own normalization transformer (zscore, minmax, iq, log1p or none)
  built from the metadata.
* category: missing → ``computed_fill_value``; the stripped string is looked up in ``str2idx``;
  an unknown value maps to ``<UNK>`` when the vocabulary has it, else to the most frequent
  training value (``str2freq``), as ``CategoryFeatureMixin.feature_data`` does.
* binary: missing → ``computed_fill_value``; numbers are true when non-zero, strings go through
  the metadata's ``str2bool`` and Ludwig's boolean string rules.

A missing value is ``None``, a NaN or an empty string (Triton's ``TYPE_STRING`` cannot carry
``None``). ``LudwigModel.predict`` itself maps a category ``""`` as an unknown value rather than
filling it; with the default fill value ``<UNK>`` both give the same index.

The output side follows Ludwig's postprocessing (``postprocess_predictions`` of each output feature):

* binary: the positive-class probability; the label is ``probability >= threshold``.
* category: the class probabilities, reordered by class *name* to a requested class order (default:
  the model's own classes, sorted); the label is ``idx2str`` of the module's predicted index.
* number: the module's prediction (``clip`` already applied, in the normalized space), then the
  inverse of the output feature's normalization, computed in float64 as ``LudwigModel.predict`` does.

Only number, category and binary inputs and one binary, category or number output are covered;
anything else raises :class:`UnsupportedModelError` so the caller can fall back to
``LudwigModel.predict`` (:func:`~champion_challenger.serving.prediction_outputs.ludwig_scores` turns its
output into the same task scores). The output side lives in :mod:`.prediction_outputs`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from champion_challenger.serving.prediction_outputs import OUTPUTS, TaskPrediction, ludwig_prediction, ludwig_scores
from champion_challenger.task import OUTPUT_TYPE_TASK, TaskKind

SUPPORTED_INPUT_TYPES: frozenset[str] = frozenset({"number", "category", "binary"})
#: Missing-value strategies whose result depends on neighbouring rows or drops rows: no per-row answer.
ROW_CONTEXT_STRATEGIES: frozenset[str] = frozenset({"bfill", "ffill", "drop_row"})
UNKNOWN_SYMBOL = "<UNK>"  # ludwig.constants.UNKNOWN_SYMBOL

Column = np.ndarray | Sequence[Any]
Converter = Callable[[Column], torch.Tensor]


class UnsupportedModelError(ValueError):
    """The fast path does not cover this model (its type, a feature type or a preprocessing option)."""


def check_supported(config: Mapping[str, Any], metadata: Mapping[str, Any] | None = None) -> None:
    """Check that the fast path can score a model exactly as ``LudwigModel.predict`` would.

    Args:
        config: the model's rendered Ludwig config (``LudwigModel.config``).
        metadata: its ``training_set_metadata``; a feature's preprocessing there wins over the config's.

    Raises:
        UnsupportedModelError: naming the model type, or the feature and what about it is not covered.
    """
    if config.get("model_type", "ecd") != "ecd":
        raise UnsupportedModelError(f"model_type {config.get('model_type')!r} is not supported (only 'ecd')")
    outputs = config.get("output_features") or []
    if len(outputs) != 1 or outputs[0].get("type") not in OUTPUT_TYPE_TASK:
        found = [(o.get("name"), o.get("type")) for o in outputs]
        raise UnsupportedModelError(f"exactly one {'/'.join(OUTPUT_TYPE_TASK)} output feature is supported, got {found}")
    _check_output(outputs[0], (metadata or {}).get(outputs[0]["name"], {}))
    for feature in config.get("input_features") or []:
        _check_input(feature, (metadata or {}).get(feature["name"], {}))


def _check_output(feature: Mapping[str, Any], feature_metadata: Mapping[str, Any]) -> None:
    if feature.get("type") != "number":
        return
    from ludwig.features.number_feature import numeric_transformation_registry

    preprocessing = feature_metadata.get("preprocessing") or feature.get("preprocessing") or {}
    if preprocessing.get("normalization") not in numeric_transformation_registry:
        raise UnsupportedModelError(
            f"output feature {feature['name']!r} (number) has normalization {preprocessing.get('normalization')!r}"
        )


def _check_input(feature: Mapping[str, Any], feature_metadata: Mapping[str, Any]) -> None:
    name, ftype = feature["name"], feature.get("type")
    if ftype not in SUPPORTED_INPUT_TYPES:
        raise UnsupportedModelError(f"input feature {name!r} has type {ftype!r}; supported: {sorted(SUPPORTED_INPUT_TYPES)}")
    preprocessing = feature_metadata.get("preprocessing") or feature.get("preprocessing") or {}
    strategy = preprocessing.get("missing_value_strategy")
    if strategy in ROW_CONTEXT_STRATEGIES:
        raise UnsupportedModelError(
            f"input feature {name!r} ({ftype}) uses missing_value_strategy {strategy!r}, which depends on other rows"
        )
    if preprocessing.get("cache_encoder_embeddings"):
        raise UnsupportedModelError(f"input feature {name!r} ({ftype}) uses cache_encoder_embeddings")


def _is_missing(value: Any) -> bool:
    """None, a float NaN, pandas' NA or an empty string/bytes."""
    if value is None or (isinstance(value, (float, np.floating)) and math.isnan(value)):
        return True
    if isinstance(value, (str, bytes)):
        return len(value) == 0
    return value is pd.NA


def _flat(values: Column) -> np.ndarray | list[Any]:
    """A 1-D view of one column; lists stay lists so ``None``/NaN among strings are not stringified."""
    if hasattr(values, "to_numpy"):  # pandas Series
        values = values.to_numpy()
    return values.reshape(-1) if isinstance(values, np.ndarray) else list(values)


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _to_float(value: Any) -> float:
    """One raw value as a float; missing or unparsable → NaN (``pd.to_numeric(errors="coerce")``)."""
    if _is_missing(value):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _as_float32(values: Column) -> np.ndarray:
    try:
        return np.asarray(values, dtype=np.float64).astype(np.float32)
    except (TypeError, ValueError):  # strings, bytes, empty strings: one value at a time
        return np.array([_to_float(v) for v in values], dtype=np.float64).astype(np.float32)


class _NumberColumn:
    """A number feature: fill, cast to float32, replace outliers, normalize (``NumberFeatureMixin``)."""

    def __init__(self, name: str, metadata: Mapping[str, Any]) -> None:
        from ludwig.features.number_feature import get_transformer, numeric_transformation_registry

        prep = metadata["preprocessing"]
        normalization = prep.get("normalization")
        if normalization not in numeric_transformation_registry:
            raise UnsupportedModelError(f"input feature {name!r} (number) has normalization {normalization!r}")
        self.fill = np.float32(float(prep["computed_fill_value"]))
        self.transformer = get_transformer({**metadata, "name": name}, prep)
        self.outliers = None
        if prep.get("outlier_strategy") is not None:
            fill = np.float32(float(prep["computed_outlier_fill_value"]))
            self.outliers = (float(metadata["mean"]), float(metadata["std"]), float(prep["outlier_threshold"]), fill)

    def __call__(self, values: Column) -> torch.Tensor:
        x = _as_float32(values)
        x = np.where(np.isnan(x), self.fill, x)
        if self.outliers is not None:
            mean, std, threshold, fill = self.outliers
            x = np.where(np.abs((x - mean) / std) > threshold, fill, x)
        return torch.from_numpy(np.asarray(self.transformer.transform(x), dtype=np.float32))


class _CategoryColumn:
    """A category feature: fill, ``str2idx`` of the stripped string, unknown → ``<UNK>`` or the mode."""

    def __init__(self, name: str, metadata: Mapping[str, Any]) -> None:
        self.str2idx: dict[str, int] = dict(metadata["str2idx"])
        self.fill = str(metadata["preprocessing"]["computed_fill_value"])
        self.unknown = self.str2idx.get(UNKNOWN_SYMBOL)
        if self.unknown is None:  # no <UNK> in the vocabulary: Ludwig falls back to the most frequent value
            freq = metadata.get("str2freq") or {s: 0 for s in self.str2idx}
            self.unknown = self.str2idx[max(freq, key=freq.get)]

    def __call__(self, values: Column) -> torch.Tensor:
        lookup, unknown, fill = self.str2idx.get, self.unknown, self.fill
        indices = [lookup((fill if _is_missing(v) else _text(v)).strip(), unknown) for v in values]
        return torch.tensor(indices, dtype=torch.int32)


class _BinaryColumn:
    """A binary feature: fill, then numbers are true when non-zero and strings follow Ludwig's rules."""

    def __init__(self, name: str, metadata: Mapping[str, Any]) -> None:
        from ludwig.utils.strings_utils import PANDAS_FALSE_STRS, PANDAS_TRUE_STRS, str2bool

        prep = metadata["preprocessing"]
        self.pandas_bools = {s: s in PANDAS_TRUE_STRS for s in PANDAS_TRUE_STRS | PANDAS_FALSE_STRS}
        self.ludwig_str2bool = str2bool
        self.str2bool: dict[str, bool] = dict(metadata.get("str2bool") or {})
        self.fallback_true_label = prep.get("fallback_true_label")
        fill = prep.get("computed_fill_value")
        self.fill = False if fill is None or _is_missing(fill) else self._to_bool(fill)

    def __call__(self, values: Column) -> torch.Tensor:
        arr = values if isinstance(values, np.ndarray) else np.asarray(values, dtype=object)
        if arr.dtype.kind == "b":
            return torch.from_numpy(arr.copy())
        if arr.dtype.kind in "iuf":
            x = arr.astype(np.float64)
            return torch.from_numpy(np.where(np.isnan(x), self.fill, x != 0))
        flags = [self.fill if _is_missing(v) else self._to_bool(v) for v in arr.tolist()]
        return torch.tensor(flags, dtype=torch.bool)

    def _to_bool(self, value: Any) -> bool:
        """``BinaryFeatureMixin.cast_column`` + ``add_feature_data`` for one value."""
        if isinstance(value, (bool, np.bool_, int, float, np.number)):
            return bool(float(value) != 0)
        text = _text(value)
        if text in self.str2bool:
            return bool(self.str2bool[text])
        try:
            return float(text) != 0
        except ValueError:
            pass
        if text.lower() in self.pandas_bools:
            return self.pandas_bools[text.lower()]
        return self.ludwig_str2bool(text, self.fallback_true_label)


_CONVERTERS: dict[str, Callable[[str, Mapping[str, Any]], Converter]] = {
    "number": _NumberColumn,
    "category": _CategoryColumn,
    "binary": _BinaryColumn,
}


class TensorPredictor:
    """Score rows with a Ludwig ECD model's torch module on tensors, bypassing the DataFrame pipeline.

    Attributes:
        target: the output feature name.
        task: ``binary``, ``multiclass`` or ``regression`` (from the output feature's type).
        classes: the model's own classes, sorted (multiclass; empty otherwise): the default class
            order of multiclass scores.
        feature_names: input features in model order.
    """

    target: str
    task: TaskKind
    classes: tuple[str, ...]
    feature_names: list[str]

    def __init__(self, module: torch.nn.Module, target: str, columns: dict[str, Converter], output: Any) -> None:
        """Wrap an ECD module; ``columns`` maps each input feature, in model order, to its converter, and
        ``output`` turns the module's predictions of ``target`` into task scores and labels."""
        self._module = module.eval()
        self._columns = columns
        self._output = output
        self._device = next(module.parameters()).device
        self.target = target
        self.task = output.task
        self.classes = output.classes
        self.feature_names = list(columns)

    @classmethod
    def load(cls, ludwig_model_dir: str | Path) -> TensorPredictor:
        """Load a saved ``LudwigModel`` folder and build its fast path.

        Raises:
            UnsupportedModelError: the model is not covered (see :func:`check_supported`).
        """
        from ludwig.api import LudwigModel

        return cls.from_model(LudwigModel.load(str(ludwig_model_dir), backend="local", logging_level=logging.ERROR))

    @classmethod
    def from_model(cls, model: Any) -> TensorPredictor:
        """Build the fast path of a loaded ``LudwigModel`` (shares its torch module).

        Raises:
            UnsupportedModelError: the model is not covered (see :func:`check_supported`).
        """
        config, metadata = model.config, model.training_set_metadata
        check_supported(config, metadata)
        types = {f["name"]: f["type"] for f in config["input_features"]}
        names = list(model.model.input_features.keys())
        columns = {name: _CONVERTERS[types[name]](name, metadata[name]) for name in names}
        target = config["output_features"][0]
        output = OUTPUTS[target["type"]](target, metadata.get(target["name"], {}))
        return cls(model.model, target["name"], columns, output)

    def predict(self, columns: Mapping[str, Column], classes: Sequence[str] | None = None) -> TaskPrediction:
        """Scores and labels of ``n`` rows.

        Args:
            columns: feature name → 1-D array of ``n`` raw values (numbers as float; strings as ``str``
                or ``bytes``). ``None``, NaN and ``""`` are missing and filled as Ludwig fills them.
                Extra columns are ignored.
            classes: multiclass only: the column order of the probabilities (a class the model does
                not know gets 0); None = :attr:`classes`. Ignored for the other tasks.

        Raises:
            KeyError: a model input feature is absent from ``columns`` (names it).
            ValueError: the columns differ in length.
        """
        inputs = self._tensors(columns)
        if len(next(iter(inputs.values()))) == 0:
            return self._output.empty(classes)
        with torch.inference_mode():
            predictions = self._module.predictions(inputs)
        return self._output(predictions[self.target], classes)

    def predict_scores(self, columns: Mapping[str, Column], classes: Sequence[str] | None = None) -> np.ndarray:
        """The task's scores of ``n`` rows (see :class:`TaskPrediction`; arguments as :meth:`predict`)."""
        return self.predict(columns, classes).scores

    def predict_proba(self, columns: Mapping[str, Column]) -> np.ndarray:
        """Positive-class probabilities (float32, shape ``(n,)``) of a binary model's ``n`` rows.

        Raises:
            ValueError: the model is not binary (use :meth:`predict_scores`).
            KeyError: a model input feature is absent from ``columns`` (names it).
        """
        if self.task != "binary":
            raise ValueError(f"predict_proba needs a binary output; {self.target!r} is {self.task}: use predict_scores")
        return self.predict(columns).scores

    def _tensors(self, columns: Mapping[str, Column]) -> dict[str, torch.Tensor]:
        missing = [name for name in self.feature_names if name not in columns]
        if missing:
            raise KeyError(f"missing input feature(s) {missing}; the model needs {self.feature_names}")
        inputs = {name: convert(_flat(columns[name])).to(self._device) for name, convert in self._columns.items()}
        lengths = {name: len(t) for name, t in inputs.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(f"input features differ in length: {lengths}")
        return inputs


__all__ = ["TaskPrediction", "TensorPredictor", "UnsupportedModelError", "check_supported", "ludwig_prediction", "ludwig_scores"]
