"""Typed pipeline configuration, validated at load.

One ``PipelineConfig.from_yaml`` reads the pipeline YAML; unknown keys are rejected and every
problem is raised as a :class:`~champion_challenger.errors.ConfigError` naming the file and the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, ValidationInfo, model_validator

from champion_challenger.config.sections import (
    ChangesConfig,
    DataConfig,
    DecisionConfig,
    DriftConfig,
    EvaluationConfig,
    RetentionConfig,
    ServingConfig,
    StrictModel,
    TrainingConfig,
    WatchConfig,
    read_yaml,
    resolve_path,
)
from champion_challenger.config.task_config import detect_task, metric_problems, with_task_defaults
from champion_challenger.errors import ConfigError
from champion_challenger.task import TASK_DEFAULTS, TaskKind


class PipelineConfig(StrictModel):
    """The whole pipeline configuration (``configs/pipelines/churn_classifier.yaml``).

    ``task`` is not written in the YAML: :meth:`from_yaml` reads it from the candidates' Ludwig output
    feature (the same in every candidate) and fills the metric settings the YAML leaves out with that
    task's defaults (:data:`champion_challenger.task.TASK_DEFAULTS`); a metric that does not fit the task
    is refused, naming the key and the metrics that fit.
    """

    model_name: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_\-]*$")
    experiment_name: str
    task: TaskKind = Field(default="binary", description="Derived from the Ludwig output feature at load.")
    data: DataConfig
    training: TrainingConfig
    evaluation: EvaluationConfig = EvaluationConfig()
    decision: DecisionConfig = DecisionConfig()
    drift: DriftConfig = DriftConfig()
    watch: WatchConfig = WatchConfig()
    serving: ServingConfig = ServingConfig()
    changes: ChangesConfig = ChangesConfig()
    retention: RetentionConfig = RetentionConfig()
    source_path: Path | None = Field(default=None, exclude=True)

    @model_validator(mode="before")
    @classmethod
    def _task_defaults(cls, data: Any) -> Any:
        """Fill the metric settings the YAML leaves out with the task's defaults."""
        if isinstance(data, dict) and data.get("task") in TASK_DEFAULTS:
            data = with_task_defaults(data, data["task"])
        return data

    @model_validator(mode="after")
    def _check(self, info: ValidationInfo) -> PipelineConfig:
        columns = [c for c in (self.data.target, self.data.timestamp_column, self.data.id_column) if c]
        if len(set(columns)) != len(columns):
            raise ValueError(f"target, timestamp_column and id_column must differ, got {columns}")
        if not (info.context or {}).get("task_unknown"):
            problems = metric_problems(self.task, self.decision, self.training, self.watch)
            if problems:
                raise ValueError("; ".join(problems))
        return self

    @classmethod
    def from_yaml(cls, path: str | Path) -> PipelineConfig:
        """Load and validate a pipeline YAML.

        Args:
            path: the YAML file.

        Returns:
            The validated config, remembering its own path for resolving relative paths, with its
            ``task`` read from the candidates' Ludwig output feature.

        Raises:
            ConfigError: the file is missing, not YAML, breaks the schema, its candidates disagree on
                the output feature, or a metric does not fit the task (names file and key).
        """
        path = Path(path).resolve()
        raw = {**read_yaml(path), "source_path": path}
        try:
            unchecked = cls.model_validate(raw, context={"task_unknown": True})
            task = detect_task(unchecked.ludwig_config_paths(), unchecked.data.target, path)
            if raw.get("task", task) != task:
                raise ConfigError(f"{path}: task: {raw['task']!r} disagrees with the Ludwig output feature ({task!r})")
            return cls.model_validate({**raw, "task": task})
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
            matches = sorted(base.glob(pattern)) if any(c in pattern for c in "*?[") else [resolve_path(Path(pattern), base)]
            matches = [m.resolve() for m in matches if m.is_file()]
            if not matches:
                raise ConfigError(f"{self.source_path}: training.ludwig_configs: {pattern!r} matches no file in {base}")
            for path in matches:
                if found.setdefault(path.stem, path) != path:
                    raise ConfigError(f"{self.source_path}: training.ludwig_configs: two candidates named {path.stem!r}")
        return dict(sorted(found.items()))

    def landing_dir(self, home: Path) -> Path:
        """Absolute landing folder; relative paths are resolved against the runtime folder."""
        return resolve_path(self.data.landing_dir, home)

    def capture_dir(self, home: Path) -> Path:
        """Absolute capture folder; relative paths are resolved against the runtime folder."""
        return resolve_path(self.serving.capture_dir, home)

    def _config_dir(self) -> Path:
        return self.source_path.parent if self.source_path else Path.cwd()


def _format_validation_error(path: Path, exc: ValidationError) -> str:
    lines = [f"{path}: invalid configuration"]
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "<root>"
        lines.append(f"  - {key}: {err['msg']}")
    return "\n".join(lines)
