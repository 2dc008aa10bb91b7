"""The lifetime error budget: test levels never add up to more than alpha, and promotions pass theirs on."""

from __future__ import annotations

import numpy as np
import pytest

from champion_challenger.policy.error_budget import BudgetState, confidence_for, spending


def test_the_shares_of_the_fresh_budget_sum_to_one_and_shrink():
    shares = [spending(i) for i in range(1, 10_001)]
    assert shares[:3] == pytest.approx([1 / 2, 1 / 6, 1 / 12])
    assert sum(shares) == pytest.approx(1 - 1 / 10_001)
    assert all(a > b for a, b in zip(shares, shares[1:], strict=False))
    with pytest.raises(ValueError, match="numbered from 1"):
        spending(0)


def test_levels_without_promotions_add_up_to_at_most_alpha():
    state, spent = BudgetState(0.05), 0.0
    for _ in range(500):
        level = state.next_level()
        spent += level
        state = state.after_test(level, promoted=False)
    assert spent <= 0.05 and state.remaining == pytest.approx(0.05 / 501)
    assert spent + state.remaining == pytest.approx(0.05)


def test_a_promotion_passes_its_level_on_to_the_next_test():
    first = BudgetState(0.05)
    assert first.next_level() == pytest.approx(0.025) and first.remaining == pytest.approx(0.05)
    promoted = first.after_test(0.025, promoted=True)
    assert promoted.carry == pytest.approx(0.025)
    assert promoted.next_level() == pytest.approx(0.05 / 6 + 0.025)
    held = promoted.after_test(promoted.next_level(), promoted=False)
    assert held.carry == 0 and held.next_level() == pytest.approx(0.05 / 12)


def test_confidence_of_an_interval_whose_lower_bound_is_a_one_sided_test():
    assert confidence_for(0.025) == pytest.approx(0.95)
    assert confidence_for(0.05 / 12) == pytest.approx(1 - 0.05 / 6)


@pytest.mark.parametrize("better_share", [0.0, 0.3])
def test_lifetime_false_promotions_stay_within_alpha_over_fifty_cycles(better_share):
    """10,000 seeded pipelines of 50 cycles. A challenger that is not better passes its test with
    probability exactly its level (the worst case); a better one always passes (the worst case for the
    carry). Across the pipeline's life at most alpha of them ever promote a challenger that is not better."""
    rng = np.random.default_rng(8)
    pipelines, cycles, alpha = 10_000, 50, 0.05
    ever_false = 0
    for _ in range(pipelines):
        state, false = BudgetState(alpha), False
        for _ in range(cycles):
            level = state.next_level()
            better = rng.uniform() < better_share
            promoted = better or rng.uniform() < level
            false |= promoted and not better
            state = state.after_test(level, promoted)
        ever_false += false
    simulation_error = 3 * np.sqrt(alpha * (1 - alpha) / pipelines)
    assert ever_false / pipelines <= alpha + simulation_error
