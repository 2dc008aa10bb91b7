"""Binary metrics and calibration error, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from champion_challenger.config import DecisionConfig
from champion_challenger.evaluation.metrics import binary_metrics, expected_calibration_error, metric_value


def test_binary_metrics_match_hand_computed_values():
    y = np.array([0, 0, 1, 1])
    p = np.array([0.1, 0.6, 0.4, 0.9])
    m = binary_metrics(y, p)
    assert m["accuracy"] == 0.5 and m["roc_auc"] == 0.75 and m["n"] == 4
    assert m["brier"] == pytest.approx((0.01 + 0.36 + 0.36 + 0.01) / 4)
    for name in ("accuracy", "roc_auc", "brier", "log_loss", "f1", "precision", "recall"):
        assert metric_value(name, y, p) == pytest.approx(m[name])


def test_expected_calibration_error():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=50_000)
    y = (rng.uniform(size=50_000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.01  # calibrated
    assert expected_calibration_error(y, p / 2) == pytest.approx(0.25, abs=0.01)  # half the true rate
    assert binary_metrics(y, p)["ece"] == pytest.approx(expected_calibration_error(y, p))


def test_calibration_can_be_a_guardrail():
    rules = DecisionConfig(guardrails={"ece": 0.02})
    assert rules.guardrails == {"ece": 0.02}
