"""The cycle's decision: the gate's verdict with the trigger form's overrides, force and dry run (pure)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from champion_challenger.config.sections import DecisionConfig
from champion_challenger.errors import ConfigError
from champion_challenger.payloads import BudgetSpend, Decision, SequentialOutcome, ShadowWindow
from champion_challenger.policy.gate import GateResult
from champion_challenger.task import TaskKind, metrics_for

#: Trigger-form knobs that override ``decision:`` of the pipeline YAML for one run.
OVERRIDABLE = ("primary_metric", "min_improvement")


def decision_rules(base: DecisionConfig, overrides: dict[str, Any] | None = None, task: TaskKind = "binary") -> DecisionConfig:
    """``base`` with the trigger form's overrides applied and validated again.

    Raises:
        ConfigError: an override is not a valid decision setting, or its primary metric does not fit ``task``.
    """
    try:
        rules = DecisionConfig.model_validate({**base.model_dump(), **(overrides or {})})
    except ValidationError as exc:
        raise ConfigError(f"invalid decision override from the trigger form: {exc}") from None
    if rules.primary_metric not in metrics_for(task):
        raise ConfigError(
            f"trigger form: primary_metric {rules.primary_metric!r} does not fit a {task} target; "
            f"use one of {', '.join(metrics_for(task))}"
        )
    return rules


def form_overrides(params: dict[str, Any]) -> dict[str, Any]:
    """The decision overrides a trigger form's ``params`` set (unset knobs are left out)."""
    return {key: params[key] for key in OVERRIDABLE if params.get(key) is not None}


def final_decision(
    verdict: GateResult,
    online_window: ShadowWindow | None = None,
    force_promote: bool = False,
    dry_run: bool = False,
    sequential: SequentialOutcome | None = None,
    budget: BudgetSpend | None = None,
) -> Decision:
    """The gate's verdict turned into the cycle's decision.

    ``force_promote`` promotes whatever the gate said (the reason keeps the gate's words). A dry run
    never changes anything: its action is ``hold`` and ``would`` keeps what it would have done
    (a dry run wins over ``force_promote``). ``sequential`` and ``budget`` say how sure the verdict is.
    """
    # judge_evidence's verdicts carry the offline replay's value (the online test's own result never gets here)
    assert verdict.challenger_value is not None, "the verdict has no challenger value"
    action, reason, forced = verdict.action, verdict.reason, False
    if force_promote and action != "promote":
        action, reason, forced = "promote", f"forced by the trigger form (gate said {action}: {reason})", True
    would = None
    if dry_run:
        would, action, reason = action, "hold", f"dry run, nothing changed: would {action}; {reason}"
    return Decision(
        action=action,
        reason=reason,
        metric=verdict.metric,
        challenger_value=verdict.challenger_value,
        champion_value=verdict.champion_value,
        checks=verdict.checks,
        online_window=online_window,
        forced=forced,
        dry_run=dry_run,
        would=would,
        sequential=sequential,
        budget=budget,
    )


def keeps_challenger_in_shadow(decision: Decision, rules: DecisionConfig) -> bool:
    """A hold that waits for the online evidence to decide (``decision.online.required``): the
    challenger stays deployed and keeps ``@challenger``. A sequential test that stopped (futility,
    maximum duration) or a complete fixed-horizon window ends the wait."""
    if not (rules.online.required and decision.action == "hold"):
        return False
    if decision.sequential is not None:
        return decision.sequential.action == "continue"
    window = decision.online_window
    return not (window is not None and window.complete)
