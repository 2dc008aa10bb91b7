"""What a cycle trains: the training plan (train / evaluate / skip) and the best candidate (pure)."""

from __future__ import annotations

from collections.abc import Sequence

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.payloads import AliasState, CandidateResult, DriftOutcome, TrainingPlan
from champion_challenger.policy.direction import oriented


def plan_training(
    config: PipelineConfig,
    state: AliasState,
    drift: DriftOutcome,
    newest_version_age_hours: float,
    force: bool = False,
    canary: str | None = None,
) -> TrainingPlan:
    """Decide what this cycle does before any training.

    * ``skip``: a progressive canary is in progress (``canary`` describes it), even when forced: a new
      challenger would replace the one in canary; ``champion_watch`` completes or rolls it back;
    * ``evaluate``: with ``decision.online.required``, a challenger in its shadow window (beside a
      champion) is judged again instead of training a new one (``force`` trains anyway);
    * ``train``: forced, ``training.trigger: always``, no champion yet, a configured drift trigger
      fired, or the scheduled retrain is due (newest version older than ``retrain_every_hours``);
    * ``skip``: none of those.

    Args:
        config: the pipeline config (``training``, ``drift.triggers``, ``decision.online``).
        state: the registry's aliases now.
        drift: this cycle's drift outcome.
        newest_version_age_hours: age of the newest registered version (``inf`` when none).
        force: the trigger form's ``force_train``.
        canary: the canary in progress, in words (None: none).
    """
    if canary is not None:
        return TrainingPlan(
            "skip",
            f"{canary} is in progress{' (force_train ignored)' if force else ''}: no new challenger until champion_watch "
            "completes or rolls it back",
        )
    if config.decision.online.required and state.challenger is not None and state.champion is not None and not force:
        return TrainingPlan(
            "evaluate",
            (
                f"challenger v{state.challenger} is in its shadow window (decision.online.required): "
                "judge it again instead of training a new one"
            ),
            state.challenger,
        )
    reason = training_reason(config, state, drift, newest_version_age_hours, force)
    if reason:
        return TrainingPlan("train", reason)
    rules = config.training
    return TrainingPlan(
        "skip",
        (
            f"no drift that triggers training ({', '.join(config.drift.triggers)}) and the scheduled retrain "
            f"is not due (newest version {newest_version_age_hours:.1f} h old, training.retrain_every_hours "
            f"{rules.retrain_every_hours:g})"
        ),
    )


def training_reason(
    config: PipelineConfig, state: AliasState, drift: DriftOutcome, newest_version_age_hours: float, force: bool = False
) -> str | None:
    """Why this cycle trains, or None when nothing calls for it."""
    rules = config.training
    if force:
        return "forced by the trigger form (force_train)"
    if rules.trigger == "always":
        return "training.trigger is 'always'"
    if state.champion is None:
        return "no champion yet"
    if drift.triggered:
        return "drift detected: " + ", ".join(drift.triggered)
    if newest_version_age_hours >= rules.retrain_every_hours:
        return (
            f"scheduled retrain due: newest version is {newest_version_age_hours:.1f} h old "
            f"(every {rules.retrain_every_hours:g} h)"
        )
    return None


def best_candidate(results: Sequence[CandidateResult], metric: str) -> CandidateResult:
    """The candidate with the best validation ``metric`` (ties: the first by name).

    Raises:
        ValueError: no candidate was trained.
    """
    if not results:
        raise ValueError("no trained candidate to choose from")
    return max(sorted(results, key=lambda r: r.candidate), key=lambda r: oriented(metric, r.metrics[metric]))
