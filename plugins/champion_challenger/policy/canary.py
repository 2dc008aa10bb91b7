"""When a progressive canary widens, completes, waits or rolls back (pure).

The champion watch judges the canary's challenger on the same live signals as a new champion
(:mod:`champion_challenger.policy.watch`): error rate and mean latency of its requests since the step
began, and its label metric once labels arrived. Any limit crossed rolls back at once; otherwise the
step widens (or, at the last step, the promotion completes) only after it lasted
``serving.canary_step_hours`` and saw ``watch.min_requests`` requests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from champion_challenger.config import PipelineConfig
from champion_challenger.policy.watch import WatchFindings
from champion_challenger.registry.canary import Canary

CanaryAction = Literal["rollback", "widen", "complete", "wait"]


@dataclass(frozen=True)
class CanaryVerdict:
    """What the watch does with the canary now, and why (in words, for the ledger and the task log)."""

    action: CanaryAction
    reason: str


def judge_canary(
    canary: Canary, step_age_hours: float, requests: float, findings: WatchFindings, config: PipelineConfig
) -> CanaryVerdict:
    """The verdict on ``canary``'s current step.

    Args:
        canary: the canary in progress.
        step_age_hours: how long the current step has run.
        requests: the challenger's requests since the step began.
        findings: the watch's findings on the challenger (limits crossed are ``problems``).
        config: the pipeline config (``serving.canary_step_hours``, ``watch`` limits).
    """
    where = canary.describe()
    if findings.problems:
        return CanaryVerdict("rollback", f"{where}: " + "; ".join(findings.problems))
    step_hours = config.serving.canary_step_hours
    if step_age_hours < step_hours:
        return CanaryVerdict("wait", f"{where}: step ran {step_age_hours:.2f} h of {step_hours:g} h, no limit crossed")
    needed = config.watch.min_requests
    if requests < needed:
        return CanaryVerdict("wait", f"{where}: {int(requests)} requests since the step began, {needed} needed to judge it")
    held = f"{where} held for {step_age_hours:.2f} h over {int(requests)} requests"
    if canary.last_step:
        shares = ", ".join(f"{s:.0%}" for s in canary.steps)
        return CanaryVerdict("complete", f"{held}; every step ({shares}) held: promoting")
    return CanaryVerdict("widen", f"{held}; widening to {canary.steps[canary.step + 1]:.0%}")
