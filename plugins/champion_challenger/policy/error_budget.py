"""The error budget across cycles: over the whole life of a pipeline, the probability of ever promoting
a challenger that is not better stays at most ``decision.error_budget.alpha``.

Every challenger judged against a champion is one test. Test ``i`` (1, 2, 3, ...) may be wrong with
probability at most ``α_i``, and the levels are chosen so that they never add up to more than ``α``
(online family-wise error control, the "online fallback" procedure of Tian & Ramdas 2021,
"Online control of the familywise error rate"):

    α_i = α · γ_i + (α_{i-1} if test i-1 promoted its challenger else 0),   γ_i = 1 / (i (i + 1)).

``Σ γ_i = 1``, so the fresh budget never runs out, it is spread thinner: test 1 gets α/2, test 2 α/6,
test 10 α/110; what remains for all later tests is ``α / (i + 1)``. A promotion passes its level on
to the next test (a promotion that was right cost nothing; one that was wrong is the one error the
budget allows), so a pipeline that keeps promoting better models keeps its power.

Within one test, both kinds of evidence are judged at the same ``α_i``: the offline replay (one look
at fresh, never-trained-on rows) and the always-valid online test. A promotion that needs both to
agree is wrong only if both are, so it stays within ``α_i``; a promotion on the offline replay alone
is a level-``α_i`` test by itself. Guardrails and slices can only stop a promotion, never cause one,
so they add no false promotions and need no share of the budget.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BudgetState:
    """The error budget of one registered model (kept as registered-model tags).

    Attributes:
        alpha: the lifetime budget (``decision.error_budget.alpha``).
        tests: challengers judged so far.
        carry: the level the last test passes on (its own level when it promoted, else 0).
    """

    alpha: float
    tests: int = 0
    carry: float = 0.0

    @property
    def remaining(self) -> float:
        """Budget left for every future test: the unspent fresh part plus what is carried."""
        return self.alpha / (self.tests + 1) + self.carry

    def next_level(self) -> float:
        """The one-sided error level of the next test."""
        return self.alpha * spending(self.tests + 1) + self.carry

    def after_test(self, level: float, promoted: bool) -> BudgetState:
        """The state once a test at ``level`` is counted; a statistical promotion passes ``level`` on."""
        return BudgetState(self.alpha, self.tests + 1, level if promoted else 0.0)


def spending(test: int) -> float:
    """``γ_i = 1 / (i (i + 1))``: test ``i``'s share of the fresh budget (the shares sum to 1)."""
    if test < 1:
        raise ValueError(f"tests are numbered from 1, got {test}")
    return 1.0 / (test * (test + 1))


def confidence_for(level: float) -> float:
    """The two-sided confidence of an interval whose lower bound is a one-sided test at ``level``."""
    return 1 - 2 * level
