"""One verdict from the offline replay and the online shadow evidence (pure)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from champion_challenger.config.sections import DecisionConfig
from champion_challenger.payloads import Action, CheckResult, SequentialOutcome, ShadowWindow
from champion_challenger.policy.gate import GateResult, PairedScores, evaluate_gate, latency_guardrail, with_checks
from champion_challenger.policy.sequential import gain_bound, per_row_gain, sequential_test


@dataclass(frozen=True)
class OnlineScores:
    """Online evidence as the gate sees it: the shadow window's state, the paired rows, latencies."""

    window: ShadowWindow
    scores: PairedScores
    latency_p99_ms: dict[str, float]


def judge_evidence(
    offline: PairedScores, rules: DecisionConfig, online: OnlineScores | None = None
) -> tuple[GateResult, SequentialOutcome | None]:
    """The gate's verdict on all the evidence of a cycle, and where the online test stands.

    The offline replay is always judged. The online evidence, once its window holds enough labelled
    rows, is judged by the always-valid sequential test (``decision.online.test: sequential``,
    looked at every cycle) or, with ``fixed_horizon``, by the gate once the window's minimum duration
    passed; the latency guardrail applies to it. While it has not decided, the offline verdict
    stands, unless ``decision.online.required`` holds the challenger in shadow (a reject still rejects).
    Once it has:

    * sequential: the online test decides and the offline replay can only stop it (see
      :func:`online_decides`), both judged at this test's level;
    * fixed horizon: both must promote, either rejecting rejects (:func:`combine_evidence`).

    Args:
        offline: the holdout replay's paired scores.
        rules: the decision rules; ``confidence_level`` is this test's level (one-sided ``(1 - c) / 2``).
        online: the online evidence, rows in arrival order (None: none gathered).
    """
    verdict = evaluate_gate(offline, rules)
    if online is None or not rules.online.enabled:
        return verdict, None
    latency = online.latency_p99_ms
    guardrails = [latency_guardrail(latency, rules.online.max_latency_p99_ratio)] if latency else []
    if rules.online.test == "sequential":
        outcome = _sequential_outcome(online, rules, offline)
        if outcome.action == "continue":
            return _undecided(verdict, outcome.reason, rules), outcome
        check = CheckResult(f"sequential:{outcome.loss}", outcome.action == "promote", outcome.reason,
                            ci_low=outcome.low, ci_high=outcome.high, limit=0.0)  # fmt: skip
        live = GateResult(outcome.action, outcome.reason, f"{outcome.loss} gain", None, outcome.mean_gain, (check,))
        return online_decides(verdict, with_checks(live, guardrails)), outcome
    if not online.window.complete:
        return _undecided(verdict, online.window.reason, rules), None
    live = with_checks(evaluate_gate(online.scores, rules), guardrails)
    return combine_evidence({"offline": verdict, "online": live}), None


def online_decides(offline: GateResult, online: GateResult) -> GateResult:
    """The always-valid online test decides; the offline replay can only stop a promotion.

    The online test alone keeps a false promotion within the test's level, so the offline replay
    need not agree that the challenger is better (its CI may still include 0 on its smaller
    holdout); it blocks when it rejects (quality floor, worse with confidence, a guardrail) or a slice
    drops beyond its tolerance.
    """
    slice_breaks = [c for c in offline.checks if c.name.startswith("slice:") and not c.passed]
    if "reject" in (offline.action, online.action):
        action: Action = "reject"
    elif online.action == "promote" and not slice_breaks:
        action = "promote"
    else:
        action = "hold"
    checks = tuple(replace(c, name=f"{source}/{c.name}") for source, r in (("offline", offline), ("online", online))
                   for c in r.checks)  # fmt: skip
    reason = f"online: {online.action} ({online.reason}); offline: {offline.action} ({offline.reason})"
    return GateResult(action, reason, offline.metric, offline.champion_value, offline.challenger_value, checks)


def _sequential_outcome(online: OnlineScores, rules: DecisionConfig, offline: PairedScores) -> SequentialOutcome:
    settings = rules.online
    scores = online.scores
    assert scores.champion is not None, "online shadow evidence pairs the challenger with a serving champion"
    cap = settings.error_cap if scores.task == "regression" else None
    if scores.task == "regression" and cap is None:
        cap = float(np.ptp(offline.y)) or 1.0  # the labels' range in the offline holdout, known before any online row
    gains = per_row_gain(settings.loss, scores.y, scores.champion, scores.challenger, scores.task, cap)
    return sequential_test(
        gains,
        (1 - rules.confidence_level) / 2,
        settings.loss,
        online.window.duration_hours,
        settings.max_duration_hours,
        settings.min_labelled_rows,
        settings.futility_gain,
        settings.planned_rows,
        gain_bound(settings.loss, scores.task, cap),
    )


def _undecided(verdict: GateResult, online_reason: str, rules: DecisionConfig) -> GateResult:
    """The offline verdict while the online evidence has not decided (held in shadow when required)."""
    if rules.online.required and verdict.action != "reject":
        return replace(
            verdict,
            action="hold",
            reason=(f"{online_reason} (decision.online.required); offline replay says {verdict.action}: {verdict.reason}"),
        )
    return replace(verdict, reason=f"{verdict.reason}; online: {online_reason}")


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
