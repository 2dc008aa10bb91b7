"""Training: the plan (train / evaluate / skip), candidates trained, the challenger chosen and registered."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from datetime import UTC, datetime

import pandas as pd

from champion_challenger import tags, tracking
from champion_challenger.cycle.context import CycleContext
from champion_challenger.errors import ConfigError
from champion_challenger.payloads import CandidateResult, Challenger, DriftOutcome, PreparedWindow, TrainingPlan
from champion_challenger.policy.training_plan import best_candidate, plan_training
from champion_challenger.registry import canary as canaries
from champion_challenger.registry import model_registry as registry

#: How the registered model's description names what it predicts.
TASK_NOUNS = {"binary": "binary classifier", "multiclass": "multiclass classifier", "regression": "regressor"}


def decide_training(ctx: CycleContext, prepared: PreparedWindow, drift: DriftOutcome, force: bool = False) -> TrainingPlan:
    """The cycle's training plan (see :func:`~champion_challenger.policy.training_plan.plan_training`),
    recorded on the cycle run."""
    state = registry.alias_state(ctx.client, ctx.model_name)
    canary = canaries.in_progress(ctx.client, ctx.model_name, state)
    in_canary = canary.describe() if canary is not None else None
    plan = plan_training(ctx.config, state, drift, newest_version_age_hours(ctx), force, in_canary)
    ctx.client.set_tag(prepared.cycle_run_id, tags.TRAINING_PLAN, plan.action)
    ctx.client.set_tag(prepared.cycle_run_id, tags.TRAINING_PLAN_REASON, plan.reason)
    return plan


def newest_version_age_hours(ctx: CycleContext) -> float:
    """Hours since the newest registry version was created (``inf`` when there is none)."""
    versions = ctx.client.search_model_versions(f"name = '{ctx.model_name}'")
    if not versions:
        return float("inf")
    newest_ms = max(v.creation_timestamp for v in versions)
    return (datetime.now(UTC).timestamp() * 1000 - newest_ms) / 3_600_000


def select_candidates(ctx: CycleContext, selected: Sequence[str] | None = None) -> list[str]:
    """Names of the candidates to train: all configured ones, or the ``selected`` subset.

    Raises:
        ConfigError: a selected name is not a configured candidate.
    """
    names = list(ctx.ludwig_configs)
    unknown = sorted(set(selected or []) - set(names))
    if unknown:
        raise ConfigError(f"unknown challenger config(s) {unknown}; configured: {names} ({ctx.config.source_path})")
    return [n for n in names if n in selected] if selected else names


def train_candidate(ctx: CycleContext, prepared: PreparedWindow, candidate: str) -> CandidateResult:
    """Train one candidate and log it as a run nested under the cycle run.

    Idempotent: a retry finds the candidate's finished run for this cycle and trains nothing.
    """
    done = tracking.find_run(ctx.client, ctx.experiment_id, prepared.cycle_id, "training", candidate, finished=True)
    if done is None:
        done = _train_and_log(ctx, prepared, candidate)
    run = ctx.client.get_run(done)
    prefix = "best_validation_"
    return CandidateResult(
        candidate=candidate,
        run_id=done,
        model_uri=run.data.tags[tags.MODEL_URI],
        metrics={k[len(prefix) :]: v for k, v in run.data.metrics.items() if k.startswith(prefix)},
    )


def _train_and_log(ctx: CycleContext, prepared: PreparedWindow, candidate: str) -> str:
    from champion_challenger.training.ludwig_trainer import split_validation, train_ludwig

    train_df = pd.read_parquet(ctx.workspace(prepared.cycle_id) / "train.parquet")
    ts = ctx.config.data.timestamp_column
    fit, valid = split_validation(train_df, ts, ctx.config.training.validation_fraction)
    work = ctx.workspace(prepared.cycle_id) / "training" / candidate
    shutil.rmtree(work, ignore_errors=True)
    ludwig_config = ctx.ludwig_configs[candidate]
    trained = train_ludwig(ludwig_config, fit, valid, ctx.schema, work, ctx.config.training.seed, ctx.classes)
    data = tracking.CandidateData(
        fit=fit,
        validation=valid,
        source=str(ctx.store.accepted),
        window_start=str(train_df[ts].min()),
        window_end=str(train_df[ts].max()),
        holdout=pd.read_parquet(ctx.workspace(prepared.cycle_id) / "holdout.parquet"),
    )
    run_id, _ = tracking.log_candidate(
        ctx.tracking_uri,
        ctx.experiment_id,
        prepared.cycle_run_id,
        prepared.cycle_id,
        candidate,
        trained,
        ludwig_config,
        data,
        ctx.schema,
        ctx.config.training.selection_metric,
    )
    return run_id


def choose_challenger(
    ctx: CycleContext, prepared: PreparedWindow, results: Sequence[CandidateResult], dry_run: bool = False
) -> Challenger:
    """The challenger this cycle evaluates: the best candidate, registered as ``@challenger``; in a
    dry run only chosen (nothing registered), so it is scored in-process."""
    best = best_candidate(results, ctx.config.training.selection_metric)
    version = None if dry_run else register_challenger(ctx, prepared, results)
    return Challenger(version=version, model_uri=best.model_uri, candidate=best.candidate)


def register_challenger(ctx: CycleContext, prepared: PreparedWindow, results: Sequence[CandidateResult]) -> int:
    """Register the best candidate as a new version and alias it ``challenger``.

    Idempotent: a retry returns the version this cycle registered the first time.
    """
    existing = registry.find_version_by_tag(ctx.client, ctx.model_name, tags.CYCLE_ID, prepared.cycle_id)
    version = int(existing.version) if existing else _register_best(ctx, prepared, results)
    with ctx.champion_change("register_challenger", "cycle"):  # a concurrent promotion moves aliases too
        registry.set_challenger(ctx.client, ctx.model_name, version)
    return version


def _register_best(ctx: CycleContext, prepared: PreparedWindow, results: Sequence[CandidateResult]) -> int:
    import mlflow

    metric = ctx.config.training.selection_metric
    best = best_candidate(results, metric)
    for result in results:
        ctx.client.log_metric(prepared.cycle_run_id, f"candidate_{result.candidate}_{metric}", result.metrics[metric])
    ctx.client.set_tag(prepared.cycle_run_id, tags.BEST_CANDIDATE, best.candidate)
    train_df = pd.read_parquet(ctx.workspace(prepared.cycle_id) / "train.parquet")
    ts = ctx.config.data.timestamp_column
    registry.ensure_registered_model(ctx.client, ctx.model_name, f"Ludwig {TASK_NOUNS[ctx.task]} of {ctx.schema.target!r}")
    run_tags = ctx.client.get_run(best.run_id).data.tags
    serving = {k: run_tags[k] for k in (tags.SERVING_FORMAT, tags.SERVING_FALLBACK_REASON) if k in run_tags}
    version = mlflow.register_model(
        best.model_uri,
        ctx.model_name,
        tags={
            tags.CYCLE_ID: prepared.cycle_id,
            tags.CANDIDATE: best.candidate,
            tags.TRAIN_END: str(train_df[ts].max()),
            tags.TRAINING_RUN_ID: best.run_id,
            **serving,
        },
    )
    others = ", ".join(f"{r.candidate} {r.metrics[metric]:.4f}" for r in results)
    config_file = ctx.config.ludwig_config_paths()[best.candidate].name
    ctx.client.update_model_version(
        ctx.model_name,
        version.version,
        description=(
            f"Candidate {best.candidate!r} ({config_file}), best validation {metric} of this cycle ({others}). "
            f"Trained in cycle {prepared.cycle_id} on {len(train_df)} rows from {train_df[ts].min()} to "
            f"{train_df[ts].max()}; training run {best.run_id}."
        ),
    )
    return int(version.version)


def train_challenger_in_process(ctx: CycleContext, cycle_id: str) -> int:
    """Claim, validate, prepare, train every candidate and register the best, in this process: the
    DAG's ingest and train groups without Airflow (notebooks, tests, benchmarks).

    Returns:
        The registered version (``@challenger``).

    Raises:
        DataValidationError: a landed batch broke the schema (it was quarantined).
    """
    from champion_challenger.cycle.ingest import accept_batches, claim_batches, prepare_window

    accept_batches(ctx, cycle_id, claim_batches(ctx, cycle_id))
    prepared = prepare_window(ctx, cycle_id)
    results = [train_candidate(ctx, prepared, c) for c in select_candidates(ctx)]
    return register_challenger(ctx, prepared, results)
