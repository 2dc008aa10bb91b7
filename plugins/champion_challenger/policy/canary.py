"""When a progressive canary widens, completes, waits or rolls back (pure).

The champion watch judges the canary's challenger on the same live signals as a new champion
(:mod:`champion_challenger.policy.watch`): error rate and mean latency of its requests since the step
began, and its label metric once labels arrived. Any limit crossed rolls back at once; otherwise the
step widens (or, at the last step, the promotion completes) only after it lasted
``serving.canary_step_hours`` and saw ``watch.min_requests`` requests.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Literal

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.payloads import AliasState
from champion_challenger.policy.watch import WatchFindings


@dataclass(frozen=True)
class Canary:
    """A challenger answering a share of the entities before it becomes champion.

    Attributes:
        version: the challenger in canary.
        champion: the champion it was started beside (the canary ends if that changes).
        steps: the shares it answers, step by step (``serving.canary_steps`` when it began).
        step: index of the current step in ``steps``.
        started_at / step_started_at: ISO timestamps (UTC) of the canary's and the current step's start.
        baseline: the challenger's Triton counters when the step began (the step judges only what follows).
        actor / reason / evidence_run_id: who promoted it, why, and the cycle run holding the evidence;
            the promotion that completes the canary carries them into the ledger.
    """

    version: int
    champion: int
    steps: tuple[float, ...]
    step: int = 0
    started_at: str = ""
    step_started_at: str = ""
    baseline: dict[str, float] = field(default_factory=dict)
    actor: str = ""
    reason: str = ""
    evidence_run_id: str | None = None

    @property
    def fraction(self) -> float:
        """Share of entities the challenger answers at this step."""
        return self.steps[self.step]

    @property
    def last_step(self) -> bool:
        return self.step == len(self.steps) - 1

    def describe(self) -> str:
        return f"canary of v{self.version} at step {self.step + 1}/{len(self.steps)} ({self.fraction:.0%} of entities)"

    def applies_to(self, state: AliasState) -> bool:
        """True while the aliases are those it was started under: same champion, still ``@challenger``."""
        return state.champion == self.champion and state.challenger == self.version

    def widened(self, baseline: dict[str, float]) -> Canary:
        """The next step, starting now from ``baseline``."""
        return replace(self, step=self.step + 1, step_started_at=now(), baseline=baseline)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Canary:
        raw = json.loads(text)
        return cls(**{**raw, "steps": tuple(raw["steps"])})


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


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
