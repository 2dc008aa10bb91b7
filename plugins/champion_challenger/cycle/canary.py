"""Progressive canary: a promotion that widens the challenger's share step by step before it becomes champion.

With ``serving.canary_steps`` (e.g. ``[0.05, 0.25, 0.5]``) a promotion the gate decided (and a person
approved, where required) does not switch the champion at once: :func:`release` starts a canary, in
which the router lets the challenger answer the first share of entities (sticky per entity) while the
champion answers the rest. Each run of ``champion_watch`` then calls :func:`advance_canary`: any limit of
``watch:`` crossed by the challenger's live signals returns its share to 0 at once (it leaves Triton and
``@challenger``; ``canary_rollback`` in the ledger); a step that lasted ``serving.canary_step_hours`` and
saw ``watch.min_requests`` requests within the limits widens to the next share (``canary_step``); after the
last step the promotion transaction runs (``promote`` in the ledger, with the cycle's evidence run).

Every canary move holds the model's champion lease; the state is one tag on the registered model
(:mod:`champion_challenger.registry.canary`).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from champion_challenger import tags
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.live_signals import live_findings, version_traffic
from champion_challenger.cycle.serving_deployment import sync_serving
from champion_challenger.cycle.transitions import recover, retire_challenger, transition
from champion_challenger.payloads import AliasState
from champion_challenger.policy.canary import Canary, CanaryVerdict, judge_canary, now
from champion_challenger.registry import canary as canaries
from champion_challenger.registry import ledger
from champion_challenger.registry import model_registry as registry

log = logging.getLogger(__name__)


def release(ctx: CycleContext, version: int, actor: str, reason: str, evidence_run_id: str | None = None) -> dict[str, Any]:
    """Carry out a promotion the gate decided: through canary steps (``serving.canary_steps``, when a champion
    serves beside challenger ``version``), else the promotion transaction at once.

    Returns:
        The ledger entry (``canary_start`` or ``promote``).
    """
    steps = ctx.config.serving.canary_steps
    with ctx.champion_change("release", actor):
        recover(ctx)
        state = registry.alias_state(ctx.client, ctx.model_name)
        if steps and state.champion not in (None, version):
            return start_canary(ctx, state, version, actor, reason, evidence_run_id)
        return transition(ctx, registry.promotion_target(state, version), "promote", actor, reason, evidence_run_id)


def start_canary(
    ctx: CycleContext, state: AliasState, version: int, actor: str, reason: str, evidence_run_id: str | None
) -> dict[str, Any]:
    """The challenger answers the first canary share; the champion the rest (the caller holds the lease).

    Raises:
        ValueError: ``version`` is not ``@challenger``.
    """
    if state.challenger != version:
        raise ValueError(f"v{version} is not @challenger of {ctx.model_name} (the registry says {state.challenger})")
    started = now()
    canary = Canary(
        version=version,
        champion=state.champion,
        steps=tuple(ctx.config.serving.canary_steps),
        started_at=started,
        step_started_at=started,
        baseline=version_traffic(ctx, version).as_dict(),
        actor=actor,
        reason=reason,
        evidence_run_id=evidence_run_id,
    )
    _route(ctx, state, canary, previous=None)
    why = f"{reason}; canary: v{version} answers {canary.fraction:.0%} of entities first (steps {_shares(canary)})"
    return _record(ctx, ledger.CANARY_START, canary, actor, why)


def advance_canary(ctx: CycleContext, actor: str) -> dict[str, Any] | None:
    """Judge the canary in progress and widen, complete, roll back or leave it (the caller holds the lease).

    Returns:
        None without a canary; else ``action`` (``canary_wait``, ``canary_step``, ``canary_complete``,
        ``canary_rollback`` or ``canary_ended``), ``reason`` and what was observed.
    """
    canary = canaries.read(ctx.client, ctx.model_name)
    if canary is None:
        return None
    state = registry.alias_state(ctx.client, ctx.model_name)
    if not canary.applies_to(state):
        canaries.clear(ctx.client, ctx.model_name)
        sync_serving(ctx, state=state)
        return {"action": "canary_ended", "reason": f"{canary.describe()} ended: the aliases moved since ({state})"}
    started = datetime.fromisoformat(canary.started_at)
    traffic, findings = live_findings(ctx, canary.version, canary.baseline, started, role="challenger")
    step_hours = (datetime.now(UTC) - datetime.fromisoformat(canary.step_started_at)).total_seconds() / 3600
    verdict = judge_canary(canary, step_hours, traffic.requests, findings, ctx.config)
    log.info("%s: %s", ctx.model_name, verdict.reason)
    outcome = {"action": f"canary_{verdict.action}", "reason": verdict.reason, "canary": canary.describe(), **findings.observed}
    if verdict.action == "wait":
        return outcome
    if verdict.action == "rollback":
        _roll_back(ctx, state, canary, actor, verdict)
    elif verdict.action == "widen":
        widened = canary.widened(version_traffic(ctx, canary.version).as_dict())
        _route(ctx, state, widened, previous=canary)
        _record(ctx, ledger.CANARY_STEP, widened, actor, verdict.reason)
    else:
        _complete(ctx, state, canary, actor, verdict)
    return outcome


def _route(ctx: CycleContext, state: AliasState, canary: Canary, previous: Canary | None) -> None:
    """Store ``canary`` and route by it; on failure the earlier canary (or none) is stored and routed again."""
    canaries.write(ctx.client, ctx.model_name, canary)
    try:
        sync_serving(ctx, state.served_versions(), state)
    except Exception:
        if previous is None:
            canaries.clear(ctx.client, ctx.model_name)
        else:
            canaries.write(ctx.client, ctx.model_name, previous)
        _best_effort_sync(ctx, state)
        raise


def _roll_back(ctx: CycleContext, state: AliasState, canary: Canary, actor: str, verdict: CanaryVerdict) -> None:
    """Share back to 0: the challenger leaves Triton and ``@challenger``; the ledger and the version say why."""
    retire_challenger(ctx, state)  # the canary no longer applies: the router answers with the champion alone
    canaries.clear(ctx.client, ctx.model_name)
    _record(ctx, ledger.CANARY_ROLLBACK, canary, actor, verdict.reason)
    ctx.client.set_model_version_tag(ctx.model_name, str(canary.version), tags.CANARY_RESULT, f"rolled back: {verdict.reason}")


def _complete(ctx: CycleContext, state: AliasState, canary: Canary, actor: str, verdict: CanaryVerdict) -> None:
    """Every step held: the promotion transaction, in the name of whoever promoted it into canary."""
    reason = f"{canary.reason}; {verdict.reason} ({actor})"
    transition(ctx, registry.promotion_target(state, canary.version), "promote", canary.actor, reason, canary.evidence_run_id)
    ctx.client.set_model_version_tag(ctx.model_name, str(canary.version), tags.CANARY_RESULT, f"completed: {verdict.reason}")


def _record(ctx: CycleContext, action: str, canary: Canary, actor: str, reason: str) -> dict:
    """Append a canary event to the ledger (the champion unchanged, the canary's evidence run and step baseline)."""
    entry = ledger.LedgerEntry(
        action=action,
        model_name=ctx.model_name,
        from_version=canary.champion,
        to_version=canary.version,
        actor=actor,
        reason=reason,
        evidence_run_id=canary.evidence_run_id,
        baseline=canary.baseline,
    )
    ledger.append(ctx.client, ctx.config.experiment_name, entry)
    return entry.as_dict()


def _best_effort_sync(ctx: CycleContext, state: AliasState) -> None:
    try:
        sync_serving(ctx, state.served_versions(), state)
    except Exception:  # noqa: BLE001 - the original failure is what the caller reports
        log.exception("could not route %s again after a failed canary change", ctx.model_name)


def _shares(canary: Canary) -> str:
    return " → ".join(f"{s:.0%}" for s in canary.steps)
