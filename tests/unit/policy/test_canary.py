"""The progressive canary's verdicts: breach → rollback at once, widen only after the step's time and traffic,
complete after the last step."""

from __future__ import annotations

import pytest

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.config.sections import ServingConfig
from champion_challenger.payloads import AliasState
from champion_challenger.policy.canary import Canary, judge_canary
from champion_challenger.policy.watch import WatchFindings
from tests.unit.policy.test_training_plan import config as pipeline_config

STEPS = (0.05, 0.25, 0.5)
HEALTHY = WatchFindings({"requests": 500.0, "error_rate": 0.0})
BREACH = WatchFindings({"error_rate": 0.4}, ("error rate 40.0% > 5.0% over 50 requests",))


def config(step_hours: float = 1, min_requests: int = 20) -> PipelineConfig:
    base = pipeline_config()
    serving = base.serving.model_copy(update={"canary_steps": list(STEPS), "canary_step_hours": step_hours})
    watch = base.watch.model_copy(update={"min_requests": min_requests})
    return base.model_copy(update={"serving": serving, "watch": watch})


def canary(step: int = 0) -> Canary:
    return Canary(version=2, champion=1, steps=STEPS, step=step)


def test_a_breach_rolls_back_at_once_even_before_the_step_ends():
    verdict = judge_canary(canary(1), 0.1, 50, BREACH, config())
    assert verdict.action == "rollback"
    assert "step 2/3 (25% of entities)" in verdict.reason and "error rate 40.0%" in verdict.reason


@pytest.mark.parametrize(("hours", "requests", "why"), [(0.5, 500, "step ran 0.50 h of 1 h"), (2, 5, "5 requests")])
def test_a_step_waits_for_its_time_and_for_enough_traffic(hours, requests, why):
    verdict = judge_canary(canary(), hours, requests, HEALTHY, config())
    assert verdict.action == "wait" and why in verdict.reason


def test_a_step_that_held_widens_to_the_next_share():
    verdict = judge_canary(canary(0), 1.5, 500, HEALTHY, config())
    assert verdict.action == "widen" and "widening to 25%" in verdict.reason


def test_the_last_step_that_held_completes_the_promotion():
    verdict = judge_canary(canary(2), 1.5, 500, HEALTHY, config())
    assert verdict.action == "complete" and "5%, 25%, 50%" in verdict.reason


def test_the_canary_applies_only_under_the_aliases_it_started_with():
    c = canary()
    assert c.applies_to(AliasState(champion=1, challenger=2, previous=None))
    assert not c.applies_to(AliasState(champion=2, challenger=None, previous=1))  # completed
    assert not c.applies_to(AliasState(champion=3, challenger=2, previous=1))  # someone promoted another
    assert not c.applies_to(AliasState(champion=1, challenger=None, previous=None))  # rolled back
    assert Canary.from_json(c.widened({"success": 3.0}).to_json()).fraction == 0.25


@pytest.mark.parametrize("steps", [[0.5, 0.25], [0.0, 0.5], [0.2, 1.5], [0.3, 0.3]])
def test_canary_steps_must_be_growing_shares(steps):
    with pytest.raises(ValueError, match="growing shares"):
        ServingConfig(canary_steps=steps)
