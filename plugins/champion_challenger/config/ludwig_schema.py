"""The columns a batch must carry, derived from the candidates' Ludwig configs, and Ludwig config checks.

Every candidate YAML is validated with Ludwig's own schema (:func:`load_ludwig_config`); the batch
schema (:class:`ModelSchema`) is the union of the candidates' input features plus the pipeline's
target, timestamp and id columns.

Ludwig's schema check imports Ludwig and torch (about 15 s of CPU and 1 GB of memory per process), and
almost every task of a cycle needs the schema. With a cache folder, a config that passed the check once
is remembered by its content and Ludwig's version, so only the first task to see a new or changed
config pays for the check; a config that fails is never remembered.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.metadata import version
from pathlib import Path
from typing import Any

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.config.sections import StrictModel, read_yaml
from champion_challenger.errors import ConfigError
from champion_challenger.task import TaskKind, task_of_output

#: Ludwig input feature types the pipeline knows how to validate and serve.
NUMERIC_TYPES: frozenset[str] = frozenset({"number", "binary"})
STRING_TYPES: frozenset[str] = frozenset({"category", "text", "set", "bag"})
#: The column holding the row key the pipeline derives when the data has no id column (``data.id_column`` unset).
DERIVED_ID_COLUMN = "_row_key"
#: Every feature type Ludwig 0.17 knows.
LUDWIG_FEATURE_TYPES: frozenset[str] = frozenset(
    {"audio", "bag", "binary", "category", "date", "h3", "image", "number", "sequence", "set", "text", "timeseries", "vector"}
)


class FeatureSpec(StrictModel):
    """One input feature of the Ludwig model: its column name and Ludwig type."""

    name: str
    type: str

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES


class ModelSchema(StrictModel):
    """The columns a batch must carry, derived from the pipeline and Ludwig configs.

    Attributes:
        features: the candidates' input features.
        target: the label column.
        timestamp_column: the event time column.
        id_column: the entity id column; :data:`DERIVED_ID_COLUMN` when the data has none and the
            pipeline derives a row key at acceptance (``id_derived``).
        task: ``binary``, ``multiclass`` or ``regression`` (from the output feature's type).
    """

    features: tuple[FeatureSpec, ...]
    target: str
    timestamp_column: str
    id_column: str
    task: TaskKind = "binary"
    id_derived: bool = False

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def required_columns(self) -> list[str]:
        """Columns of an accepted (typed) batch."""
        return [*self.feature_names, self.target, self.timestamp_column, self.id_column]

    @property
    def received_columns(self) -> list[str]:
        """Columns a received batch file must carry (a derived row key is added at acceptance)."""
        return [c for c in self.required_columns if not (self.id_derived and c == self.id_column)]


def load_ludwig_config(path: str | Path, checked_cache: Path | None = None) -> dict[str, Any]:
    """Read a Ludwig YAML and check it with Ludwig's own schema.

    Args:
        path: the YAML file.
        checked_cache: folder remembering configs that passed (see the module docstring); None
            checks every time.

    Raises:
        ConfigError: naming the file and the offending field.
    """
    path = Path(path)
    raw = read_yaml(path)
    _check_model_type(path, raw)
    _check_feature_types(path, raw)
    marker = checked_cache / _check_key(raw) if checked_cache is not None else None
    if marker is not None and marker.exists():
        return raw
    from ludwig.error import ConfigValidationError
    from ludwig.schema.model_types.base import ModelConfig

    try:
        ModelConfig.from_dict(raw)
    except (ConfigValidationError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: invalid Ludwig config: {exc}") from None
    if marker is not None:
        _remember(marker, path)
    return raw


def _check_model_type(path: Path, raw: dict[str, Any]) -> None:
    """Only ECD models: Ludwig 0.17 has no ``gbm`` model type any more, and ``llm`` is not a tabular task."""
    model_type = raw.get("model_type", "ecd")
    if model_type == "gbm":
        raise ConfigError(
            f"{path}: model_type 'gbm' is not available: Ludwig 0.17.10, which this pipeline pins, removed its "
            "LightGBM models; use model_type 'ecd' (e.g. combiner 'concat' or 'tabnet' for a tree-like tabular model)"
        )
    if model_type != "ecd":
        raise ConfigError(f"{path}: model_type {model_type!r} is not a tabular model this pipeline trains; use 'ecd'")


def _check_key(raw: dict[str, Any]) -> str:
    """The config's content and the installed Ludwig version, hashed."""
    content = json.dumps(raw, sort_keys=True, default=str) + "|ludwig " + version("ludwig")
    return hashlib.sha256(content.encode()).hexdigest()


def _remember(marker: Path, path: Path) -> None:
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        tmp = marker.with_name(f".{marker.name}.{os.getpid()}.tmp")
        tmp.write_text(f"{path}\n")
        os.replace(tmp, marker)
    except OSError:  # a read-only or full disk: the next task checks again
        pass


def _check_feature_types(path: Path, raw: dict[str, Any]) -> None:
    """Name the exact field of an unknown feature type before Ludwig's longer schema message."""
    for section in ("input_features", "output_features"):
        features = raw.get(section)
        if not isinstance(features, list) or not features:
            raise ConfigError(f"{path}: {section} must be a non-empty list of features")
        for i, feat in enumerate(features):
            if not isinstance(feat, dict) or "name" not in feat or "type" not in feat:
                raise ConfigError(f"{path}: {section}[{i}] needs a 'name' and a 'type'")
            if feat["type"] not in LUDWIG_FEATURE_TYPES:
                raise ConfigError(
                    f"{path}: {section}[{i}].type: unknown feature type {feat['type']!r} "
                    f"(feature {feat['name']!r}); allowed: {sorted(LUDWIG_FEATURE_TYPES)}"
                )


def model_schema(config: PipelineConfig, ludwig_configs: dict[str, dict[str, Any]]) -> ModelSchema:
    """Derive the batch schema: the union of the candidates' features plus the pipeline's columns.

    Args:
        config: the pipeline config.
        ludwig_configs: candidate name → Ludwig config.

    Raises:
        ConfigError: an output feature is not the pipeline's target, a feature type cannot be
            served, a feature reuses the id/timestamp column, or two candidates disagree on a
            column's type (the message names the file and field).
    """
    features: dict[str, FeatureSpec] = {}
    paths = config.ludwig_config_paths()
    for name, ludwig_config in ludwig_configs.items():
        path = paths.get(name, name)
        for feature in _candidate_features(config, ludwig_config, path):
            known = features.setdefault(feature.name, feature)
            if known.is_numeric != feature.is_numeric:
                raise ConfigError(
                    f"{path}: feature {feature.name!r} is {feature.type!r} here but {known.type!r} in another candidate"
                )
    if DERIVED_ID_COLUMN in features:
        raise ConfigError(f"input feature {DERIVED_ID_COLUMN!r} is reserved for the row key the pipeline derives")
    return ModelSchema(
        features=tuple(features.values()),
        target=config.data.target,
        timestamp_column=config.data.timestamp_column,
        id_column=config.data.id_column or DERIVED_ID_COLUMN,
        task=config.task,
        id_derived=config.data.id_column is None,
    )


def _candidate_features(config: PipelineConfig, ludwig_config: dict[str, Any], path: Path | str) -> list[FeatureSpec]:
    outputs = ludwig_config.get("output_features") or []
    if len(outputs) != 1 or outputs[0].get("name") != config.data.target:
        raise ConfigError(
            f"{path}: output_features must be exactly one feature named {config.data.target!r} "
            f"(data.target in {config.source_path}), got {[o.get('name') for o in outputs]}"
        )
    if task_of_output(str(outputs[0].get("type"))) != config.task:
        raise ConfigError(
            f"{path}: output_features[0].type {outputs[0].get('type')!r} does not train the pipeline's {config.task} task"
        )
    features = []
    for i, feat in enumerate(ludwig_config.get("input_features") or []):
        ftype = feat.get("type")
        if ftype not in NUMERIC_TYPES | STRING_TYPES:
            allowed = sorted(NUMERIC_TYPES | STRING_TYPES)
            raise ConfigError(f"{path}: input_features[{i}].type {ftype!r} is not supported; allowed: {allowed}")
        if feat.get("name") in (config.data.id_column, config.data.timestamp_column):
            raise ConfigError(f"{path}: input_features[{i}] uses the id/timestamp column {feat['name']!r}")
        features.append(FeatureSpec(name=feat["name"], type=ftype))
    return features


def load_candidate_configs(config: PipelineConfig, checked_cache: Path | None = None) -> dict[str, dict[str, Any]]:
    """Load and validate every candidate Ludwig config (name → config); ``checked_cache``: see :func:`load_ludwig_config`."""
    return {name: load_ludwig_config(path, checked_cache) for name, path in config.ludwig_config_paths().items()}
