"""One verdict from the offline replay and the online shadow evidence, and how sources are combined."""

from __future__ import annotations

import pytest

from champion_challenger.config.sections import DecisionConfig, OnlineEvidenceConfig
from champion_challenger.payloads import CheckResult, ShadowWindow
from champion_challenger.policy.evidence import OnlineScores, combine_evidence, judge_evidence
from champion_challenger.policy.gate import GateResult, evaluate_gate, latency_guardrail, with_checks
from tests.unit.policy.scores import paired_models

FIXED = OnlineEvidenceConfig(test="fixed_horizon")
RULES = DecisionConfig(
    primary_metric="accuracy", quality_floor=0.5, guardrails={}, bootstrap_samples=300, min_samples=200, online=FIXED
)
REQUIRED = RULES.model_copy(update={"online": OnlineEvidenceConfig(test="fixed_horizon", required=True)})
BETTER = paired_models(4000, seed=1, fixes=0.05, breaks=0.0)
WORSE = paired_models(4000, seed=7, fixes=0.0, breaks=0.05)
FAST = {"champion": 2.0, "challenger": 3.0}
SLOW = {"champion": 2.0, "challenger": 5.0}


def window(complete: bool) -> ShadowWindow:
    reason = "shadow window complete" if complete else "shadow window 10.0 of 336 hours, 40 of 1000 labelled rows"
    return ShadowWindow(
        1,
        2,
        "2026-03-01T00:00:00+00:00",
        "2026-03-15T00:00:00+00:00",
        400.0 if complete else 10.0,
        1500 if complete else 50,
        1200 if complete else 40,
        complete,
        reason,
    )


def online(complete: bool, scores=BETTER, latency=FAST) -> OnlineScores:
    return OnlineScores(window(complete), scores, latency)


def _result(action: str, name: str = "primary:roc_auc") -> GateResult:
    return GateResult(action, f"{action} because", "roc_auc", 0.7, 0.72, (CheckResult(name, action == "promote", "r"),))


# ---- judge_evidence ----------------------------------------------------------------------------
def test_offline_only_is_the_gate_s_verdict():
    assert judge_evidence(BETTER, RULES) == (evaluate_gate(BETTER, RULES), None)
    assert judge_evidence(BETTER, RULES)[0].action == "promote"


def test_online_evidence_is_ignored_when_disabled():
    rules = RULES.model_copy(update={"online": OnlineEvidenceConfig(enabled=False)})
    assert judge_evidence(BETTER, rules, online(True, WORSE)) == (evaluate_gate(BETTER, rules), None)


def test_an_incomplete_window_leaves_the_offline_verdict_and_says_so():
    offline = evaluate_gate(BETTER, RULES)
    verdict, _ = judge_evidence(BETTER, RULES, online(False, WORSE, SLOW))
    assert verdict.action == offline.action == "promote"
    assert verdict.reason == f"{offline.reason}; online: {window(False).reason}"
    assert verdict.checks == offline.checks  # online rows are not judged yet


@pytest.mark.parametrize(
    ("offline", "action", "says"),
    [
        pytest.param(BETTER, "hold", "offline replay says promote", id="promote-becomes-hold"),
        pytest.param(WORSE, "reject", "worse with confidence", id="reject-stays-reject"),
    ],
)
def test_a_required_window_holds_the_challenger_in_shadow(offline, action, says):
    verdict, _ = judge_evidence(offline, REQUIRED, online(False))
    assert verdict.action == action
    assert says in verdict.reason
    if action == "hold":
        assert verdict.reason.startswith(window(False).reason) and "(decision.online.required)" in verdict.reason


def test_a_complete_window_is_judged_with_the_offline_replay():
    verdict, _ = judge_evidence(BETTER, RULES, online(True))
    assert verdict.action == "promote", verdict.reason
    names = [c.name for c in verdict.checks]
    assert {n.split("/")[0] for n in names} == {"offline", "online"}
    assert "offline/primary:accuracy" in names and "online/primary:accuracy" in names
    assert names[-1] == "online/guardrail:p99_latency"
    assert "offline/guardrail:p99_latency" not in names  # latency is measured on mirrored requests only
    assert verdict.reason.startswith("offline: promote") and "; online: promote" in verdict.reason


def test_a_slow_challenger_online_is_rejected_even_when_offline_promotes():
    verdict, _ = judge_evidence(BETTER, RULES, online(True, latency=SLOW))
    assert verdict.action == "reject"
    latency = next(c for c in verdict.checks if c.name == "online/guardrail:p99_latency")
    assert not latency.passed and "ratio 2.50" in latency.reason
    assert "online: reject (guardrail p99 latency" in verdict.reason


def test_worse_online_rejects_a_challenger_the_offline_replay_promotes():
    verdict, _ = judge_evidence(BETTER, RULES, online(True, WORSE))
    assert verdict.action == "reject" and "online: reject" in verdict.reason


# ---- combine_evidence --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("offline", "online_action", "expected"),
    [
        pytest.param("promote", "promote", "promote", id="both-promote"),
        pytest.param("promote", "hold", "hold", id="online-not-sure"),
        pytest.param("hold", "promote", "hold", id="offline-not-sure"),
        pytest.param("hold", "hold", "hold", id="both-not-sure"),
        pytest.param("promote", "reject", "reject", id="online-rejects"),
        pytest.param("reject", "promote", "reject", id="offline-rejects"),
        pytest.param("hold", "reject", "reject", id="reject-beats-hold"),
    ],
)
def test_combined_evidence_promotes_only_when_every_source_does(offline, online_action, expected):
    combined = combine_evidence({"offline": _result(offline), "online": _result(online_action)})
    assert combined.action == expected
    assert combined.reason.startswith(f"offline: {offline}") and f"online: {online_action}" in combined.reason
    assert [c.name for c in combined.checks] == ["offline/primary:roc_auc", "online/primary:roc_auc"]


def test_combined_values_are_the_first_source_s():
    first = _result("promote")
    second = GateResult("promote", "r", "roc_auc", 0.5, 0.9, ())
    combined = combine_evidence({"offline": first, "online": second})
    assert (combined.metric, combined.champion_value, combined.challenger_value) == ("roc_auc", 0.7, 0.72)


def test_a_single_source_keeps_its_action():
    combined = combine_evidence({"offline": _result("hold")})
    assert combined.action == "hold" and combined.reason == "offline: hold (hold because)"


def test_combining_nothing_is_refused():
    with pytest.raises(ValueError, match="at least one evidence source"):
        combine_evidence({})


# ---- latency guardrail and extra checks --------------------------------------------------------
def test_a_slow_challenger_is_rejected_by_the_latency_guardrail():
    slow = latency_guardrail(SLOW, max_ratio=2.0)
    assert not slow.passed and "ratio 2.50" in slow.reason
    rejected = with_checks(_result("promote"), [slow])
    assert rejected.action == "reject" and "p99 latency" in rejected.reason
    fine = with_checks(_result("promote"), [latency_guardrail(FAST, 2.0)])
    assert fine.action == "promote" and fine.checks[-1].name == "guardrail:p99_latency" and fine.checks[-1].passed


def test_a_failed_extra_check_on_a_reject_keeps_both_reasons():
    rejected = with_checks(_result("reject"), [latency_guardrail(SLOW, 2.0)])
    assert rejected.action == "reject"
    assert rejected.reason.startswith("reject because; guardrail p99 latency")


def test_latency_exactly_at_the_ratio_passes():
    assert latency_guardrail({"champion": 2.0, "challenger": 4.0}, max_ratio=2.0).passed


# ---- the always-valid online test decides (decision.online.test: sequential) --------------------
SEQUENTIAL = RULES.model_copy(update={"online": OnlineEvidenceConfig(min_labelled_rows=200, planned_rows=2000)})
UNSURE = paired_models(150, seed=5, fixes=0.05, breaks=0.0)  # fewer holdout rows than min_samples: offline holds


def test_a_clearly_better_online_stream_promotes_even_when_the_offline_replay_is_unsure():
    offline = evaluate_gate(UNSURE, SEQUENTIAL)
    verdict, outcome = judge_evidence(UNSURE, SEQUENTIAL, online(True, BETTER))
    assert offline.action == "hold" and outcome.action == "promote" and outcome.low > 0
    assert verdict.action == "promote"
    assert verdict.reason.startswith("online: promote (challenger better with confidence")
    assert "online/sequential:brier" in [c.name for c in verdict.checks]


def test_an_offline_reject_stops_an_online_promotion():
    verdict, outcome = judge_evidence(WORSE, SEQUENTIAL, online(True, BETTER))
    assert outcome.action == "promote" and verdict.action == "reject"


def test_a_clearly_worse_online_stream_rejects():
    verdict, outcome = judge_evidence(BETTER, SEQUENTIAL, online(True, WORSE))
    assert outcome.action == "reject" and outcome.high < 0 and verdict.action == "reject"


def test_an_undecided_online_test_leaves_the_offline_verdict_or_holds_in_shadow_when_required():
    few = online(False, paired_models(100, seed=2, fixes=0.05, breaks=0.0))
    verdict, outcome = judge_evidence(BETTER, SEQUENTIAL, few)
    assert outcome.action == "continue" and verdict.action == "promote"
    assert "online: waiting for labelled rows: 100 of 200" in verdict.reason
    required = SEQUENTIAL.model_copy(update={"online": SEQUENTIAL.online.model_copy(update={"required": True})})
    held, _ = judge_evidence(BETTER, required, few)
    assert held.action == "hold" and "(decision.online.required)" in held.reason
