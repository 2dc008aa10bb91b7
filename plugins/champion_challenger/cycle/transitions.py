"""Champion changes: promote, rollback, keep the champion (hold / reject), and recovery.

Every change holds the model's champion lease (:mod:`champion_challenger.registry.lease`): one
change at a time per model, whoever makes it (a cycle, the watch, a person with ``ccp``). A promotion
or rollback is a transaction written ahead to a journal (a tag on the registered model):

0. the intent is journaled, after recovering any change an earlier (dead) process left unfinished;
1. the new champion is loaded in Triton (beside the current one) and smoke requests pass;
2. the aliases move (and the deprecated stages are mirrored, best effort);
3. the router switches to the new champion; the previous champion stays loaded for an instant
   rollback, versions no longer needed are unloaded after the switch;
4. the event is appended to the ledger, and the journal is cleared (with a canary the change ended).

An exception restores the earlier state at once; a killed process leaves the journal, and
:func:`recover` (run by the next cycle, the watch, or ``ccp recover``) finishes or undoes the change.
"""

from __future__ import annotations

import dataclasses
import logging
import tempfile
import time
from typing import Any

import numpy as np
import pandas as pd

from champion_challenger import tracking
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.live_signals import version_traffic
from champion_challenger.cycle.serving_deployment import served_versions, stop_serving, sync_serving
from champion_challenger.errors import ServiceUnavailableError
from champion_challenger.payloads import AliasState, Decision
from champion_challenger.policy.decision import keeps_challenger_in_shadow
from champion_challenger.registry import canary as canaries
from champion_challenger.registry import journal, ledger
from champion_challenger.registry import model_registry as registry
from champion_challenger.registry.lease import ChampionLease

log = logging.getLogger(__name__)


def promote(
    ctx: CycleContext, version: int, actor: str, reason: str, evidence_run_id: str | None = None, action: str = "promote"
) -> dict[str, Any]:
    """Make ``version`` the champion as one transaction (see the module docstring).

    Returns:
        The ledger entry.
    """
    with ctx.champion_change(action, actor):
        recover(ctx)
        before = registry.alias_state(ctx.client, ctx.model_name)
        return transition(ctx, registry.promotion_target(before, version), action, actor, reason, evidence_run_id)


def rollback(ctx: CycleContext, actor: str, reason: str, action: str = "rollback") -> dict[str, Any]:
    """Make ``@previous`` the champion again as one transaction.

    Raises:
        NoChampionError: there is no ``@previous`` version.
    """
    with ctx.champion_change(action, actor):
        recover(ctx)
        before = registry.alias_state(ctx.client, ctx.model_name)
        return transition(ctx, registry.rollback_target(before), action, actor, reason)


def transition(
    ctx: CycleContext, target: AliasState, action: str, actor: str, reason: str, evidence_run_id: str | None = None
) -> dict[str, Any]:
    """Change the champion to ``target`` like a transaction; any failure restores the earlier state.

    The whole change holds the model's champion lease (:mod:`champion_challenger.registry.lease`);
    each journaled step first checks the lease is still ours.

    Raises:
        ChampionLeaseError: another change of the model held the lease for ``changes.wait_seconds``.
        PendingTransitionError: another change is pending and could not be recovered.
    """
    with ctx.champion_change(action, actor) as lease:
        recover(ctx)
        before = registry.alias_state(ctx.client, ctx.model_name)
        served_before = served_versions(ctx)
        pending = journal.begin(
            ctx.client, ctx.model_name, journal.PendingTransition(action, before, target, served_before, actor, reason)
        )
        entry = ledger.LedgerEntry(action, ctx.model_name, before.champion, target.champion, actor, reason, evidence_run_id)
        step = _StepClock(f"{action} of {ctx.model_name} to v{target.champion}")
        try:
            sync_serving(ctx, sorted(set(served_before) | {target.champion}), before)
            smoke_test(ctx, target.champion)
            pending = _mark(ctx, lease, pending, step("loaded", "loaded and smoke-tested"))
            registry.move_aliases(ctx.client, ctx.model_name, target, ctx.config.changes.mirror_stages)
            pending = _mark(ctx, lease, pending, step("aliases_moved"))
            sync_serving(ctx, target.steady_versions(), target)
            pending = _mark(ctx, lease, pending, step("router_switched"))
            lease.check()
            entry = _commit(ctx, pending, entry)
            step("committed")
        except Exception:
            if lease.lost:  # the lease's new holder recovers this change from the journal
                log.error("%s of %s to v%s stopped: the champion lease was lost", action, ctx.model_name, target.champion)
                raise
            log.exception("%s of %s to v%s failed; restoring the earlier state", action, ctx.model_name, target.champion)
            _undo(ctx, pending)
            raise
        return entry.as_dict()


class _StepClock:
    """Logs each step of a change with its own and the total seconds; returns the step (the journal's name)."""

    def __init__(self, change: str) -> None:
        self.change, self.started = change, time.perf_counter()
        self.last = self.started

    def __call__(self, step: str, label: str | None = None) -> str:
        now = time.perf_counter()
        log.info("%s: %s in %.1f s (%.1f s so far)", self.change, label or step, now - self.last, now - self.started)
        self.last = now
        return step


def _mark(ctx: CycleContext, lease: ChampionLease, pending: journal.PendingTransition, step: str) -> journal.PendingTransition:
    """Journal ``step`` while the lease is still ours (else raise: another holder now owns the change)."""
    lease.check()
    return journal.mark(ctx.client, ctx.model_name, pending, step)


def keep_champion(ctx: CycleContext, version: int | None, decision: Decision) -> list[int]:
    """The gate did not promote challenger ``version``: the champion keeps serving.

    * a dry run, or a challenger that was never registered (``version`` None): nothing changes;
    * a hold that waits for the shadow window (``decision.online.required``): the challenger stays
      deployed and keeps ``@challenger``;
    * a reject: the challenger loses ``@challenger`` and leaves Triton;
    * any other hold: the challenger leaves Triton and keeps ``@challenger`` (a person may force it);
    * no champion at all (the first model missed the floor): nothing is served.

    Returns:
        The versions Triton serves afterwards.
    """
    if version is None or decision.dry_run:
        return served_versions(ctx)
    with ctx.champion_change(decision.action, "cycle"):
        return _keep_champion(ctx, version, decision)


def _keep_champion(ctx: CycleContext, version: int, decision: Decision) -> list[int]:
    recover(ctx)
    state = registry.alias_state(ctx.client, ctx.model_name)
    if state.champion is None:
        log.warning(
            "no champion for %r and challenger v%s did not pass the gate; nothing is served until a "
            "model clears the quality floor",
            ctx.model_name,
            version,
        )
        stop_serving(ctx)
        return []
    if keeps_challenger_in_shadow(decision, ctx.config.decision):
        return sync_serving(ctx, state.served_versions(), state)
    if decision.action == "reject" and state.challenger == version:
        return retire_challenger(ctx, state)
    return sync_serving(ctx, state.steady_versions(), state)


def retire_challenger(ctx: CycleContext, state: AliasState) -> list[int]:
    """The challenger loses ``@challenger`` and leaves Triton; the champion (and ``@previous``) keep serving
    (the caller holds the lease).

    Returns:
        The versions Triton serves afterwards.
    """
    state = dataclasses.replace(state, challenger=None)
    registry.move_aliases(ctx.client, ctx.model_name, state, ctx.config.changes.mirror_stages)
    return sync_serving(ctx, state.steady_versions(), state)


def recover(ctx: CycleContext, actor: str = "recovery") -> dict[str, Any] | None:
    """Finish or undo a champion change that a killed process left in the journal.

    A change that reached the router switch (aliases and serving both at the target) is finished:
    serving is re-synced, the ledger entry written once, the journal cleared. An earlier one is
    undone: aliases and serving go back to the state before it.

    Only a change whose owner is gone is touched: recovery holds the model's champion lease, which
    a live owner keeps renewing; a dead owner's lease expires after ``changes.lease_seconds``.

    Returns:
        What was recovered (None when nothing was pending).

    Raises:
        ChampionLeaseError: a live change held the lease for ``changes.wait_seconds``.
    """
    with ctx.champion_change("recover", actor):
        return _recover(ctx)


def _recover(ctx: CycleContext) -> dict[str, Any] | None:
    pending = journal.read(ctx.client, ctx.model_name)
    if pending is None:
        return None
    forward = journal.STEPS.index(pending.step) >= journal.STEPS.index("router_switched")
    log.warning(
        "%s of %s to v%s (started %s by %s) stopped after step %r; %s",
        pending.action,
        ctx.model_name,
        pending.target.champion,
        pending.started_at,
        pending.actor,
        pending.step,
        "finishing it" if forward else f"restoring v{pending.before.champion}",
    )
    if forward:
        sync_serving(ctx, pending.target.steady_versions(), pending.target)
        _commit(
            ctx,
            pending,
            ledger.LedgerEntry(
                pending.action,
                ctx.model_name,
                pending.before.champion,
                pending.target.champion,
                pending.actor,
                f"{pending.reason} (completed by recovery)",
            ),
        )
    else:
        _undo(ctx, pending)
    champion = pending.target.champion if forward else pending.before.champion
    return {
        "recovered": pending.action,
        "stopped_after": pending.step,
        "outcome": "finished" if forward else "undone",
        "champion": champion,
    }


def smoke_test(ctx: CycleContext, version: int, rows: int = 32) -> None:
    """Score a few reference rows through Triton with ``version``; every answer must be valid for the task:
    probabilities in [0, 1] (each multiclass row summing to 1), finite regression values.

    Raises:
        ServiceUnavailableError: a request failed or an answer is invalid.
    """
    model_version = ctx.client.get_model_version(ctx.model_name, str(version))
    with tempfile.TemporaryDirectory() as tmp:
        sample = pd.read_parquet(ctx.client.download_artifacts(model_version.run_id, tracking.REFERENCE_ARTIFACT, tmp)).head(rows)
    try:
        scores = ctx.triton.predict_scores(ctx.versions_model, sample, ctx.schema, version, batch_size=rows)
    except Exception as exc:  # noqa: BLE001 - any failure here aborts the promotion
        raise ServiceUnavailableError(f"smoke requests to {ctx.model_name} v{version} failed: {exc}") from None
    if len(scores) != len(sample) or not _valid_scores(ctx.task, scores):
        raise ServiceUnavailableError(f"smoke requests to {ctx.model_name} v{version} returned invalid {ctx.task} scores")


def _valid_scores(task: str, scores: np.ndarray) -> bool:
    if task == "regression":
        return bool(np.all(np.isfinite(scores)))
    in_range = bool(np.all((scores >= 0) & (scores <= 1)))
    return in_range and (task != "multiclass" or bool(np.allclose(scores.sum(axis=1), 1, atol=1e-3)))


def _commit(ctx: CycleContext, pending: journal.PendingTransition, entry: ledger.LedgerEntry) -> ledger.LedgerEntry:
    """Append the ledger entry (once) with the new champion's counters at the switch, and clear the journal."""
    entry = dataclasses.replace(entry, baseline=version_traffic(ctx, pending.target.champion).as_dict())
    latest = ledger.history(ctx.client, ctx.config.experiment_name, limit=1, changes_only=True)
    already = (
        latest
        and latest[0].action == entry.action
        and latest[0].to_version == entry.to_version
        and latest[0].at >= pending.started_at
    )
    if not already:
        ledger.append(ctx.client, ctx.config.experiment_name, entry)
    journal.mark(ctx.client, ctx.model_name, pending, journal.COMMITTED)
    journal.clear(ctx.client, ctx.model_name)
    canary = canaries.read(ctx.client, ctx.model_name)
    if canary is not None and not canary.applies_to(pending.target):  # a canary's completion, or a change that ends it
        canaries.clear(ctx.client, ctx.model_name)
    return entry


def _undo(ctx: CycleContext, pending: journal.PendingTransition) -> None:
    """Put aliases and serving back as they were before ``pending`` began, then clear the journal."""
    if registry.alias_state(ctx.client, ctx.model_name) != pending.before:
        registry.move_aliases(ctx.client, ctx.model_name, pending.before, ctx.config.changes.mirror_stages)
    sync_serving(ctx, pending.served_before or pending.before.steady_versions(), pending.before)
    journal.clear(ctx.client, ctx.model_name)
