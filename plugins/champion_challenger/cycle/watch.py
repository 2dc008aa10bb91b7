"""The post-promotion watch: roll back a new champion whose live behaviour crosses the limits."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from champion_challenger.cycle.canary import advance_canary
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.live_signals import live_findings
from champion_challenger.cycle.transitions import recover, rollback
from champion_challenger.errors import ChampionLeaseError
from champion_challenger.policy.watch import rollback_reason
from champion_challenger.registry import ledger
from champion_challenger.registry import model_registry as registry


def watch_champion(ctx: CycleContext, actor: str = "watch") -> dict[str, Any]:
    """Roll back a recently promoted champion whose live behaviour crosses the limits.

    First finishes or undoes a champion change a crash left in the journal, and moves a progressive canary
    on (:func:`~champion_challenger.cycle.canary.advance_canary`: widen, complete, roll back). Then, within
    ``watch.window_hours`` of the champion's promotion (per the ledger) and when a ``@previous``
    exists, judges Triton's per-version error rate and mean latency since the switch and, once labels
    arrived for its logged live predictions, ``watch.label_metric`` against its offline value
    (:mod:`champion_challenger.policy.watch`). Any limit crossed rolls back to ``@previous``.

    The watch holds the model's champion lease throughout, so it never judges (or recovers) a
    change that is still running; when another change keeps the lease for ``changes.wait_seconds``,
    the watch answers ``busy`` and looks again on its next run.

    Returns:
        ``action`` (``recovered``, ``none``, ``busy``, ``auto_rollback``, or a canary's move: ``canary_step``,
        ``canary_complete``, ``canary_rollback``, ``canary_ended``), ``reason`` and what was observed; ``canary``:
        the canary still waiting at its step.
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
    canary = advance_canary(ctx, actor)
    if canary is not None and canary["action"] != "canary_wait":
        return canary
    outcome = _watch_champion(ctx, actor)
    return outcome if canary is None else {**outcome, "canary": canary}


def _watch_champion(ctx: CycleContext, actor: str) -> dict[str, Any]:
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
    _, findings = live_findings(ctx, state.champion, last.baseline, promoted_at)
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
