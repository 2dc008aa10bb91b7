"""The cycle's decision: trigger-form overrides of the rules, force_promote, dry run, holding in shadow."""

from __future__ import annotations

import pytest

from champion_challenger.config.sections import DecisionConfig, OnlineEvidenceConfig
from champion_challenger.errors import ConfigError
from champion_challenger.payloads import CheckResult, Decision, ShadowWindow
from champion_challenger.policy.decision import (
    OVERRIDABLE,
    decision_rules,
    final_decision,
    form_overrides,
    keeps_challenger_in_shadow,
)
from champion_challenger.policy.gate import GateResult

BASE = DecisionConfig(primary_metric="roc_auc", min_improvement=0.002, quality_floor=0.6, slice_columns=["contract_type"])
CHECKS = (CheckResult("min_samples", True, "900 paired rows"), CheckResult("primary:roc_auc", False, "gain in the noise"))
WINDOW = ShadowWindow(1, 2, None, None, 5.0, 30, 10, False, "shadow window 5.0 of 336 hours")
DONE = ShadowWindow(1, 2, None, None, 400.0, 3000, 1500, True, "shadow window complete")


def verdict(action: str, reason: str = "the gate's words") -> GateResult:
    return GateResult(action, reason, "roc_auc", 0.71, 0.72, CHECKS)


# ---- decision_rules / form_overrides -----------------------------------------------------------
def test_no_override_keeps_the_rules():
    assert decision_rules(BASE) == BASE
    assert decision_rules(BASE, {}) == BASE


def test_a_valid_override_is_applied_and_the_rest_kept():
    rules = decision_rules(BASE, {"primary_metric": "log_loss", "min_improvement": 0.01})
    assert (rules.primary_metric, rules.min_improvement) == ("log_loss", 0.01)
    assert rules.quality_floor == 0.6 and rules.slice_columns == ["contract_type"] and rules.online == BASE.online


@pytest.mark.parametrize(
    ("overrides", "names"),
    [
        pytest.param({"primary_metric": "auc"}, "primary_metric", id="unknown-metric"),
        pytest.param({"min_improvement": -0.1}, "min_improvement", id="negative-improvement"),
        pytest.param({"no_such_rule": 1}, "no_such_rule", id="unknown-key"),
    ],
)
def test_an_invalid_override_raises_config_error_naming_it(overrides, names):
    with pytest.raises(ConfigError, match=rf"invalid decision override from the trigger form:(.|\n)*{names}"):
        decision_rules(BASE, overrides)


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        pytest.param({}, {}, id="empty-form"),
        pytest.param({"primary_metric": None, "min_improvement": None}, {}, id="unset-knobs"),
        pytest.param({"primary_metric": "f1", "min_improvement": None}, {"primary_metric": "f1"}, id="metric-only"),
        pytest.param({"min_improvement": 0.0}, {"min_improvement": 0.0}, id="zero-is-set"),
        pytest.param(
            {"primary_metric": "f1", "force_train": True, "dry_run": True, "candidates": ["a"]},
            {"primary_metric": "f1"},
            id="other-params-left-out",
        ),
    ],
)
def test_form_overrides(params, expected):
    assert form_overrides(params) == expected


def test_only_the_metric_and_improvement_are_overridable():
    assert OVERRIDABLE == ("primary_metric", "min_improvement")


# ---- final_decision ----------------------------------------------------------------------------
@pytest.mark.parametrize("action", ["promote", "hold", "reject"])
def test_the_gate_s_verdict_is_the_decision_by_default(action):
    decision = final_decision(verdict(action), WINDOW)
    assert decision == Decision(action, "the gate's words", "roc_auc", 0.72, 0.71, CHECKS, WINDOW)
    assert not decision.forced and not decision.dry_run and decision.would is None


@pytest.mark.parametrize("action", ["hold", "reject"])
def test_force_promote_overrides_the_gate_keeping_its_words(action):
    decision = final_decision(verdict(action), force_promote=True)
    assert decision.action == "promote" and decision.forced
    assert decision.reason == f"forced by the trigger form (gate said {action}: the gate's words)"
    assert decision.checks == CHECKS


def test_force_promote_of_a_promotion_is_not_forced():
    decision = final_decision(verdict("promote"), force_promote=True)
    assert decision.action == "promote" and not decision.forced and decision.reason == "the gate's words"


@pytest.mark.parametrize("action", ["promote", "hold", "reject"])
def test_a_dry_run_changes_nothing_and_says_what_it_would_do(action):
    decision = final_decision(verdict(action), dry_run=True)
    assert decision.action == "hold" and decision.dry_run and decision.would == action
    assert decision.reason == f"dry run, nothing changed: would {action}; the gate's words"


def test_a_dry_run_wins_over_force_promote():
    decision = final_decision(verdict("reject"), force_promote=True, dry_run=True)
    assert decision.action == "hold" and decision.would == "promote"
    assert decision.reason.startswith("dry run, nothing changed: would promote; forced by the trigger form")


# ---- keeps_challenger_in_shadow ----------------------------------------------------------------
REQUIRED = BASE.model_copy(update={"online": OnlineEvidenceConfig(required=True)})


@pytest.mark.parametrize(
    ("rules", "action", "window", "keeps"),
    [
        pytest.param(REQUIRED, "hold", WINDOW, True, id="hold-window-incomplete"),
        pytest.param(REQUIRED, "hold", None, True, id="hold-no-window-yet"),
        pytest.param(REQUIRED, "hold", DONE, False, id="hold-window-complete"),
        pytest.param(REQUIRED, "promote", WINDOW, False, id="promote"),
        pytest.param(REQUIRED, "reject", WINDOW, False, id="reject"),
        pytest.param(BASE, "hold", WINDOW, False, id="online-not-required"),
    ],
)
def test_keeps_challenger_in_shadow(rules, action, window, keeps):
    decision = final_decision(verdict(action), window)
    assert keeps_challenger_in_shadow(decision, rules) is keeps
