"""Binary metrics and calibration error, checked against hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from champion_challenger.config.sections import DecisionConfig
from champion_challenger.metrics import binary_metrics, expected_calibration_error, metric_value, resampled_metric


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


@pytest.mark.parametrize("metric", ["roc_auc", "ece"])
def test_vectorised_resampled_auc_and_ece_equal_the_metric_on_each_resample(metric):
    """The gate's bootstrap resamples ROC AUC and ECE in blocks; each value equals the metric computed
    on that resample's rows (ties in the scores, and a resample holding only one class: NaN for AUC)."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    scores = np.round(np.clip(0.3 * y + rng.uniform(0, 0.7, 300), 0, 1), 2)  # rounding makes ties
    idx = rng.integers(0, 300, size=(40, 300))
    idx[0] = np.flatnonzero(y == 1)[0]  # one row drawn 300 times: only one class
    vectorised = resampled_metric("binary", metric, y, scores, idx)
    for b in range(len(idx)):
        expected = metric_value(metric, y[idx[b]], scores[idx[b]])
        assert vectorised[b] == pytest.approx(expected, abs=1e-12, nan_ok=True)
    assert np.isnan(vectorised[0]) == (metric == "roc_auc")
