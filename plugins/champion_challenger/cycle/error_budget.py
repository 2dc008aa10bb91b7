"""The lifetime error budget in the registry: which share of alpha a challenger is judged at, and its count.

The state lives as tags on the registered model (``ccp.budget.*``, see :mod:`champion_challenger.tags`);
each judged challenger version carries its test number and level, so a challenger judged again in a
later cycle (``decision.online.required``) keeps the level it was given. The rule itself is
:mod:`champion_challenger.policy.error_budget`.
"""

from __future__ import annotations

from mlflow.exceptions import MlflowException

from champion_challenger import tags
from champion_challenger.cycle.context import CycleContext
from champion_challenger.payloads import BudgetSpend, Decision
from champion_challenger.policy.error_budget import BudgetState


def read_budget(ctx: CycleContext) -> BudgetState:
    """The registered model's budget (a fresh one when nothing was judged yet)."""
    alpha = ctx.config.decision.error_budget.alpha
    try:
        found = ctx.client.get_registered_model(ctx.model_name).tags
    except MlflowException:
        return BudgetState(alpha)
    return BudgetState(alpha, int(found.get(tags.BUDGET_TESTS, 0)), float(found.get(tags.BUDGET_CARRY, 0.0)))


def level_for(ctx: CycleContext, version: int | None) -> BudgetSpend:
    """The share of the budget challenger ``version`` is judged at: the one it was given when first
    judged, else the next test's (``version`` None, a dry run: what the next test would get)."""
    if version is not None:
        given = ctx.client.get_model_version(ctx.model_name, str(version)).tags
        if tags.BUDGET_TEST in given:
            test, alpha = int(given[tags.BUDGET_TEST]), ctx.config.decision.error_budget.alpha
            return BudgetSpend(test, float(given[tags.BUDGET_LEVEL]), alpha, BudgetState(alpha, test).remaining)
    state = read_budget(ctx)
    level = state.next_level()
    return BudgetSpend(state.tests + 1, level, state.alpha, state.after_test(level, promoted=False).remaining)


def count_test(ctx: CycleContext, version: int, decision: Decision) -> BudgetState:
    """Count the test of challenger ``version`` once, and pass its level on when the gate promoted it.

    Idempotent: a version already counted is not counted again (a retry, or a challenger judged
    again while it waits in shadow); a forced promotion passes nothing on.
    """
    spend = decision.budget
    state = read_budget(ctx)
    given = ctx.client.get_model_version(ctx.model_name, str(version)).tags
    if tags.BUDGET_TEST not in given:
        for key, value in {tags.BUDGET_TEST: spend.test, tags.BUDGET_LEVEL: f"{spend.level:.6g}"}.items():
            ctx.client.set_model_version_tag(ctx.model_name, str(version), key, str(value))
        state = state.after_test(spend.level, promoted=False)
    if decision.action == "promote" and not decision.forced:
        state = BudgetState(state.alpha, state.tests, spend.level)
    for key, value in {tags.BUDGET_ALPHA: state.alpha, tags.BUDGET_TESTS: state.tests, tags.BUDGET_CARRY: state.carry}.items():
        ctx.client.set_registered_model_tag(ctx.model_name, key, f"{value:.6g}" if isinstance(value, float) else str(value))
    return state
