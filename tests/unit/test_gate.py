from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config import DecisionConfig
from champion_challenger.evaluation.gate import PairedScores, evaluate_gate, paired_bootstrap_ci
from champion_challenger.evaluation.metrics import binary_metrics, metric_value

ACCURACY = DecisionConfig(primary_metric="accuracy", quality_floor=0.5, guardrails={}, bootstrap_samples=1000)


def paired_models(n: int, seed: int, fixes: float, breaks: float, base_accuracy: float = 0.8) -> PairedScores:
    """A champion right on ``base_accuracy`` of rows; the challenger fixes/breaks a share of rows.

    Real challengers share most of the champion's errors, which is why the comparison is paired.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    champion_right = rng.uniform(size=n) < base_accuracy
    u = rng.uniform(size=n)
    challenger_right = np.where(champion_right, u >= breaks / base_accuracy, u < fixes / (1 - base_accuracy))
    confidence = rng.uniform(0.55, 0.95, n)

    def proba(right):
        return np.where(right == (y == 1), confidence, 1 - confidence)

    return PairedScores(y=y, challenger=proba(challenger_right), champion=proba(champion_right))


def test_truly_better_by_two_points_promotes():
    scores = paired_models(5000, seed=1, fixes=0.03, breaks=0.01)
    gain = binary_metrics(scores.y, scores.challenger)["accuracy"] - binary_metrics(scores.y, scores.champion)["accuracy"]
    assert gain == pytest.approx(0.02, abs=0.006)
    result = evaluate_gate(scores, ACCURACY)
    assert result.action == "promote", result.reason
    primary = next(c for c in result.checks if c.name == "primary:accuracy")
    assert 0 < primary.ci_low < gain < primary.ci_high


def test_identical_quality_models_hold_in_at_least_95_of_100_trials():
    promoted = sum(
        evaluate_gate(paired_models(5000, seed=trial, fixes=0.03, breaks=0.03), ACCURACY).action == "promote"
        for trial in range(100)
    )
    assert promoted <= 5, f"false promotion rate {promoted}%"


def test_better_overall_but_worse_on_a_slice_is_held_naming_the_slice():
    n = 6000
    rng = np.random.default_rng(3)
    segment = np.where(rng.uniform(size=n) < 0.8, "A", "B")
    better = paired_models(n, seed=3, fixes=0.06, breaks=0.0)
    worse = paired_models(n, seed=3, fixes=0.0, breaks=0.15)
    challenger = np.where(segment == "A", better.challenger, worse.challenger)
    scores = PairedScores(better.y, challenger, better.champion, pd.DataFrame({"segment": segment}))
    rules = ACCURACY.model_copy(update={"slice_columns": ["segment"], "slice_tolerance": 0.03})
    assert metric_value("accuracy", scores.y, challenger) > metric_value("accuracy", scores.y, scores.champion)
    overall = evaluate_gate(scores, ACCURACY)
    assert overall.action == "promote", overall.reason
    result = evaluate_gate(scores, rules)
    assert result.action == "hold", result.reason
    assert "slice segment=B" in result.reason and "segment=A" not in result.reason


def test_guardrail_regression_rejects():
    scores = paired_models(3000, seed=4, fixes=0.04, breaks=0.0)
    overconfident = np.where(scores.challenger > 0.5, 0.999, 0.001)
    rules = ACCURACY.model_copy(update={"guardrails": {"log_loss": 0.02}})
    result = evaluate_gate(PairedScores(scores.y, overconfident, scores.champion), rules)
    assert result.action == "reject" and "guardrail log_loss" in result.reason


@pytest.mark.parametrize(
    ("scores", "rules", "action", "reason"),
    [
        pytest.param(paired_models(100, 5, 0.05, 0.0), ACCURACY, "hold", "not enough evidence: 100 paired rows", id="too-few-rows"),
        pytest.param(
            PairedScores(np.array([0, 1] * 500), np.tile([0.2, 0.8], 500)),
            ACCURACY, "promote", "no champion yet", id="first-champion",
        ),
        pytest.param(
            PairedScores(np.array([0, 1] * 500), np.tile([0.6, 0.4], 500)), ACCURACY, "reject", "misses the quality floor",
            id="first-below-floor",
        ),
        pytest.param(paired_models(5000, 7, 0.0, 0.04), ACCURACY, "reject", "worse with confidence", id="clearly-worse"),
        pytest.param(
            paired_models(5000, 8, 0.03, 0.01), ACCURACY.model_copy(update={"min_improvement": 0.05}),
            "hold", "required >= 0.0500", id="gain-below-minimum",
        ),
    ],
)
def test_verdicts(scores, rules, action, reason):
    result = evaluate_gate(scores, rules)
    assert result.action == action, result.reason
    assert reason in result.reason


def test_bootstrap_ci_of_auc_contains_the_observed_gain():
    scores = paired_models(2000, seed=9, fixes=0.03, breaks=0.01)
    low, high = paired_bootstrap_ci("roc_auc", scores, samples=300, level=0.9)
    gain = metric_value("roc_auc", scores.y, scores.challenger) - metric_value("roc_auc", scores.y, scores.champion)
    assert low < gain < high


def test_rules_are_validated_when_built():
    with pytest.raises(ValueError, match="min_improvement"):
        DecisionConfig(min_improvement=-1)
    with pytest.raises(ValueError, match="confidence_level"):
        DecisionConfig(confidence_level=1.5)


def test_paired_scores_need_equal_lengths():
    with pytest.raises(ValueError, match="equal lengths"):
        PairedScores(np.array([0, 1]), np.array([0.5]))


def test_binary_metrics_match_hand_computed_values():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    m = binary_metrics(y, p)
    assert m["accuracy"] == 0.5 and m["roc_auc"] == 0.75 and m["n"] == 4
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    for name in ("accuracy", "roc_auc", "brier", "log_loss", "f1", "precision", "recall"):
        assert metric_value(name, y, p) == pytest.approx(m[name])
