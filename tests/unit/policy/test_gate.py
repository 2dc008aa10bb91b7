from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config.sections import DecisionConfig
from champion_challenger.metrics import binary_metrics, metric_value
from champion_challenger.payloads import CheckResult
from champion_challenger.policy.gate import PairedScores, evaluate_gate, paired_bootstrap_ci
from tests.unit.policy.scores import paired_models

ACCURACY = DecisionConfig(primary_metric="accuracy", quality_floor=0.5, guardrails={}, bootstrap_samples=1000)


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
        pytest.param(
            paired_models(100, 5, 0.05, 0.0), ACCURACY, "hold", "not enough evidence: 100 paired rows", id="too-few-rows"
        ),
        pytest.param(
            PairedScores(np.array([0, 1] * 500), np.tile([0.2, 0.8], 500)),
            ACCURACY,
            "promote",
            "no champion yet",
            id="first-champion",
        ),
        pytest.param(
            PairedScores(np.array([0, 1] * 500), np.tile([0.6, 0.4], 500)),
            ACCURACY,
            "reject",
            "misses the quality floor",
            id="first-below-floor",
        ),
        pytest.param(paired_models(5000, 7, 0.0, 0.04), ACCURACY, "reject", "worse with confidence", id="clearly-worse"),
        pytest.param(
            paired_models(5000, 8, 0.03, 0.01),
            ACCURACY.model_copy(update={"min_improvement": 0.05}),
            "hold",
            "required >= 0.0500",
            id="gain-below-minimum",
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


def test_every_check_is_reported_passed_or_failed():
    """Guardrails and slices that hold are in ``checks`` with ``passed=True``, after ``min_samples``."""
    n = 6000
    segment = np.where(np.random.default_rng(11).uniform(size=n) < 0.5, "A", "B")
    better = paired_models(n, seed=11, fixes=0.06, breaks=0.0)
    scores = PairedScores(better.y, better.challenger, better.champion, pd.DataFrame({"segment": segment}))
    rules = ACCURACY.model_copy(
        update={
            "guardrails": {"log_loss": 1.0, "brier": 1.0},
            "slice_columns": ["segment"],
            "slice_tolerance": 0.5,
            "min_slice_samples": 100,
        }
    )
    result = evaluate_gate(scores, rules)
    assert result.action == "promote", result.reason
    assert [c.name for c in result.checks] == [
        "min_samples",
        "quality_floor",
        "primary:accuracy",
        "guardrail:log_loss",
        "guardrail:brier",
        "slice:segment=A",
        "slice:segment=B",
    ]
    assert all(isinstance(c, CheckResult) and c.passed for c in result.checks)
    guardrail = next(c for c in result.checks if c.name == "guardrail:log_loss")
    assert guardrail.limit == 1.0 and guardrail.champion is not None and guardrail.challenger is not None
    assert "tolerance 1.0000" in guardrail.reason
    min_samples = result.checks[0]
    assert min_samples.limit == rules.min_samples and f"{n} paired rows" in min_samples.reason


def test_a_failed_slice_is_reported_beside_the_slices_that_hold():
    n = 6000
    segment = np.where(np.random.default_rng(3).uniform(size=n) < 0.8, "A", "B")
    better = paired_models(n, seed=3, fixes=0.06, breaks=0.0)
    worse = paired_models(n, seed=3, fixes=0.0, breaks=0.15)
    challenger = np.where(segment == "A", better.challenger, worse.challenger)
    scores = PairedScores(better.y, challenger, better.champion, pd.DataFrame({"segment": segment}))
    result = evaluate_gate(scores, ACCURACY.model_copy(update={"slice_columns": ["segment"], "slice_tolerance": 0.03}))
    slices = {c.name: c.passed for c in result.checks if c.name.startswith("slice:")}
    assert slices == {"slice:segment=A": True, "slice:segment=B": False}
    assert result.action == "hold"


def test_small_slices_are_not_judged():
    scores = paired_models(3000, seed=12, fixes=0.04, breaks=0.0)
    tiny = np.where(np.arange(3000) < 50, "rare", "common")
    scores = PairedScores(scores.y, scores.challenger, scores.champion, pd.DataFrame({"segment": tiny}))
    rules = ACCURACY.model_copy(update={"slice_columns": ["segment"], "min_slice_samples": 100, "slice_tolerance": 1.0})
    names = [c.name for c in evaluate_gate(scores, rules).checks]
    assert "slice:segment=common" in names and "slice:segment=rare" not in names


def test_too_few_rows_report_only_the_failed_min_samples_check():
    result = evaluate_gate(paired_models(100, seed=5, fixes=0.05, breaks=0.0), ACCURACY)
    assert result.action == "hold"
    assert [(c.name, c.passed) for c in result.checks] == [("min_samples", False)]


def test_first_model_reports_min_samples_and_quality_floor():
    result = evaluate_gate(PairedScores(np.array([0, 1] * 500), np.tile([0.2, 0.8], 500)), ACCURACY)
    assert result.action == "promote" and result.champion_value is None
    assert [(c.name, c.passed) for c in result.checks] == [("min_samples", True), ("quality_floor", True)]
