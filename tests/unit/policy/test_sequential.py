"""The always-valid online test: valid under the null however often it is looked at, and it stops early."""

from __future__ import annotations

import numpy as np
import pytest

from champion_challenger.policy.sequential import (
    LOG_LOSS_CAP,
    confidence_sequence,
    gain_bound,
    per_row_gain,
    sequential_test,
)

ALPHA = 0.05
STREAMS = 1000


def labelled_stream(rng: np.random.Generator, n: int, champion_noise: float, challenger_noise: float):
    """Labels from true probabilities; each model sees them through logit noise (less noise = better)."""
    q = rng.beta(2, 5, n)
    y = (rng.uniform(size=n) < q).astype(int)

    def model(noise: float) -> np.ndarray:
        return 1 / (1 + np.exp(-(np.log(q / (1 - q)) + rng.normal(0, noise, n))))

    return y, model(champion_noise), model(challenger_noise)


def ever_crosses_zero(loss: str, streams: int, steps: int, seed: int) -> tuple[float, float]:
    """Share of null streams whose lower (upper) bound ever leaves 0, looked at after EVERY row."""
    rng = np.random.default_rng(seed)
    up = down = 0
    for _ in range(streams):
        y, champion, challenger = labelled_stream(rng, steps, 1.0, 1.0)  # the same model quality: true gain 0
        low, high = confidence_sequence(per_row_gain(loss, y, champion, challenger), ALPHA, gain_bound(loss))
        up += bool((low > 0).any())
        down += bool((high < 0).any())
    return up / streams, down / streams


@pytest.mark.parametrize("loss", ["brier", "accuracy", "log_loss"])
def test_under_the_null_looking_every_step_crosses_at_most_alpha_of_the_time(loss):
    """1,000 seeded streams of 2,000 equally good paired rows; the bound is checked after every row."""
    false_promotions, false_rejections = ever_crosses_zero(loss, STREAMS, 2000, seed=11)
    simulation_error = 3 * np.sqrt(ALPHA * (1 - ALPHA) / STREAMS)
    assert false_promotions <= ALPHA + simulation_error, false_promotions
    assert false_rejections <= ALPHA + simulation_error, false_rejections


def test_the_sequence_covers_the_true_mean_at_every_n_in_almost_every_stream():
    rng = np.random.default_rng(3)
    streams, missed = 300, 0
    for _ in range(streams):
        gains = np.clip(rng.normal(0.1, 0.3, 1500), -1, 1)  # symmetric around 0.1 inside [-1, 1]: mean 0.1
        low, high = confidence_sequence(gains, ALPHA / 2, planned_rows=500)
        missed += bool(((low > 0.1) | (high < 0.1)).any())
    assert missed / streams <= ALPHA + 3 * np.sqrt(ALPHA * (1 - ALPHA) / streams)


def test_bounds_shrink_as_rows_arrive_and_stay_inside_the_gain_range():
    rng = np.random.default_rng(5)
    y, champion, challenger = labelled_stream(rng, 5000, 1.0, 0.8)
    low, high = confidence_sequence(per_row_gain("brier", y, champion, challenger), ALPHA)
    assert np.all(low <= high) and low.min() >= -1 and high.max() <= 1
    assert (high - low)[-1] < (high - low)[99] / 4


def test_a_clearly_better_challenger_is_promoted_early():
    y, champion, challenger = labelled_stream(np.random.default_rng(1), 4000, 1.0, 0.6)
    outcome = sequential_test(per_row_gain("brier", y, champion, challenger), 0.025, "brier", 30.0, 336, 200)
    assert outcome.action == "promote" and outcome.low > 0 and outcome.rows == 4000
    assert outcome.reason.startswith("challenger better with confidence: mean brier gain +")


def test_a_clearly_worse_challenger_is_rejected_early():
    y, champion, challenger = labelled_stream(np.random.default_rng(2), 4000, 0.6, 1.0)
    outcome = sequential_test(per_row_gain("brier", y, champion, challenger), 0.025, "brier", 30.0, 336, 200)
    assert outcome.action == "reject" and outcome.high < 0


def test_no_difference_worth_waiting_for_holds_for_futility():
    y, champion, challenger = labelled_stream(np.random.default_rng(4), 60_000, 1.0, 1.0)
    outcome = sequential_test(per_row_gain("brier", y, champion, challenger), 0.025, "brier", 30.0, 336, 200,
                              futility_gain=0.005)  # fmt: skip
    assert outcome.action == "hold" and outcome.high < 0.005 and "not worth" not in outcome.reason
    assert "no difference worth waiting for" in outcome.reason


@pytest.mark.parametrize(
    ("rows", "hours", "action", "says"),
    [
        pytest.param(50, 10.0, "continue", "waiting for labelled rows: 50 of 200", id="too-few-rows"),
        pytest.param(50, 400.0, "hold", "max duration reached: 50 of 200", id="too-few-rows-at-max-duration"),
        pytest.param(300, 10.0, "continue", "not decided yet", id="undecided"),
        pytest.param(300, 400.0, "hold", "no decision within the maximum duration of 336 h", id="undecided-at-max-duration"),
    ],
)
def test_an_undecided_test_continues_until_its_maximum_duration(rows, hours, action, says):
    y, champion, challenger = labelled_stream(np.random.default_rng(6), rows, 1.0, 1.0)
    outcome = sequential_test(per_row_gain("brier", y, champion, challenger), 0.025, "brier", hours, 336, 200)
    assert outcome.action == action and says in outcome.reason


def test_per_row_gains_are_bounded_and_signed_challenger_minus_champion_loss():
    y = np.array([1, 0, 1, 0])
    good, bad = np.array([0.9, 0.1, 0.8, 0.2]), np.array([0.1, 0.9, 0.2, 0.8])
    for loss in ("brier", "accuracy", "log_loss"):
        gains = per_row_gain(loss, y, bad, good)
        assert np.all(gains > 0) and np.all(np.abs(gains) <= gain_bound(loss))
    assert np.abs(per_row_gain("log_loss", y, np.zeros(4), np.ones(4))).max() <= LOG_LOSS_CAP
    with pytest.raises(ValueError, match="unknown sequential loss 'auc'"):
        per_row_gain("auc", y, good, bad)
