"""The post-promotion watch: roll back a new champion whose live behaviour crosses the limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from champion_challenger import tags
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.evidence import labelled_rows
from champion_challenger.cycle.transitions import recover, rollback, version_traffic
from champion_challenger.errors import ChampionLeaseError
from champion_challenger.evaluation.metrics import metric_value
from champion_challenger.evaluation.shadow_evidence import pair_with_labels
from champion_challenger.policy.watch import WatchFindings, label_findings, rollback_reason, serving_findings
from champion_challenger.registry import ledger
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving.capture import read_captures
from champion_challenger.task import encode_labels, stack_scores


def watch_champion(ctx: CycleContext, actor: str = "watch") -> dict[str, Any]:
    """Roll back a recently promoted champion whose live behaviour crosses the limits.

    First finishes or undoes a champion change a crash left in the journal. Then, within
    ``watch.window_hours`` of the champion's promotion (per the ledger) and when a ``@previous``
    exists, judges Triton's per-version error rate and mean latency since the switch and, once labels
    arrived for its logged live predictions, ``watch.label_metric`` against its offline value
    (:mod:`champion_challenger.policy.watch`). Any limit crossed rolls back to ``@previous``.

    The watch holds the model's champion lease throughout, so it never judges (or recovers) a
    change that is still running; when another change keeps the lease for ``changes.wait_seconds``,
    the watch answers ``busy`` and looks again on its next run.

    Returns:
        ``action`` (``recovered``, ``none``, ``busy`` or ``auto_rollback``), ``reason`` and what was observed.
    """
    try:
        with ctx.champion_change("watch", actor):
            return _watch(ctx, actor)
    except ChampionLeaseError as exc:
        return {"action": "busy", "reason": str(exc)}


def _watch(ctx: CycleContext, actor: str) -> dict[str, Any]:
    recovered = recover(ctx, actor)
    if recovered:
        return {"action": "recovered", "reason": f"finished an interrupted change first: {recovered}"}
    state = registry.alias_state(ctx.client, ctx.model_name)
    events = ledger.history(ctx.client, ctx.config.experiment_name, limit=1, changes_only=True)
    last = events[0] if events else None
    if state.champion is None or state.previous is None or last is None or last.to_version != state.champion:
        return {"action": "none", "reason": "no promoted champion with a previous version to watch"}
    limits = ctx.config.watch
    promoted_at = datetime.fromisoformat(last.at)
    age_h = (datetime.now(UTC) - promoted_at).total_seconds() / 3600
    if age_h > limits.window_hours:
        return {"action": "none", "reason": f"champion v{state.champion} promoted {age_h:.1f} h ago, past the watch window"}
    traffic = version_traffic(ctx, state.champion).since(last.baseline)
    findings = serving_findings(traffic.requests, traffic.error_rate, traffic.mean_latency_ms, limits)
    findings += _label_findings(ctx, state.champion, promoted_at)
    if not findings.observed:
        return {
            "action": "none",
            "reason": (
                f"v{state.champion}: not enough to judge yet (need {limits.min_requests} requests or "
                f"{limits.min_labelled_rows} labelled live predictions)"
            ),
        }
    reason = rollback_reason(state.champion, findings)
    if reason is None:
        return {"action": "none", "reason": f"v{state.champion} healthy", **findings.observed}
    rollback(ctx, actor, reason, action="auto_rollback")
    return {"action": "auto_rollback", "reason": reason, **findings.observed}


def _label_findings(ctx: CycleContext, version: int, since: datetime) -> WatchFindings:
    """``watch.label_metric`` of ``version``'s logged live predictions joined with labels that arrived."""
    metric = ctx.config.watch.label_metric
    captures = read_captures(ctx.capture_dir, ctx.model_name, since=since)
    captures = captures[captures["champion_version"] == version]
    paired = pair_with_labels(captures, labelled_rows(ctx), ctx.schema, [], ctx.classes)
    y = encode_labels(ctx.task, paired[ctx.schema.target], ctx.classes)
    if len(paired) < 2 or (ctx.task == "binary" and len(np.unique(y)) < 2):
        return WatchFindings()
    live = metric_value(metric, y, stack_scores(paired["champion"], ctx.task), task=ctx.task)
    tag = ctx.client.get_model_version(ctx.model_name, str(version)).tags.get(tags.metric(metric))
    return label_findings(live, len(paired), None if tag is None else float(tag), ctx.config.watch)
