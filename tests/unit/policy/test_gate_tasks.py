"""The gate on multiclass and regression scores: the same rules, the paired bootstrap on per-row losses,
lower-is-better handled by the one direction rule, and the per-class recall guardrail."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config.sections import DecisionConfig
from champion_challenger.metrics import metric_value, regression_metrics
from champion_challenger.policy.gate import PairedScores, evaluate_gate, paired_bootstrap_ci
from champion_challenger.policy.sequential import per_row_gain
from champion_challenger.task import TASK_DEFAULTS, stack_scores
from tests.unit.policy.scores import class_probabilities

CLASSES = ("billing", "outage", "sales", "technical")


def _rules(task: str, **update) -> DecisionConfig:
    defaults = TASK_DEFAULTS[task]
    return DecisionConfig(primary_metric=defaults["primary_metric"], guardrails=dict(defaults["guardrails"]), **update)


def regressors(n: int, seed: int, challenger_scale: float = 1.0) -> PairedScores:
    """A champion with unit RMSE; the challenger shares half of its error variance and scales its own part.

    ``challenger_scale`` 1.0: the same quality; below 1: a better challenger.
    """
    rng = np.random.default_rng(seed)
    y = rng.normal(50, 10, n)
    shared = rng.normal(0, np.sqrt(0.5), n)
    champion = y + shared + rng.normal(0, np.sqrt(0.5), n)
    own = np.sqrt(max(challenger_scale**2 - 0.5, 0.0))
    challenger = y + shared + rng.normal(0, own, n)
    return PairedScores(y, challenger, champion, task="regression")


def classifiers(n: int, seed: int, challenger_skill: float = 1.0) -> PairedScores:
    """Four-class probabilities: each model adds ``skill`` to the true class's logit. Like real challengers,
    both share most of their noise (they learn from the same features), so the comparison is paired."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)
    shared = rng.normal(0, 1, (n, len(CLASSES)))
    challenger = class_probabilities(rng, y, shared, challenger_skill)
    return PairedScores(y, challenger, class_probabilities(rng, y, shared, 1.0), task="multiclass", classes=CLASSES)


@pytest.mark.parametrize(
    ("task", "make"),
    [pytest.param("regression", regressors, id="regression"), pytest.param("multiclass", classifiers, id="multiclass")],
)
def test_identical_quality_models_are_promoted_in_at_most_5_of_100_seeded_trials(task, make):
    rules = _rules(task, bootstrap_samples=1000)
    actions = [evaluate_gate(make(5000, seed=trial), rules).action for trial in range(100)]
    assert actions.count("promote") <= 5, f"{task}: false promotions in {actions.count('promote')} of 100 trials"


def test_a_regressor_with_5_percent_lower_rmse_on_5000_rows_is_promoted():
    scores = regressors(5000, seed=1, challenger_scale=0.95)
    champion, challenger = (regression_metrics(scores.y, s)["rmse"] for s in (scores.champion, scores.challenger))
    assert challenger < champion  # 5 % lower by construction; this sample: see the ratio in the reason
    result = evaluate_gate(scores, _rules("regression"))
    assert result.action == "promote", result.reason
    primary = next(c for c in result.checks if c.name == "primary:rmse")
    assert primary.champion > primary.challenger and 0 < primary.ci_low < primary.ci_high
    assert "guardrail:smape" in [c.name for c in result.checks]


def test_a_clearly_worse_regressor_is_rejected_because_lower_rmse_is_better():
    result = evaluate_gate(regressors(5000, seed=2, challenger_scale=1.2), _rules("regression"))
    assert result.action == "reject" and "worse with confidence" in result.reason


def test_a_better_multiclass_model_is_promoted_with_every_class_recall_checked():
    result = evaluate_gate(classifiers(5000, seed=3, challenger_skill=1.3), _rules("multiclass"))
    assert result.action == "promote", result.reason
    names = [c.name for c in result.checks]
    assert [n for n in names if n.startswith("guardrail:class_recall=")] == [f"guardrail:class_recall={c}" for c in CLASSES]


def test_a_class_whose_recall_drops_beyond_the_tolerance_rejects_naming_the_class():
    scores = classifiers(5000, seed=4, challenger_skill=2.0)
    broken = scores.challenger.copy()
    outage = np.flatnonzero(scores.y == CLASSES.index("outage"))[::2]
    broken[outage] = np.roll(broken[outage], 1, axis=1)  # the challenger now misroutes half of the outage tickets
    rules = _rules("multiclass")
    better = evaluate_gate(PairedScores(scores.y, broken, scores.champion, task="multiclass", classes=CLASSES), rules)
    recall = {c.name.split("=", 1)[1]: c.passed for c in better.checks if c.name.startswith("guardrail:class_recall=")}
    assert recall == {"billing": True, "outage": False, "sales": True, "technical": True}
    primary = next(c for c in better.checks if c.name == "primary:macro_f1")
    assert primary.passed, primary.reason  # better overall, yet one class got worse: rejected
    assert better.action == "reject" and "recall of class 'outage'" in better.reason and "'billing'" not in better.reason


def test_slices_judge_the_primary_metric_of_the_task():
    scores = regressors(6000, seed=5, challenger_scale=0.9)
    region = np.where(np.arange(6000) % 4 == 0, "north", "south")
    worse = scores.challenger.copy()
    worse[region == "north"] += 3.0  # a biased challenger in one region
    sliced = PairedScores(scores.y, worse, scores.champion, pd.DataFrame({"region": region}), task="regression")
    rules = _rules("regression", slice_columns=["region"], slice_tolerance=0.1, min_slice_samples=200)
    result = evaluate_gate(sliced, rules)
    slices = {c.name: c.passed for c in result.checks if c.name.startswith("slice:")}
    assert slices == {"slice:region=north": False, "slice:region=south": True}


@pytest.mark.parametrize(
    ("task", "metric"),
    [
        pytest.param("regression", "rmse", id="rmse"),
        pytest.param("regression", "r2", id="r2"),
        pytest.param("regression", "mae", id="mae"),
        pytest.param("multiclass", "macro_f1", id="macro_f1"),
        pytest.param("multiclass", "log_loss", id="log_loss"),
    ],
)
def test_the_bootstrap_ci_contains_the_observed_gain(task, metric):
    scores = regressors(2000, seed=6, challenger_scale=0.9) if task == "regression" else classifiers(2000, 6, 1.3)
    low, high = paired_bootstrap_ci(metric, scores, samples=400, level=0.9)
    challenger = metric_value(metric, scores.y, scores.challenger, task=task)
    champion = metric_value(metric, scores.y, scores.champion, task=task)
    gain = champion - challenger if metric in {"rmse", "mae", "log_loss"} else challenger - champion
    assert low < gain < high


def test_no_quality_floor_set_promotes_a_first_regressor_without_a_floor_check():
    scores = regressors(1000, seed=7)
    result = evaluate_gate(PairedScores(scores.y, scores.challenger, task="regression"), _rules("regression"))
    assert result.action == "promote" and "no quality floor set" in result.reason
    assert [c.name for c in result.checks] == ["min_samples"]


@pytest.mark.parametrize("loss", ["brier", "log_loss", "accuracy"])
def test_an_online_window_without_labelled_rows_yet_gives_no_gains_for_a_multiclass_model(loss):
    """Before the first mirrored entity's label arrives, the paired online rows are empty (seen in an e2e cycle)."""
    empty = stack_scores([], "multiclass")
    assert per_row_gain(loss, np.array([], dtype=int), empty, empty, task="multiclass").shape == (0,)
