"""Recording: the cycle's evidence and decision written to its MLflow run and to the challenger's version."""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from champion_challenger import tags, tracking
from champion_challenger.cycle.context import CycleContext
from champion_challenger.payloads import Decision, Evidence, PreparedWindow, TrainingPlan

log = logging.getLogger(__name__)


def record_decision(ctx: CycleContext, evidence: Evidence, decision: Decision) -> None:
    """Write the evidence and the decision into the cycle run, and summarise them on the version.

    The cycle run gets both models' offline (``champion_*``, ``challenger_*``) and online
    (``online_*``) metrics, the decision tags, ``decision.json`` and the comparison report. The
    challenger's registry version (none in a dry run) gets its metrics, the decision and the
    evidence run id as tags, and a description saying why.
    """
    run_id = evidence.cycle_run_id
    at = _now()
    _log_metrics(ctx, evidence)
    if decision.sequential is not None:
        for name in ("rows", "mean_gain", "low", "high"):
            value = getattr(decision.sequential, name)
            if value is not None and math.isfinite(value):
                ctx.client.log_metric(run_id, f"online_sequential_{name}", float(value))
    ctx.client.log_param(run_id, "challenger_version", evidence.challenger_version)
    ctx.client.log_param(run_id, "champion_version", evidence.champion_version)
    _tag_decision(ctx, run_id, decision.action, decision.reason, at)
    write_report(ctx, evidence, decision, at)
    if evidence.challenger_version is not None:
        _tag_version(ctx, evidence, decision, at)
        _count_in_budget(ctx, evidence, decision)
    log_deployment_metrics(ctx, run_id)
    ctx.client.set_terminated(run_id, "FINISHED")


def write_report(ctx: CycleContext, evidence: Evidence, decision: Decision, at: str | None = None) -> None:
    """``decision.json`` and the comparison report (``comparison/decision.md``, tables, plots) in the cycle run
    (again after an approval: the files are replaced)."""
    from champion_challenger.evaluation import comparison

    payload = {"evidence": evidence.as_dict(), "decision": decision.as_dict(), "at": at or _now()}
    tracking.log_dict_artifact(ctx.client, evidence.cycle_run_id, payload, "decision.json")
    paired = Path(evidence.paired_scores)
    summary = comparison.write_comparison(
        pd.read_parquet(paired),
        ctx.schema.target,
        ctx.config.decision.slice_columns,
        paired.parent / "comparison",
        evidence.champion_version,
        evidence.challenger_version,
        decision.as_dict(),
        task=ctx.task,
        classes=ctx.classes,
    )
    comparison.log_comparison(ctx.client, evidence.cycle_run_id, summary)


def log_deployment_metrics(ctx: CycleContext, run_id: str) -> None:
    """Log the model's deployment metrics so far (``deploy_*``, this cycle included) to the cycle run.

    Reporting only: a failure is logged as a warning and never fails the cycle (``ccp report`` says more).
    """
    from champion_challenger.registry import deployment_metrics

    try:
        config = ctx.config
        figures = deployment_metrics.collect(ctx.client, ctx.model_name, config.experiment_name, config.watch.window_hours)
        for name, value in figures.metrics().items():
            ctx.client.log_metric(run_id, name, value)
    except Exception:  # noqa: BLE001 - the decision is recorded already; these figures are a report
        log.warning("could not log the deployment metrics of %s to run %s", ctx.model_name, run_id, exc_info=True)


def _count_in_budget(ctx: CycleContext, evidence: Evidence, decision: Decision) -> None:
    """Count this test in the lifetime error budget (not a dry run, not without a champion) and log it."""
    if decision.budget is None or decision.dry_run:
        return
    from champion_challenger.cycle.error_budget import count_test

    state = count_test(ctx, evidence.challenger_version, decision)
    for name, value in {"budget_level": decision.budget.level, "budget_test": decision.budget.test,
                        "budget_remaining": state.remaining}.items():  # fmt: skip
        ctx.client.log_metric(evidence.cycle_run_id, name, value)


def record_skip(ctx: CycleContext, prepared: PreparedWindow, plan: TrainingPlan) -> None:
    """Close a cycle that trained nothing: the plan's reason and the time go into the cycle run."""
    _tag_decision(ctx, prepared.cycle_run_id, "skip", plan.reason, _now())
    log_deployment_metrics(ctx, prepared.cycle_run_id)
    ctx.client.set_terminated(prepared.cycle_run_id, "FINISHED")


def fail_cycle(ctx: CycleContext, cycle_id: str, reason: str) -> str | None:
    """Mark the cycle's MLflow run FAILED with the reason; returns its id (None if never opened)."""
    run_id = tracking.find_run(ctx.client, ctx.experiment_id, cycle_id, "cycle")
    if run_id:
        ctx.client.set_tag(run_id, tags.FAILURE, reason[:5000])
        ctx.client.set_terminated(run_id, "FAILED")
    return run_id


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _tag_decision(ctx: CycleContext, run_id: str, action: str, reason: str, at: str) -> None:
    for key, value in {tags.DECISION_ACTION: action, tags.DECISION_REASON: reason, tags.DECISION_AT: at}.items():
        ctx.client.set_tag(run_id, key, value)


def _log_metrics(ctx: CycleContext, evidence: Evidence) -> None:
    run_id = evidence.cycle_run_id
    sources = [("", evidence.champion, evidence.challenger)]
    if evidence.replay_rows_per_second is not None:
        ctx.client.log_metric(run_id, "replay_rows_per_second", evidence.replay_rows_per_second)
    if evidence.online is not None:
        sources.append(("online_", evidence.online.champion, evidence.online.challenger))
        window = evidence.online.window
        ctx.client.log_metric(run_id, "online_labelled_rows", window.labelled_rows)
        ctx.client.log_metric(run_id, "online_window_hours", window.duration_hours)
        ctx.client.set_tag(run_id, tags.ONLINE_WINDOW, window.reason)
    for prefix, champion, challenger in sources:
        for role, metrics in (("champion", champion), ("challenger", challenger)):
            for name, value in metrics.items():
                if value is not None:  # undefined on these rows (e.g. R² of constant labels)
                    ctx.client.log_metric(run_id, f"{prefix}{role}_{name}", value)


def _tag_version(ctx: CycleContext, evidence: Evidence, decision: Decision, at: str) -> None:
    from champion_challenger.evaluation import comparison

    version = str(evidence.challenger_version)
    for name, value in evidence.challenger.items():
        if value is not None:
            ctx.client.set_model_version_tag(ctx.model_name, version, tags.metric(name), f"{value:.6g}")
    for key, value in {
        tags.DECISION_ACTION: decision.action,
        tags.DECISION_REASON: decision.reason,
        tags.DECISION_AT: at,
        tags.EVIDENCE_RUN_ID: evidence.cycle_run_id,
    }.items():
        ctx.client.set_model_version_tag(ctx.model_name, version, key, value)
    description = comparison.version_description(
        decision.as_dict(), _description_evidence(evidence), ctx.run_url(evidence.cycle_run_id)
    )
    ctx.client.update_model_version(ctx.model_name, version, description=description)


def _description_evidence(evidence: Evidence) -> dict:
    """The evidence in the shape ``version_description`` reads (``versions``, ``rows``, both models' metrics)."""
    return {
        "versions": {"champion": evidence.champion_version, "challenger": evidence.challenger_version},
        "rows": evidence.rows,
        "champion": evidence.champion or None,
        "challenger": evidence.challenger,
    }
