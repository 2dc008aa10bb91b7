"""Which way is better for each metric: the one place that knows a metric is lower-is-better."""

from __future__ import annotations

import math

import numpy as np

#: Metrics where a smaller value is better (losses, errors and calibration error); every other metric
#: is higher-is-better. ``ece`` is the expected calibration error.
LOWER_IS_BETTER: frozenset[str] = frozenset(
    {"log_loss", "brier", "ece", "rmse", "mae", "smape", "absolute_error", "squared_error"}
)


def lower_is_better(metric: str) -> bool:
    """Whether a smaller value of ``metric`` is better."""
    return metric in LOWER_IS_BETTER


def oriented[V: (float, np.ndarray)](metric: str, value: V) -> V:
    """``value`` turned so that larger is always better (losses are negated); a float, or an array of them."""
    return -value if lower_is_better(metric) else value


def gain[V: (float, np.ndarray)](metric: str, challenger: V, champion: V) -> V:
    """Improvement of the challenger over the champion; positive means better, whatever the direction
    (floats, or arrays of values on the same resamples)."""
    return oriented(metric, challenger) - oriented(metric, champion)


def gain_interval(metric: str, low: float, high: float) -> tuple[float, float]:
    """A CI of the raw difference (challenger − champion) turned into a CI of the gain, or back
    (the same turn both ways: losses swap and negate the bounds)."""
    return (-high, -low) if lower_is_better(metric) else (low, high)


def meets_floor(metric: str, value: float, floor: float) -> bool:
    """Whether ``value`` is at least as good as ``floor``."""
    return oriented(metric, value) >= oriented(metric, floor)


def better(metric: str, challenger: float | None, champion: float | None, tolerance: float = 1e-12) -> str | None:
    """Which model is better on ``metric``: ``"challenger"``, ``"champion"``, ``"tie"``, or None
    without two finite values."""
    if challenger is None or champion is None or math.isnan(challenger) or math.isnan(champion):
        return None
    difference = gain(metric, challenger, champion)
    if abs(difference) <= tolerance:
        return "tie"
    return "challenger" if difference > 0 else "champion"
