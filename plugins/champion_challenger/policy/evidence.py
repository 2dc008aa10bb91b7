"""One verdict from the offline replay and the online shadow evidence (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from champion_challenger.config import DecisionConfig
from champion_challenger.payloads import Action, ShadowWindow
from champion_challenger.policy.gate import GateResult, PairedScores, evaluate_gate, latency_guardrail, with_checks


@dataclass(frozen=True)
class OnlineScores:
    """Online evidence as the gate sees it: the shadow window's state, the paired rows, latencies."""

    window: ShadowWindow
    scores: PairedScores
    latency_p99_ms: dict[str, float]


def judge_evidence(offline: PairedScores, rules: DecisionConfig, online: OnlineScores | None = None) -> GateResult:
    """The gate's verdict on all the evidence of a cycle.

    The offline replay is always judged. Online shadow evidence is judged too once its window is
    complete (with the latency guardrail); then both must promote and either rejecting rejects.
    While the window is incomplete the offline verdict stands, unless ``decision.online.required``
    holds the challenger in shadow (a reject still rejects).
    """
    verdict = evaluate_gate(offline, rules)
    if online is None or not rules.online.enabled:
        return verdict
    window = online.window
    if not window.complete:
        if rules.online.required and verdict.action != "reject":
            return replace(
                verdict,
                action="hold",
                reason=(f"{window.reason} (decision.online.required); offline replay says {verdict.action}: {verdict.reason}"),
            )
        return replace(verdict, reason=f"{verdict.reason}; online: {window.reason}")
    live = evaluate_gate(online.scores, rules)
    live = with_checks(live, [latency_guardrail(online.latency_p99_ms, rules.online.max_latency_p99_ratio)])
    return combine_evidence({"offline": verdict, "online": live})


def combine_evidence(results: dict[str, GateResult]) -> GateResult:
    """One verdict from several evidence sources (e.g. ``offline`` replay and ``online`` shadow).

    Any source rejecting rejects; the challenger is promoted only when every source promotes;
    otherwise it is held. Checks are prefixed with their source; the reason names each source.

    Raises:
        ValueError: no result given.
    """
    if not results:
        raise ValueError("at least one evidence source is needed")
    actions = {r.action for r in results.values()}
    action: Action = "reject" if "reject" in actions else "promote" if actions == {"promote"} else "hold"
    first = next(iter(results.values()))
    checks = tuple(replace(c, name=f"{source}/{c.name}") for source, r in results.items() for c in r.checks)
    reason = "; ".join(f"{source}: {r.action} ({r.reason})" for source, r in results.items())
    return GateResult(action, reason, first.metric, first.champion_value, first.challenger_value, checks)
