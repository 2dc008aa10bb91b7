"""The sections of a pipeline YAML (data, training, decision, drift, watch, serving, ...) as typed models.

Every model rejects unknown keys (:class:`StrictModel`); :class:`~champion_challenger.config.pipeline.PipelineConfig`
puts them together and checks them against the pipeline's task.
"""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from champion_challenger.errors import ConfigError
from champion_challenger.task import ALL_METRICS, ALL_ONLINE_LOSSES

#: Every metric of every task (:mod:`champion_challenger.task` says which fit which task; the pipeline
#: config is checked against its task at load). ``ece`` is the expected calibration error (10 equal-width
#: bins), ``class_recall`` a multiclass guardrail on each class's recall. Which way is better for each
#: metric is :mod:`champion_challenger.policy.direction`'s to say.
MetricName = Literal[
    "accuracy", "roc_auc", "f1", "precision", "recall", "log_loss", "brier", "ece",
    "macro_f1", "class_recall", "rmse", "mae", "r2", "smape",
]  # fmt: skip
OnlineLoss = Literal["brier", "log_loss", "accuracy", "absolute_error", "squared_error"]
assert set(get_args(MetricName)) == set(ALL_METRICS) and set(get_args(OnlineLoss)) == set(ALL_ONLINE_LOSSES)


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are rejected, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DataConfig(StrictModel):
    """Where batches land and which columns carry the label, time and entity id."""

    landing_dir: Path = Field(description="Folder where batch files arrive.")
    file_pattern: str = Field(default="*.csv", description="Glob of batch files (csv or parquet).")
    target: str = Field(
        description="Label column: 0/1 (or true/false) for a binary output feature, class labels for a category "
        "output feature (multiclass), numbers for a number output feature (regression)."
    )
    timestamp_column: str = Field(
        description="Event time column (an ISO 8601 date or date-time); orders rows for holdout and windows."
    )
    id_column: str | None = Field(
        default=None,
        description="Entity id column; never used as a feature. None: the pipeline derives a stable row key "
        "from each row's values (online evidence then cannot join late labels to live requests).",
    )
    classes: list[str] | None = Field(
        default=None,
        min_length=2,
        description="Multiclass: the known classes. None: the classes of the batches accepted so far.",
    )
    stable_seconds: float = Field(
        default=2.0,
        ge=0,
        le=3600,
        description="A landing file is claimed only once unchanged for this long (a file still being written waits "
        "for the next cycle). Write elsewhere and move it in, or rely on this.",
    )
    unseen_classes: Literal["quarantine", "accept"] = Field(
        default="quarantine",
        description="Multiclass: a label outside the known classes quarantines its batch ('quarantine'), or the "
        "batch is accepted, the new class counted and flagged as target drift ('accept').",
    )


class TrainingConfig(StrictModel):
    """What the challengers are trained from and how the best one is chosen."""

    ludwig_configs: list[str] = Field(
        default=["ludwig/*.yaml"],
        min_length=1,
        description="Candidate Ludwig YAMLs (globs allowed), relative to the pipeline YAML; one challenger each.",
    )
    selection_metric: MetricName = Field(
        default="roc_auc",
        description="Metric on the validation rows that picks the best candidate (default: decision.primary_metric).",
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


class EvaluationConfig(StrictModel):
    """How the champion and challenger are compared."""

    holdout_fraction: float = Field(default=0.25, gt=0, lt=1)
    batch_size: int = Field(default=4096, ge=1, le=8192)


class OnlineEvidenceConfig(StrictModel):
    """Online shadow evidence: capture records of live traffic joined with labels that arrived later."""

    enabled: bool = Field(default=True, description="Judge online evidence once enough labelled rows arrived.")
    required: bool = Field(
        default=False,
        description="Hold (challenger stays in shadow, training pauses) until the online evidence is decided.",
    )
    test: Literal["sequential", "fixed_horizon"] = Field(
        default="sequential",
        description="'sequential': an always-valid test looked at every cycle, stopping early for success, harm or "
        "futility (policy/sequential.py); 'fixed_horizon': judged once, after min_duration_hours.",
    )
    loss: OnlineLoss = Field(
        default="brier",
        description="Per-row loss whose paired difference the sequential test judges (default per task: brier for "
        "classifiers, absolute_error for regression).",
    )
    error_cap: float | None = Field(
        default=None,
        gt=0,
        description="Regression: per-row errors are capped at this (label units) so the test's gains are bounded; "
        "None: the range of the labels in the offline holdout.",
    )
    min_duration_hours: float = Field(
        default=336, gt=0, description="fixed_horizon: the shadow window length needed (default 14 days)."
    )
    max_duration_hours: float = Field(
        default=336, gt=0, description="sequential: an undecided test holds after this much shadow traffic (14 days)."
    )
    futility_gain: float = Field(
        default=0.001, ge=0, description="sequential: hold early when even the best-case mean gain is below this."
    )
    planned_rows: int = Field(
        default=10_000, ge=1, description="sequential: labelled rows the test is sharpest at (valid at any number)."
    )
    min_labelled_rows: int = Field(default=1000, ge=1, description="Labelled mirrored entities needed before any look.")
    max_latency_p99_ratio: float = Field(
        default=2.0, gt=0, description="Guardrail: challenger p99 latency / champion p99 latency on mirrored requests."
    )


class ErrorBudgetConfig(StrictModel):
    """The lifetime error budget: P(ever promoting a challenger that is not better) <= alpha (policy/error_budget.py)."""

    enabled: bool = Field(
        default=True, description="Give every judged challenger its share of alpha; off: confidence_level every cycle."
    )
    alpha: float = Field(default=0.05, gt=0, le=0.2, description="Lifetime probability of a false promotion.")


def _default_guardrails() -> dict[MetricName, float]:
    return {"log_loss": 0.02}


class DecisionConfig(StrictModel):
    """Rules that turn paired champion/challenger scores into promote, hold or reject.

    Validated when built, like MLflow's ``MetricThreshold``.
    """

    primary_metric: MetricName = Field(
        default="roc_auc", description="The metric the gate judges (default per task: roc_auc, macro_f1, rmse)."
    )
    min_improvement: float = Field(default=0.0, ge=0, description="Minimum absolute gain on the primary metric.")
    min_relative_improvement: float = Field(default=0.0, ge=0, description="Minimum gain relative to the champion.")
    quality_floor: float | None = Field(
        default=None, description="Never promote a model worse than this on the primary metric (None: no floor)."
    )
    confidence_level: float = Field(
        default=0.95, gt=0.5, lt=1, description="Two-sided level of the paired CI when error_budget is off."
    )
    bootstrap_samples: int = Field(default=1000, ge=100, le=20000)
    min_samples: int = Field(default=200, ge=1, description="Paired rows needed before any decision.")
    guardrails: dict[MetricName, float] = Field(
        default_factory=_default_guardrails,
        description="Metric → largest tolerated regression of the challenger (absolute); default per task.",
    )
    slice_columns: list[str] = Field(default_factory=list, description="Columns whose values are checked one by one.")
    slice_tolerance: float = Field(default=0.03, ge=0, description="Largest tolerated primary-metric drop in any slice.")
    min_slice_samples: int = Field(default=100, ge=1, description="Slices with fewer rows are not judged.")
    online: OnlineEvidenceConfig = OnlineEvidenceConfig()
    error_budget: ErrorBudgetConfig = ErrorBudgetConfig()
    approval: Literal["none", "required"] = Field(
        default="none",
        description="required: a gate's promote waits for a person's Approve in the Airflow UI (human-in-the-loop "
        "task promote.approve) before the promotion transaction; Reject, or no answer within "
        "approval_timeout_hours, holds the challenger, recording who and why.",
    )
    approval_timeout_hours: float = Field(
        default=24, gt=0, description="How long a promotion waits for an answer before it holds (read when the DAG is parsed)."
    )


DriftTrigger = Literal["features", "prediction", "target"]


def _all_drift_triggers() -> list[DriftTrigger]:
    return ["features", "prediction", "target"]


class DriftConfig(StrictModel):
    """Evidently drift report settings."""

    max_rows: int = Field(default=20000, ge=100, description="Each side is sampled down to this many rows (said in the report).")
    drift_share: float = Field(default=0.5, gt=0, le=1, description="Dataset drift when this share of features drifted.")
    prediction_drift: bool = Field(default=True, description="Also compare the champion's outputs on both sides.")
    target_drift: bool = Field(default=True, description="Also compare the label distribution on both sides.")
    triggers: list[DriftTrigger] = Field(
        default_factory=_all_drift_triggers,
        description="Which detected drifts trigger training (training.trigger = drift_or_schedule).",
    )


class WatchConfig(StrictModel):
    """Post-promotion watch: roll back a new champion that misbehaves in its first hours."""

    window_hours: float = Field(default=24, gt=0, description="How long after a promotion the champion is watched.")
    min_requests: int = Field(default=20, ge=1, description="Requests needed before judging the champion.")
    max_error_rate: float = Field(default=0.05, ge=0, le=1, description="Failed share of requests that triggers a rollback.")
    max_mean_latency_ms: float = Field(default=250, gt=0, description="Mean request latency that triggers a rollback.")
    label_metric: MetricName = Field(
        default="roc_auc",
        description="Label-based metric of the champion's logged live predictions, once labels arrive "
        "(default: decision.primary_metric).",
    )
    max_label_metric_drop: float = Field(
        default=0.05, ge=0, description="Largest tolerated drop of label_metric below the champion's offline value."
    )
    min_labelled_rows: int = Field(default=200, ge=1, description="Labelled live predictions needed to judge label_metric.")


class ServingConfig(StrictModel):
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
    canary_steps: list[float] = Field(
        default_factory=list,
        description="Progressive canary: a promotion the gate (and any approval) decided first lets the challenger "
        "answer these growing shares of entities, one step per canary_step_hours while the champion watch's live "
        "signals hold; the last step completes the promotion, a breach returns to 0 and records a rollback. "
        "Empty: promote at once.",
    )
    canary_step_hours: float = Field(
        default=1, gt=0, description="How long each canary step lasts before the watch may widen it."
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
    disagreement_tolerance: float = Field(
        default=0.0,
        ge=0,
        description="Regression: a mirrored row counts as a disagreement when the two predictions differ by more "
        "than this (label units); classifiers disagree when the predicted labels differ.",
    )
    prediction_log_fraction: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="Share of entities whose champion answers are logged to the capture store even without a "
        "challenger (the post-promotion watch joins them with labels).",
    )

    @model_validator(mode="after")
    def _growing_canary_steps(self) -> ServingConfig:
        steps = self.canary_steps
        if any(not 0 < step <= 1 for step in steps) or any(b <= a for a, b in pairwise(steps)):
            raise ValueError(f"serving.canary_steps must be growing shares in (0, 1], e.g. [0.05, 0.25, 0.5]; got {steps}")
        return self


class ChangesConfig(StrictModel):
    """One champion change at a time: the lease every changer of the model holds (``registry.lease``)."""

    lease_seconds: float = Field(
        default=120, ge=2, le=3600, description="A holder that stops renewing (a killed process) loses the lease after this long."
    )
    wait_seconds: float = Field(
        default=600, ge=0, description="How long a second changer waits for the holder before failing with its name."
    )
    mirror_stages: bool = Field(
        default=False,
        description="Also mirror the champion as the deprecated stage Production (the replaced one Archived); "
        "aliases are the truth and a stage failure never fails a change.",
    )


class RetentionConfig(StrictModel):
    """How long the capture store and the per-cycle workspaces (``<CCP_HOME>/runs/<model>/<run_id>/``) are kept.
    Batch data (raw, accepted, quarantine) is never pruned: it is the lineage of every model."""

    capture_days: float = Field(default=30, gt=0, description="Capture partitions older than this are deleted.")
    capture_max_gb: float | None = Field(
        default=None, gt=0, description="Beyond this size the oldest capture partitions go too. None: no size limit."
    )
    run_days: float = Field(default=14, ge=1, description="Cycle workspaces untouched this long are deleted.")
    run_max_gb: float | None = Field(
        default=None, gt=0, description="Beyond this size the oldest cycle workspaces go too. None: no size limit."
    )


def resolve_path(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else (base / path).resolve()


def read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    return raw
