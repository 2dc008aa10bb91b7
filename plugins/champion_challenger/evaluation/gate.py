"""The champion–challenger decision as a pure function of metrics and rules.

In the spirit of MLflow's ``MetricThreshold``: the rules are validated when built (see
:class:`~champion_challenger.config.DecisionConfig`), the result carries a reason a person can read.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Literal

from champion_challenger.config import LOWER_IS_BETTER, DecisionConfig

Action = Literal["promote", "hold"]


@dataclass(frozen=True)
class Decision:
    """Outcome of the gate.

    Attributes:
        action: ``promote`` or ``hold``.
        reason: one sentence naming the metric, both values and the rule applied.
        metric: the primary metric.
        champion_value: champion's value (None when there is no champion).
        challenger_value: challenger's value.
    """

    action: Action
    reason: str
    metric: str
    champion_value: float | None
    challenger_value: float

    def as_dict(self) -> dict:
        return asdict(self)


def decide(
    challenger: dict[str, float],
    champion: dict[str, float] | None,
    rules: DecisionConfig,
) -> Decision:
    """Promote the challenger only if it clears the quality floor and beats the champion.

    Args:
        challenger: the challenger's metrics on the shared holdout.
        champion: the champion's metrics on the same rows, or None when there is no champion.
        rules: primary metric, minimum improvement and quality floor.

    Returns:
        The decision with its reason.
    """
    metric = rules.primary_metric
    lower = metric in LOWER_IS_BETTER
    value = challenger[metric]
    champ = None if champion is None else champion[metric]

    def result(action: Action, reason: str) -> Decision:
        return Decision(action, reason, metric, champ, value)

    if math.isnan(value):
        return result("hold", f"challenger {metric} is undefined on the holdout (one class only?)")
    floor_ok = value <= rules.quality_floor if lower else value >= rules.quality_floor
    if not floor_ok:
        return result("hold", f"challenger {metric}={value:.4f} misses the quality floor {rules.quality_floor:.4f}")
    if champ is None or math.isnan(champ):
        return result("promote", f"no champion yet; challenger {metric}={value:.4f} clears the floor {rules.quality_floor:.4f}")
    gain = (champ - value) if lower else (value - champ)
    verdict = f"challenger {metric}={value:.4f} vs champion {champ:.4f} (gain {gain:+.4f}, required >= {rules.min_improvement:.4f})"
    if gain >= rules.min_improvement and gain > 0:
        return result("promote", verdict)
    return result("hold", verdict)
