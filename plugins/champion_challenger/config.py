"""Typed pipeline configuration, validated at load.

One ``PipelineConfig.from_yaml`` reads the pipeline YAML; unknown keys are rejected and every
problem is raised as a :class:`~champion_challenger.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from champion_challenger.errors import ConfigError

#: ``ece`` is the expected calibration error (10 equal-width bins): the calibration guardrail. Which way
#: is better for each metric is :mod:`champion_challenger.policy.direction`'s to say.
MetricName = Literal["accuracy", "roc_auc", "f1", "precision", "recall", "log_loss", "brier", "ece"]

#: Ludwig input feature types the pipeline knows how to validate and serve.
NUMERIC_TYPES: frozenset[str] = frozenset({"number", "binary"})
STRING_TYPES: frozenset[str] = frozenset({"category", "text", "set", "bag"})
#: Every feature type Ludwig 0.17 knows.
LUDWIG_FEATURE_TYPES: frozenset[str] = frozenset(
    {"audio", "bag", "binary", "category", "date", "h3", "image", "number", "sequence", "set", "text", "timeseries", "vector"}
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(_Strict):
    """Where batches land and which columns carry the label, time and entity id."""

    landing_dir: Path = Field(description="Folder where batch files arrive.")
    file_pattern: str = Field(default="*.csv", description="Glob of batch files (csv or parquet).")
    target: str = Field(description="Binary label column.")
    timestamp_column: str = Field(description="Event time column; orders rows for holdout and windows.")
    id_column: str = Field(description="Entity id column; never used as a feature.")


class TrainingConfig(_Strict):
    """What the challengers are trained from and how the best one is chosen."""

    ludwig_configs: list[str] = Field(
        default=["ludwig/*.yaml"],
        min_length=1,
        description="Candidate Ludwig YAMLs (globs allowed), relative to the pipeline YAML; one challenger each.",
    )
    selection_metric: MetricName = Field(
        default="roc_auc", description="Metric on the validation rows that picks the best candidate."
    )
    validation_fraction: float = Field(
        default=0.15, gt=0, lt=1, description="Newest share of the training rows used for early stopping and selection."
    )
    window_batches: int = Field(default=8, ge=1, description="Newest accepted batches to train on.")
    seed: int = Field(default=42, description="Random seed for Ludwig.")
    trigger: Literal["always", "drift_or_schedule"] = Field(
        default="drift_or_schedule",
        description="'always': every cycle trains; 'drift_or_schedule': train on drift, when the scheduled "
        "retrain is due, when there is no champion, or when the trigger form forces it; otherwise skip training.",
    )
    retrain_every_hours: float = Field(
        default=168, gt=0, description="Scheduled retrain: train when the newest registered version is older than this."
    )


class EvaluationConfig(_Strict):
    """How the champion and challenger are compared."""

    holdout_fraction: float = Field(default=0.25, gt=0, lt=1)
    batch_size: int = Field(default=1024, ge=1, le=8192)


class OnlineEvidenceConfig(_Strict):
    """Online shadow evidence: capture records of live traffic joined with labels that arrived later."""

    enabled: bool = Field(default=True, description="Judge online evidence when the shadow window is complete.")
    required: bool = Field(
        default=False,
        description="Hold (challenger stays in shadow, training pauses) until the shadow window is complete.",
    )
    min_duration_hours: float = Field(default=336, gt=0, description="Shadow window length needed (default 14 days).")
    min_labelled_rows: int = Field(default=1000, ge=1, description="Labelled mirrored entities needed.")
    max_latency_p99_ratio: float = Field(
        default=2.0, gt=0, description="Guardrail: challenger p99 latency / champion p99 latency on mirrored requests."
    )


class DecisionConfig(_Strict):
    """Rules that turn paired champion/challenger scores into promote, hold or reject.

    Validated when built, like MLflow's ``MetricThreshold``.
    """

    primary_metric: MetricName = "roc_auc"
    min_improvement: float = Field(default=0.0, ge=0, description="Minimum absolute gain on the primary metric.")
    min_relative_improvement: float = Field(default=0.0, ge=0, description="Minimum gain relative to the champion.")
    quality_floor: float = Field(default=0.0, description="Never promote a model below this.")
    confidence_level: float = Field(default=0.95, gt=0.5, lt=1, description="Two-sided level of the paired CI.")
    bootstrap_samples: int = Field(default=1000, ge=100, le=20000)
    min_samples: int = Field(default=200, ge=1, description="Paired rows needed before any decision.")
    guardrails: dict[MetricName, float] = Field(
        default_factory=lambda: {"log_loss": 0.02},
        description="Metric → largest tolerated regression of the challenger (absolute).",
    )
    slice_columns: list[str] = Field(default_factory=list, description="Columns whose values are checked one by one.")
    slice_tolerance: float = Field(default=0.03, ge=0, description="Largest tolerated primary-metric drop in any slice.")
    min_slice_samples: int = Field(default=100, ge=1, description="Slices with fewer rows are not judged.")
    online: OnlineEvidenceConfig = OnlineEvidenceConfig()


class DriftConfig(_Strict):
    """Evidently drift report settings."""

    max_rows: int = Field(default=20000, ge=100, description="Each side is sampled down to this many rows (said in the report).")
    drift_share: float = Field(default=0.5, gt=0, le=1, description="Dataset drift when this share of features drifted.")
    prediction_drift: bool = Field(default=True, description="Also compare the champion's outputs on both sides.")
    target_drift: bool = Field(default=True, description="Also compare the label distribution on both sides.")
    triggers: list[Literal["features", "prediction", "target"]] = Field(
        default_factory=lambda: ["features", "prediction", "target"],
        description="Which detected drifts trigger training (training.trigger = drift_or_schedule).",
    )


class WatchConfig(_Strict):
    """Post-promotion watch: roll back a new champion that misbehaves in its first hours."""

    window_hours: float = Field(default=24, gt=0, description="How long after a promotion the champion is watched.")
    min_requests: int = Field(default=20, ge=1, description="Requests needed before judging the champion.")
    max_error_rate: float = Field(default=0.05, ge=0, le=1, description="Failed share of requests that triggers a rollback.")
    max_mean_latency_ms: float = Field(default=250, gt=0, description="Mean request latency that triggers a rollback.")
    label_metric: MetricName = Field(
        default="roc_auc", description="Label-based metric of the champion's logged live predictions, once labels arrive."
    )
    max_label_metric_drop: float = Field(
        default=0.05, ge=0, description="Largest tolerated drop of label_metric below the champion's offline value."
    )
    min_labelled_rows: int = Field(default=200, ge=1, description="Labelled live predictions needed to judge label_metric.")


class ServingConfig(_Strict):
    """How Triton's router answers, mirrors and captures while a challenger is deployed."""

    shadow_fraction: float = Field(
        default=1.0,
        ge=0,
        le=1,
        description="Share of entities whose requests are mirrored to the challenger (champion still answers).",
    )
    canary_fraction: float = Field(
        default=0.0,
        ge=0,
        le=1,
        description="Share of entities answered by the challenger instead of the champion (sticky per entity).",
    )
    capture_dir: Path = Field(
        default=Path("captures"),
        description="Where the router writes shadow capture records (Parquet by hour); relative to the runtime folder.",
    )
    capture_flush_rows: int = Field(default=1000, ge=1, description="Capture records buffered before a Parquet file is written.")
    capture_flush_seconds: float = Field(default=10, gt=0, description="Longest a capture record waits in the buffer.")
    shadow_queue_size: int = Field(
        default=1000, ge=1, description="Mirrored requests waiting for the challenger; beyond this, mirrors are dropped."
    )
    shadow_batch_delay_ms: float = Field(
        default=10,
        ge=0,
        le=1000,
        description="The router waits this long to gather mirrored rows into one challenger call (less CPU per row).",
    )
    prediction_log_fraction: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Share of entities whose champion answers are logged to the capture store even without a "
        "challenger (the post-promotion watch joins them with labels).",
    )


class PipelineConfig(_Strict):
    """The whole pipeline configuration (``configs/pipeline.yaml``)."""

    model_name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")
    experiment_name: str
    data: DataConfig
    training: TrainingConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    decision: DecisionConfig = DecisionConfig()
    drift: DriftConfig = DriftConfig()
    watch: WatchConfig = WatchConfig()
    serving: ServingConfig = ServingConfig()
    source_path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _distinct_columns(self) -> PipelineConfig:
        cols = [self.data.target, self.data.timestamp_column, self.data.id_column]
        if len(set(cols)) != len(cols):
            raise ValueError(f"target, timestamp_column and id_column must differ, got {cols}")
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> PipelineConfig:
        """Load and validate a pipeline YAML.

        Args:
            path: the YAML file.

        Returns:
            The validated config, remembering its own path for resolving relative paths.

        Raises:
            ConfigError: the file is missing, not YAML, or breaks the schema (names file and key).
        """
        path = Path(path).resolve()
        raw = _read_yaml(path)
        try:
            return cls.model_validate({**raw, "source_path": path})
        except ValidationError as exc:
            raise ConfigError(_format_validation_error(path, exc)) from None

    def ludwig_config_paths(self) -> dict[str, Path]:
        """Candidate name (file stem) → absolute path of each Ludwig YAML, in name order.

        Raises:
            ConfigError: a pattern matches nothing, or two files share a stem.
        """
        found: dict[str, Path] = {}
        for pattern in self.training.ludwig_configs:
            base = self._config_dir()
            matches = sorted(base.glob(pattern)) if any(c in pattern for c in "*?[") else [_resolve(Path(pattern), base)]
            matches = [m.resolve() for m in matches if m.is_file()]
            if not matches:
                raise ConfigError(f"{self.source_path}: training.ludwig_configs: {pattern!r} matches no file in {base}")
            for path in matches:
                if found.setdefault(path.stem, path) != path:
                    raise ConfigError(f"{self.source_path}: training.ludwig_configs: two candidates named {path.stem!r}")
        return dict(sorted(found.items()))

    def landing_dir(self, home: Path) -> Path:
        """Absolute landing folder; relative paths are resolved against the runtime folder."""
        return _resolve(self.data.landing_dir, home)

    def capture_dir(self, home: Path) -> Path:
        """Absolute capture folder; relative paths are resolved against the runtime folder."""
        return _resolve(self.serving.capture_dir, home)

    def _config_dir(self) -> Path:
        return self.source_path.parent if self.source_path else Path.cwd()


def _resolve(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw


def _format_validation_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        lines.append(f"  - {key}: {err['msg']}")
    return "\n".join(lines)


class FeatureSpec(_Strict):
    """One input feature of the Ludwig model: its column name and Ludwig type."""

    name: str
    type: str

    @property
    def is_numeric(self) -> bool:
        return self.type in NUMERIC_TYPES


class ModelSchema(_Strict):
    """The columns a batch must carry, derived from the pipeline and Ludwig configs."""

    features: tuple[FeatureSpec, ...]
    target: str
    timestamp_column: str
    id_column: str

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def required_columns(self) -> list[str]:
        return [*self.feature_names, self.target, self.timestamp_column, self.id_column]


def load_ludwig_config(path: str | Path) -> dict[str, Any]:
    """Read a Ludwig YAML and check it with Ludwig's own schema.

    Raises:
        ConfigError: naming the file and the offending field.
    """
    path = Path(path)
    raw = _read_yaml(path)
    _check_feature_types(path, raw)
    from ludwig.error import ConfigValidationError
    from ludwig.schema.model_types.base import ModelConfig

    try:
        ModelConfig.from_dict(raw)
    except (ConfigValidationError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: invalid Ludwig config: {exc}") from None
    return raw


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
        ConfigError: an output feature is not the pipeline's binary target, a feature type cannot
            be served, a feature reuses the id/timestamp column, or two candidates disagree on a
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
    return ModelSchema(
        features=tuple(features.values()),
        target=config.data.target,
        timestamp_column=config.data.timestamp_column,
        id_column=config.data.id_column,
    )


def _candidate_features(config: PipelineConfig, ludwig_config: dict[str, Any], path: Path | str) -> list[FeatureSpec]:
    outputs = ludwig_config.get("output_features") or []
    if len(outputs) != 1 or outputs[0].get("name") != config.data.target:
        raise ConfigError(
            f"{path}: output_features must be exactly one feature named {config.data.target!r} "
            f"(data.target in {config.source_path}), got {[o.get('name') for o in outputs]}"
        )
    if outputs[0].get("type") != "binary":
        raise ConfigError(f"{path}: output_features[0].type must be 'binary', got {outputs[0].get('type')!r}")
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


def load_candidate_configs(config: PipelineConfig) -> dict[str, dict[str, Any]]:
    """Load and validate every candidate Ludwig config (name → config)."""
    return {name: load_ludwig_config(path) for name, path in config.ludwig_config_paths().items()}
