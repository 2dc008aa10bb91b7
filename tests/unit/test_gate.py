from __future__ import annotations

import math

import numpy as np
import pytest

from champion_challenger.config import DecisionConfig
from champion_challenger.evaluation.gate import decide
from champion_challenger.evaluation.metrics import binary_metrics

RULES = DecisionConfig(primary_metric="roc_auc", min_improvement=0.01, quality_floor=0.6)


@pytest.mark.parametrize(
    ("challenger", "champion", "rules", "action", "reason"),
    [
        pytest.param({"roc_auc": 0.70}, None, RULES, "promote", "no champion yet", id="first-champion"),
        pytest.param({"roc_auc": 0.55}, None, RULES, "hold", "misses the quality floor", id="first-below-floor"),
        pytest.param({"roc_auc": 0.75}, {"roc_auc": 0.70}, RULES, "promote", "gain +0.0500", id="better"),
        pytest.param({"roc_auc": 0.705}, {"roc_auc": 0.70}, RULES, "hold", "required >= 0.0100", id="too-small-gain"),
        pytest.param({"roc_auc": 0.65}, {"roc_auc": 0.70}, RULES, "hold", "gain -0.0500", id="worse"),
        pytest.param({"roc_auc": 0.58}, {"roc_auc": 0.50}, RULES, "hold", "quality floor", id="better-but-below-floor"),
        pytest.param({"roc_auc": math.nan}, {"roc_auc": 0.7}, RULES, "hold", "undefined", id="nan"),
        pytest.param(
            {"log_loss": 0.40}, {"log_loss": 0.45},
            DecisionConfig(primary_metric="log_loss", min_improvement=0.01, quality_floor=0.6),
            "promote", "log_loss=0.4000", id="lower-is-better",
        ),
        pytest.param(
            {"roc_auc": 0.70}, {"roc_auc": 0.70}, DecisionConfig(primary_metric="roc_auc"), "hold", "gain +0.0000",
            id="tie-never-promotes",
        ),
    ],
)
def test_decide(challenger, champion, rules, action, reason):
    decision = decide(challenger, champion, rules)
    assert decision.action == action
    assert reason in decision.reason


def test_rules_are_validated_when_built():
    with pytest.raises(ValueError, match="min_improvement"):
        DecisionConfig(min_improvement=-1)


def test_binary_metrics_match_hand_computed_values():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    m = binary_metrics(y, p)
    assert m["accuracy"] == 0.5
    assert m["roc_auc"] == 0.75
    assert m["n"] == 4
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)


def test_binary_metrics_rejects_empty():
    with pytest.raises(ValueError, match="non-empty"):
        binary_metrics(np.array([]), np.array([]))
