"""Evidence: the offline replay of the newest holdout and the online shadow evidence, then the gate.

Offline replay: the holdout is scored through Triton by the champion and the challenger on the same
rows. Online: the router's capture records of this champion/challenger pair joined with labels that
arrived later. The verdict itself is :mod:`champion_challenger.policy` (pure).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

from champion_challenger.config.sections import DecisionConfig
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.error_budget import level_for
from champion_challenger.data.store import load_window
from champion_challenger.errors import ConfigError
from champion_challenger.evaluation.shadow_evidence import latency_p99, pair_with_labels, shadow_window
from champion_challenger.metrics import task_metrics
from champion_challenger.payloads import Challenger, Decision, Evidence, OnlineEvidence, PreparedWindow
from champion_challenger.policy.decision import decision_rules, final_decision
from champion_challenger.policy.error_budget import confidence_for
from champion_challenger.policy.evidence import OnlineScores, judge_evidence
from champion_challenger.policy.gate import PairedScores
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving.capture import read_captures
from champion_challenger.task import encode_labels, score_cells, stack_scores

log = logging.getLogger(__name__)


def gather_evidence(ctx: CycleContext, prepared: PreparedWindow, challenger: Challenger) -> Evidence:
    """Both kinds of evidence on ``challenger``: the offline replay and, when a champion exists and
    the challenger is registered, the online shadow evidence (``decision.online.enabled``)."""
    champion = registry.alias_version(ctx.client, ctx.model_name, registry.CHAMPION)
    champion_version = int(champion.version) if champion else None
    evidence = replay_holdout(ctx, prepared, champion_version, challenger)
    if champion_version is not None and challenger.registered and ctx.config.decision.online.enabled:
        online = online_evidence(ctx, prepared.cycle_id, champion_version, challenger.version)
        evidence = dataclasses.replace(evidence, online=online)
    return evidence


def replay_holdout(ctx: CycleContext, prepared: PreparedWindow, champion: int | None, challenger: Challenger) -> Evidence:
    """Score the newest labelled holdout by both models on the same rows (``paired_scores.parquet``).

    The champion and a registered challenger are scored through Triton; a dry run's challenger
    (not registered) is scored in-process from its model URI. Scores are the task's
    (:mod:`champion_challenger.task`); a multiclass model's class probabilities are put in the
    pipeline's class order (``ctx.classes``) by class name.
    """
    holdout = pd.read_parquet(ctx.workspace(prepared.cycle_id) / "holdout.parquet")
    target = ctx.schema.target
    paired = holdout[[target, *slice_columns(ctx)]].copy()
    y = encode_labels(ctx.task, paired[target], ctx.classes)
    versions = {"challenger": challenger.version} if challenger.registered else {}
    versions |= {"champion": champion} if champion is not None else {}
    started = time.perf_counter()
    scores = {role: _score_through_triton(ctx, holdout, version) for role, version in versions.items()}
    replay_rate = len(holdout) * len(scores) / (time.perf_counter() - started) if scores and len(holdout) else None
    if replay_rate is not None:
        log.info("offline replay: %d rows x %d model(s) through Triton, %.0f rows/s", len(holdout), len(scores), replay_rate)
    if not challenger.registered:
        scores["challenger"] = _score_in_process(ctx, challenger.model_uri, holdout)
    metrics = {role: task_metrics(ctx.task, y, role_scores) for role, role_scores in scores.items()}
    for role, role_scores in scores.items():
        paired[role] = score_cells(role_scores)
    path = ctx.workspace(prepared.cycle_id) / "paired_scores.parquet"
    paired.to_parquet(path, index=False)
    return Evidence(
        cycle_run_id=prepared.cycle_run_id,
        champion_version=champion,
        challenger_version=challenger.version,
        rows=len(holdout),
        challenger=metrics["challenger"],
        champion=metrics.get("champion", {}),
        paired_scores=str(path),
        replay_rows_per_second=replay_rate,
    )


def online_evidence(ctx: CycleContext, cycle_id: str, champion: int, challenger: int) -> OnlineEvidence:
    """Capture records of ``champion``/``challenger`` since the challenger was registered, joined
    with labels that arrived later, and whether the shadow window is complete."""
    registered = ctx.client.get_model_version(ctx.model_name, str(challenger)).creation_timestamp
    captures = read_captures(ctx.capture_dir, ctx.model_name, since=datetime.fromtimestamp(registered / 1000, UTC))
    captures = captures[(captures["champion_version"] == champion) & (captures["challenger_version"] == challenger)]
    paired = pair_with_labels(captures, labelled_rows(ctx), ctx.schema, slice_columns(ctx), ctx.classes)
    paired = paired.sort_values("captured_at", kind="stable")  # arrival order: the sequential test reads it so
    window = shadow_window(captures, paired, champion, challenger, ctx.config.decision.online, datetime.now(UTC))
    path = ctx.workspace(cycle_id) / "online_paired_scores.parquet"
    paired.to_parquet(path, index=False)
    metrics: dict[str, dict[str, float]] = {}
    if len(paired) and (ctx.task == "regression" or paired[ctx.schema.target].nunique() > 1):
        y = encode_labels(ctx.task, paired[ctx.schema.target], ctx.classes)
        metrics = {role: task_metrics(ctx.task, y, stack_scores(paired[role], ctx.task)) for role in ("champion", "challenger")}
    return OnlineEvidence(window=window, paired_scores=str(path), latency_p99_ms=latency_p99(captures), **metrics)


def decide(
    ctx: CycleContext,
    evidence: Evidence,
    overrides: dict[str, Any] | None = None,
    force_promote: bool = False,
    dry_run: bool = False,
) -> Decision:
    """The cycle's decision: the gate on all the evidence, with the trigger form's ``overrides``,
    ``force_promote`` and ``dry_run`` applied (a dry run never promotes; it says what it would have done).

    With ``decision.error_budget`` on, a challenger judged against a champion is one test of the
    lifetime budget: both the offline replay's CI and the online sequential test run at its level.

    Raises:
        ConfigError: an override is not a valid decision setting.
    """
    rules = decision_rules(ctx.config.decision, overrides, ctx.task)
    budget = None
    if rules.error_budget.enabled and evidence.champion_version is not None:
        budget = level_for(ctx, evidence.challenger_version)
        rules = rules.model_copy(update={"confidence_level": confidence_for(budget.level)})
    online = None
    if evidence.online is not None:
        online_scores = load_paired_scores(ctx, evidence.online.paired_scores, rules)
        online = OnlineScores(evidence.online.window, online_scores, evidence.online.latency_p99_ms)
    verdict, sequential = judge_evidence(load_paired_scores(ctx, evidence.paired_scores, rules), rules, online)
    window = evidence.online.window if evidence.online else None
    return final_decision(verdict, window, force_promote, dry_run, sequential, budget)


def load_paired_scores(ctx: CycleContext, path: str, rules: DecisionConfig) -> PairedScores:
    """Paired scores from a Parquet file written by the replay or the online evidence."""
    paired = pd.read_parquet(path)
    task = ctx.task
    return PairedScores(
        y=encode_labels(task, paired[ctx.schema.target], ctx.classes),
        challenger=stack_scores(paired["challenger"], task),
        champion=stack_scores(paired["champion"], task) if "champion" in paired else None,
        slices=paired[rules.slice_columns] if rules.slice_columns else None,
        task=task,
        classes=ctx.classes,
    )


def labelled_rows(ctx: CycleContext) -> pd.DataFrame:
    """Every accepted (labelled) row; empty when nothing was accepted yet."""
    files = ctx.store.accepted_files()
    return load_window(ctx.store, len(files)) if files else pd.DataFrame(columns=ctx.schema.required_columns)


def slice_columns(ctx: CycleContext) -> list[str]:
    """``decision.slice_columns``, checked to be columns of the data.

    Raises:
        ConfigError: a slice column is not in the data.
    """
    columns = ctx.config.decision.slice_columns
    missing = [c for c in columns if c not in ctx.schema.required_columns]
    if missing:
        raise ConfigError(f"{ctx.config.source_path}: decision.slice_columns {missing} are not columns of the data")
    return columns


def _score_through_triton(ctx: CycleContext, rows: pd.DataFrame, version: int) -> np.ndarray:
    batch_size = ctx.config.evaluation.batch_size
    return ctx.triton.predict_scores(ctx.versions_model, rows, ctx.schema, version, batch_size, classes=ctx.classes)


def _score_in_process(ctx: CycleContext, model_uri: str | None, rows: pd.DataFrame) -> np.ndarray:
    import mlflow

    from champion_challenger.training.pyfunc import pyfunc_scores

    if model_uri is None:
        raise ValueError("a dry run needs the best candidate's model URI to score it in-process")
    model = mlflow.pyfunc.load_model(model_uri)
    return pyfunc_scores(model.predict(rows[ctx.schema.feature_names]), ctx.task, ctx.classes)
