"""What the cycle's steps hand each other: frozen dataclasses, small enough for Airflow's XCom.

Airflow serializes dataclasses itself (``airflow.sdk.serde``; the package is on
``[core] allowed_deserialization_classes``), so a DAG task returns one of these and the next task
receives the same object. They carry references (run ids, versions, file paths) and small summaries,
never DataFrames.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

#: ``[core] allowed_deserialization_classes`` of every Airflow process that runs the DAG: Airflow's own
#: classes and these payloads (nothing else of the package is ever deserialized from XCom).
XCOM_DESERIALIZATION_CLASSES = "airflow.* champion_challenger.payloads.*"

PlanAction = Literal["train", "evaluate", "skip"]
Action = Literal["promote", "hold", "reject"]
SequentialAction = Literal["promote", "reject", "hold", "continue"]

#: The registry aliases: ``champion`` (served by default), ``challenger`` (newest candidate),
#: ``previous`` (the champion before the current one, kept for rollback).
CHAMPION = "champion"
CHALLENGER = "challenger"
PREVIOUS = "previous"
ALIASES = (CHAMPION, CHALLENGER, PREVIOUS)


@dataclass(frozen=True)
class AliasState:
    """Which version each alias points to (None when unset)."""

    champion: int | None
    challenger: int | None
    previous: int | None

    def as_dict(self) -> dict[str, int | None]:
        return {CHAMPION: self.champion, CHALLENGER: self.challenger, PREVIOUS: self.previous}

    def served_versions(self) -> list[int]:
        """Versions Triton holds while a challenger is evaluated: champion, challenger and previous."""
        return sorted({v for v in self.as_dict().values() if v is not None})

    def steady_versions(self) -> list[int]:
        """Versions Triton holds between evaluations: the champion and, for instant rollback, the
        previous champion (the router answers with the champion whatever the numbers)."""
        if self.champion is None:
            return []
        return sorted({self.champion} | ({self.previous} if self.previous is not None else set()))


@dataclass(frozen=True)
class PreparedWindow:
    """The cycle's data window, split by time into train and holdout rows (files in the workspace).

    Attributes:
        cycle_id: the Airflow run id; the workspace is ``<CCP_HOME>/runs/<model>/<cycle_id>/``.
        cycle_run_id: the cycle's MLflow run, where every later step logs.
        train_rows / holdout_rows: rows on each side of the split.
        window_start / window_end: event time of the oldest and newest row.
    """

    cycle_id: str
    cycle_run_id: str
    train_rows: int
    holdout_rows: int
    window_start: str
    window_end: str


@dataclass(frozen=True)
class DriftOutcome:
    """What the drift report found, and which of the configured triggers fired.

    Attributes:
        triggered: drift kinds (``features``, ``prediction``, ``target``) that call for training.
        skipped: why no report was made (no champion yet), else None.
        drift_share: share of drifted feature columns (None when skipped).
        drifted_columns: names of the drifted feature columns.
        prediction_drift / target_drift: whether those drifted (None: not computed).
        sampling_note: how the rows were sampled, in words.
    """

    triggered: tuple[str, ...] = ()
    skipped: str | None = None
    drift_share: float | None = None
    drifted_columns: tuple[str, ...] = ()
    prediction_drift: bool | None = None
    target_drift: bool | None = None
    sampling_note: str = ""

    def __post_init__(self) -> None:
        _restore(self, triggered=tuple, drifted_columns=tuple)


@dataclass(frozen=True)
class TrainingPlan:
    """What the cycle does before any training.

    Attributes:
        action: ``train`` new candidates, ``evaluate`` the challenger already in its shadow window
            again, or ``skip`` (no drift, no scheduled retrain due).
        reason: why, in words.
        version: for ``evaluate``, the challenger's registry version.
    """

    action: PlanAction
    reason: str
    version: int | None = None


@dataclass(frozen=True)
class CandidateResult:
    """One trained candidate: its nested MLflow run, model URI and validation metrics."""

    candidate: str
    run_id: str
    model_uri: str
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Challenger:
    """The model this cycle evaluates against the champion.

    Attributes:
        version: its registry version (``@challenger``); None in a dry run, where nothing is
            registered and the candidate is scored in-process from ``model_uri``.
        model_uri: the candidate's logged model (None when an earlier cycle's challenger is reused).
        candidate: the candidate's name (None when reused).
    """

    version: int | None
    model_uri: str | None = None
    candidate: str | None = None

    @property
    def registered(self) -> bool:
        """Whether the challenger is a registry version (it can be deployed and promoted)."""
        return self.version is not None


@dataclass(frozen=True)
class ShadowWindow:
    """How much online evidence exists for one champion/challenger pair.

    Attributes:
        champion / challenger: the versions compared.
        first_capture / last_capture: ISO timestamps of the first and newest capture (None: none yet).
        duration_hours: hours between the first capture and ``now``.
        captured_entities: distinct entities mirrored to the challenger.
        labelled_rows: of those, entities whose label has arrived (the paired rows).
        complete: the window reached both the minimum duration and the minimum labelled rows.
        reason: the window's state in words.
    """

    champion: int | None
    challenger: int
    first_capture: str | None
    last_capture: str | None
    duration_hours: float
    captured_entities: int
    labelled_rows: int
    complete: bool
    reason: str

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class OnlineEvidence:
    """Live traffic mirrored to the challenger, joined with labels that arrived later.

    Attributes:
        window: how long and large the shadow window is, and whether it is complete.
        paired_scores: Parquet file of the paired rows (same columns as the offline replay's).
        latency_p99_ms: ``champion`` / ``challenger`` p99 latency on mirrored requests (empty: none).
        champion / challenger: both models' metrics on the paired rows (empty: too few or one class).
    """

    window: ShadowWindow
    paired_scores: str
    latency_p99_ms: dict[str, float] = field(default_factory=dict)
    champion: dict[str, float | None] = field(default_factory=dict)
    challenger: dict[str, float | None] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _restore(self, window=ShadowWindow)
        _finite_metrics(self, "champion", "challenger")


@dataclass(frozen=True)
class Evidence:
    """Everything the gate judges: the offline replay and, when a champion exists, online evidence.

    Attributes:
        cycle_run_id: the cycle's MLflow run.
        champion_version / challenger_version: the versions compared (champion None: first model;
            challenger None: a dry run, scored in-process).
        rows: holdout rows of the offline replay.
        champion / challenger: both models' metrics on the holdout (champion empty without one).
        paired_scores: Parquet file of labels and both models' scores on the same holdout rows.
        online: the online evidence, or None (no champion, dry run, or ``decision.online.enabled`` off).
        replay_rows_per_second: rows scored per second through Triton in the replay (both models' rows;
            None when nothing went through Triton).
    """

    cycle_run_id: str
    champion_version: int | None
    challenger_version: int | None
    rows: int
    challenger: dict[str, float | None]
    paired_scores: str
    champion: dict[str, float | None] = field(default_factory=dict)
    online: OnlineEvidence | None = None
    replay_rows_per_second: float | None = None

    def __post_init__(self) -> None:
        _restore(self, online=OnlineEvidence)
        _finite_metrics(self, "champion", "challenger")

    @property
    def dry_run(self) -> bool:
        """Whether the challenger was scored in-process without being registered."""
        return self.challenger_version is None

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (``decision.json``, the version description)."""
        return asdict(self)


@dataclass(frozen=True)
class CheckResult:
    """One check of the gate, passed or not, with the numbers behind it (like MLflow's
    ``_MetricValidationResult``): the primary metric's paired CI, a guardrail, a slice, the floor.

    Attributes:
        name: ``primary:<metric>``, ``guardrail:<metric>``, ``slice:<column>=<value>``,
            ``quality_floor``, ``min_samples``; prefixed ``offline/`` or ``online/`` once combined.
        passed: whether the check holds.
        reason: the check in words, with its values and limit.
        champion / challenger: the values compared (None where not applicable).
        ci_low / ci_high: the CI of the challenger's gain (primary check only).
        limit: the threshold the check applies (tolerance, floor, minimum).
    """

    name: str
    passed: bool
    reason: str
    champion: float | None = None
    challenger: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    limit: float | None = None


@dataclass(frozen=True)
class SequentialOutcome:
    """Where the always-valid test stands after one look.

    Attributes:
        action: ``promote``, ``reject``, ``hold`` (futility or maximum duration) or ``continue``.
        reason: the outcome in plain words.
        rows: labelled paired rows seen.
        mean_gain: their mean gain (loss units; positive = challenger better); None before the first look.
        low / high: the confidence sequence's bounds of the mean gain at this sample size; None before
            the first look (never NaN or infinite: XCom travels as strict JSON).
        alpha: the one-sided error level the test ran at.
        loss: the per-row loss (``brier``, ``log_loss`` or ``accuracy``: 0/1 error).
    """

    action: SequentialAction
    reason: str
    rows: int
    mean_gain: float | None
    low: float | None
    high: float | None
    alpha: float
    loss: str


@dataclass(frozen=True)
class BudgetSpend:
    """This cycle's share of the lifetime error budget (:mod:`champion_challenger.policy.error_budget`).

    Attributes:
        test: which judged challenger this is (1, 2, ...), counted over the pipeline's life.
        level: the one-sided error level both kinds of evidence were judged at.
        alpha: the lifetime budget.
        remaining: what is left for every later test once this one is counted (before any carry
            a promotion passes on).
    """

    test: int
    level: float
    alpha: float
    remaining: float


@dataclass(frozen=True)
class Decision:
    """The cycle's decision: the gate's verdict with every check, and how the trigger form changed it.

    Attributes:
        action: ``promote``, ``hold`` or ``reject`` (a dry run is always ``hold``).
        reason: why, in words.
        metric: the primary metric judged.
        champion_value / challenger_value: the primary metric of both models (champion None: first model).
        checks: every check, passed or failed.
        online_window: the shadow window's state, when online evidence was gathered.
        forced: ``force_promote`` overrode the gate.
        dry_run: nothing may change; ``would`` says what the gate decided.
        would: in a dry run, the action the gate would have taken.
        sequential: where the always-valid online test stands (None: not looked at).
        budget: the share of the error budget this decision was judged at (None: budget off or no test).
    """

    action: Action
    reason: str
    metric: str
    challenger_value: float
    champion_value: float | None = None
    checks: tuple[CheckResult, ...] = ()
    online_window: ShadowWindow | None = None
    forced: bool = False
    dry_run: bool = False
    would: Action | None = None
    sequential: SequentialOutcome | None = None
    budget: BudgetSpend | None = None

    def __post_init__(self) -> None:
        _restore(self, checks=CheckResult, online_window=ShadowWindow, sequential=SequentialOutcome, budget=BudgetSpend)

    def as_dict(self) -> dict[str, Any]:
        """Plain dict (``decision.json``, the comparison report)."""
        return asdict(self)


def _finite_metrics(payload: Any, *names: str) -> None:
    """Metric dicts with NaN/inf values as None (undefined: ROC AUC on one class, R² on constant labels):
    XCom travels as strict JSON, which has no NaN."""
    for name in names:
        values = getattr(payload, name)
        clean = {k: (v if v is None or math.isfinite(v) else None) for k, v in values.items()}
        object.__setattr__(payload, name, clean)


def _restore(payload: Any, **kinds: type) -> None:
    """Rebuild nested fields that arrive as plain values after an XCom round trip.

    Airflow's serde restores the outer dataclass only: a nested dataclass comes back as a dict and a
    tuple may come back as a list. ``kinds`` maps a field to its type; a tuple field of dataclasses
    is named by the element type.
    """
    names = {f.name for f in fields(payload)}
    for name, kind in kinds.items():
        assert name in names, name
        value = getattr(payload, name)
        if isinstance(value, dict) and kind is not dict:
            value = kind(**value)
        elif isinstance(value, list | tuple):
            value = tuple(kind(**v) if isinstance(v, dict) else v for v in value) if kind is not tuple else tuple(value)
        object.__setattr__(payload, name, value)
