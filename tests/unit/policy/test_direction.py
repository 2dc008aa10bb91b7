"""Which way is better for each metric."""

from __future__ import annotations

import math
from typing import get_args

import pytest

from champion_challenger.config import sections as config
from champion_challenger.policy.direction import (
    LOWER_IS_BETTER,
    better,
    gain,
    gain_interval,
    lower_is_better,
    meets_floor,
    oriented,
)


@pytest.mark.parametrize(
    ("metric", "lower"),
    [pytest.param(m, m in {"log_loss", "brier", "ece", "rmse", "mae", "smape"}, id=m) for m in get_args(config.MetricName)],
)
def test_lower_is_better(metric, lower):
    assert lower_is_better(metric) is lower


def test_every_lower_is_better_metric_is_a_configurable_metric():
    assert LOWER_IS_BETTER <= set(get_args(config.MetricName)) | set(get_args(config.OnlineLoss))


def test_oriented_negates_losses_only():
    assert oriented("roc_auc", 0.8) == 0.8
    assert oriented("log_loss", 0.4) == -0.4


@pytest.mark.parametrize(
    ("metric", "challenger", "champion", "expected"),
    [
        pytest.param("roc_auc", 0.80, 0.75, 0.05, id="higher-better-improved"),
        pytest.param("roc_auc", 0.70, 0.75, -0.05, id="higher-better-worse"),
        pytest.param("log_loss", 0.40, 0.45, 0.05, id="loss-fell"),
        pytest.param("brier", 0.25, 0.20, -0.05, id="loss-rose"),
        pytest.param("accuracy", 0.9, 0.9, 0.0, id="same"),
    ],
)
def test_gain_is_positive_when_the_challenger_is_better(metric, challenger, champion, expected):
    assert gain(metric, challenger, champion) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("metric", "interval", "expected"),
    [
        pytest.param("roc_auc", (-0.01, 0.03), (-0.01, 0.03), id="higher-better-unchanged"),
        pytest.param("log_loss", (-0.01, 0.03), (-0.03, 0.01), id="loss-swapped-and-negated"),
    ],
)
def test_gain_interval(metric, interval, expected):
    assert gain_interval(metric, *interval) == expected
    assert gain_interval(metric, *gain_interval(metric, *interval)) == interval  # the same turn both ways


@pytest.mark.parametrize(
    ("metric", "value", "floor", "meets"),
    [
        pytest.param("roc_auc", 0.65, 0.60, True, id="above"),
        pytest.param("roc_auc", 0.60, 0.60, True, id="at-the-floor"),
        pytest.param("roc_auc", 0.55, 0.60, False, id="below"),
        pytest.param("log_loss", 0.40, 0.50, True, id="loss-below-ceiling"),
        pytest.param("log_loss", 0.60, 0.50, False, id="loss-above-ceiling"),
    ],
)
def test_meets_floor(metric, value, floor, meets):
    assert meets_floor(metric, value, floor) is meets


@pytest.mark.parametrize(
    ("metric", "challenger", "champion", "expected"),
    [
        pytest.param("roc_auc", 0.80, 0.75, "challenger", id="higher-wins"),
        pytest.param("roc_auc", 0.70, 0.75, "champion", id="higher-loses"),
        pytest.param("log_loss", 0.40, 0.45, "challenger", id="lower-loss-wins"),
        pytest.param("log_loss", 0.50, 0.45, "champion", id="higher-loss-loses"),
        pytest.param("roc_auc", 0.75, 0.75, "tie", id="tie"),
        pytest.param("roc_auc", 0.75 + 1e-13, 0.75, "tie", id="tie-within-tolerance"),
        pytest.param("roc_auc", math.nan, 0.75, None, id="nan-challenger"),
        pytest.param("log_loss", 0.4, math.nan, None, id="nan-champion"),
        pytest.param("roc_auc", 0.8, None, None, id="no-champion"),
        pytest.param("roc_auc", None, 0.8, None, id="no-challenger"),
    ],
)
def test_better(metric, challenger, champion, expected):
    assert better(metric, challenger, champion) == expected


def test_better_with_a_wider_tolerance():
    assert better("roc_auc", 0.751, 0.75, tolerance=0.01) == "tie"
    assert better("roc_auc", 0.77, 0.75, tolerance=0.01) == "challenger"
