"""What a cycle does before any training (train / evaluate / skip) and which candidate becomes the challenger."""

from __future__ import annotations

import itertools
import math

import pytest

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.payloads import AliasState, CandidateResult, DriftOutcome, TrainingPlan
from champion_challenger.policy.training_plan import best_candidate, plan_training, training_reason

RETRAIN_EVERY = 168.0
DUE, NOT_DUE = 200.0, 10.0
DRIFT, NO_DRIFT = DriftOutcome(triggered=("features", "target")), DriftOutcome()
CHAMPION, NO_CHAMPION = AliasState(3, None, 2), AliasState(None, None, None)


def config(trigger: str = "drift_or_schedule", required: bool = False) -> PipelineConfig:
    """A minimal valid pipeline config (the shipped one's columns, default everything else)."""
    return PipelineConfig.model_validate(
        {
            "model_name": "churn_classifier",
            "experiment_name": "champion_challenger",
            "data": {
                "landing_dir": "data/landing",
                "target": "churned",
                "timestamp_column": "event_timestamp",
                "id_column": "customer_id",
            },
            "training": {"trigger": trigger, "retrain_every_hours": RETRAIN_EVERY},
            "decision": {"online": {"required": required}},
        }
    )


def _matrix():
    """drift × retrain due × champion × force: the first reason that applies wins, in this order."""
    for drift, due, champion, force in itertools.product((True, False), repeat=4):
        if force:
            expected = ("train", "forced by the trigger form (force_train)")
        elif not champion:
            expected = ("train", "no champion yet")
        elif drift:
            expected = ("train", "drift detected: features, target")
        elif due:
            expected = ("train", "scheduled retrain due: newest version is 200.0 h old (every 168 h)")
        else:
            expected = ("skip", "no drift that triggers training (features, prediction, target)")
        name = (
            "-".join(word for flag, word in ((drift, "drift"), (due, "due"), (champion, "champion"), (force, "force")) if flag)
            or "nothing"
        )
        yield pytest.param(drift, due, champion, force, *expected, id=name)


@pytest.mark.parametrize(("drift", "due", "champion", "force", "action", "says"), list(_matrix()))
def test_training_plan_matrix(drift, due, champion, force, action, says):
    plan = plan_training(
        config(), CHAMPION if champion else NO_CHAMPION, DRIFT if drift else NO_DRIFT, DUE if due else NOT_DUE, force=force
    )
    assert plan.action == action
    assert says in plan.reason
    assert plan.version is None


def test_matrix_has_sixteen_cases():
    assert len(list(_matrix())) == 16


def test_skip_says_how_old_the_newest_version_is_and_the_schedule():
    plan = plan_training(config(), CHAMPION, NO_DRIFT, NOT_DUE)
    assert plan == TrainingPlan(
        "skip",
        (
            "no drift that triggers training (features, prediction, target) and the scheduled retrain is not due "
            "(newest version 10.0 h old, training.retrain_every_hours 168)"
        ),
    )
    assert training_reason(config(), CHAMPION, NO_DRIFT, NOT_DUE) is None


def test_retrain_is_due_exactly_at_the_schedule_and_without_any_version():
    assert plan_training(config(), CHAMPION, NO_DRIFT, RETRAIN_EVERY).action == "train"
    assert plan_training(config(), CHAMPION, NO_DRIFT, math.inf).action == "train"


def test_trigger_always_trains_every_cycle():
    plan = plan_training(config(trigger="always"), CHAMPION, NO_DRIFT, NOT_DUE)
    assert plan == TrainingPlan("train", "training.trigger is 'always'")


def test_force_is_named_before_trigger_always():
    plan = plan_training(config(trigger="always"), CHAMPION, NO_DRIFT, NOT_DUE, force=True)
    assert plan.reason == "forced by the trigger form (force_train)"


# ---- evaluate: a challenger in its shadow window -----------------------------------------------
IN_SHADOW = AliasState(3, 4, 2)


def test_a_challenger_in_shadow_is_evaluated_again_when_online_evidence_is_required():
    plan = plan_training(config(required=True), IN_SHADOW, DRIFT, DUE)
    assert plan.action == "evaluate" and plan.version == 4
    assert plan.reason.startswith("challenger v4 is in its shadow window (decision.online.required)")


def test_force_trains_instead_of_evaluating_the_challenger_in_shadow():
    plan = plan_training(config(required=True), IN_SHADOW, NO_DRIFT, NOT_DUE, force=True)
    assert plan == TrainingPlan("train", "forced by the trigger form (force_train)")


@pytest.mark.parametrize(
    ("required", "state", "action"),
    [
        pytest.param(False, IN_SHADOW, "skip", id="not-required"),
        pytest.param(True, CHAMPION, "skip", id="no-challenger"),
        pytest.param(True, AliasState(None, 4, None), "train", id="challenger-without-champion"),
    ],
)
def test_evaluate_needs_required_online_evidence_a_champion_and_a_challenger(required, state, action):
    assert plan_training(config(required=required), state, NO_DRIFT, NOT_DUE).action == action


# ---- best_candidate ----------------------------------------------------------------------------
def candidate(name: str, **metrics: float) -> CandidateResult:
    return CandidateResult(name, f"run-{name}", f"runs:/run-{name}/model", metrics)


@pytest.mark.parametrize(
    ("metric", "results", "best"),
    [
        pytest.param(
            "roc_auc",
            [candidate("a", roc_auc=0.71), candidate("b", roc_auc=0.78), candidate("c", roc_auc=0.74)],
            "b",
            id="higher-is-better",
        ),
        pytest.param(
            "log_loss",
            [candidate("a", log_loss=0.52), candidate("b", log_loss=0.44), candidate("c", log_loss=0.61)],
            "b",
            id="lower-is-better",
        ),
        pytest.param(
            "roc_auc",
            [candidate("zeta", roc_auc=0.8), candidate("alpha", roc_auc=0.8), candidate("mid", roc_auc=0.7)],
            "alpha",
            id="tie-broken-by-name",
        ),
        pytest.param("log_loss", [candidate("b", log_loss=0.4), candidate("a", log_loss=0.4)], "a", id="tie-lower-is-better"),
        pytest.param("f1", [candidate("only", f1=0.1)], "only", id="single"),
    ],
)
def test_best_candidate(metric, results, best):
    assert best_candidate(results, metric).candidate == best


def test_best_candidate_of_nothing_is_refused():
    with pytest.raises(ValueError, match="no trained candidate to choose from"):
        best_candidate([], "roc_auc")


@pytest.mark.parametrize("force", [False, True])
def test_a_canary_in_progress_skips_training_even_when_forced(force):
    plan = plan_training(config(), AliasState(1, 2, None), DRIFT, DUE, force=force, canary="canary of v2 at step 1/3")
    assert plan.action == "skip"
    assert plan.reason.startswith("canary of v2 at step 1/3 is in progress")
    assert ("force_train ignored" in plan.reason) == force
