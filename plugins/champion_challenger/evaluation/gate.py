"""The champion–challenger gate: a pure function of paired scores and validated rules.

In the spirit of MLflow's ``MetricThreshold`` / ``validate_evaluation_results``: every check yields a
reason a person can read, and the result is one of

* ``promote`` — the challenger is better with confidence and breaks no guardrail or slice;
* ``hold``    — the evidence is not enough (too few rows, gain inside the noise, too small), or the
  challenger is better overall but drops more than the tolerance on a slice: it is not promoted, keeps
  its ``@challenger`` alias, and a person who has looked at the slice can force it;
* ``reject``  — the challenger is below the quality floor, worse with confidence, or breaks a
  guardrail.

The difference challenger − champion is computed on the SAME rows with a paired bootstrap
confidence interval, so a lucky holdout does not promote a model that is merely as good.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Literal

import numpy as np
import pandas as pd

from champion_challenger.config import LOWER_IS_BETTER, DecisionConfig
from champion_challenger.evaluation.metrics import binary_metrics, metric_value

Action = Literal["promote", "hold", "reject"]


@dataclass(frozen=True)
class PairedScores:
    """Labels and both models' positive-class probabilities on the same rows.

    Attributes:
        y: 0/1 labels.
        challenger: challenger probabilities.
        champion: champion probabilities, or None when there is no champion yet.
        slices: optional per-row slice columns (same length).
    """

    y: np.ndarray
    challenger: np.ndarray
    champion: np.ndarray | None = None
    slices: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        n = len(self.y)
        lengths = [len(self.challenger)] + ([len(self.champion)] if self.champion is not None else [])
        if self.slices is not None:
            lengths.append(len(self.slices))
        if any(length != n for length in lengths):
            raise ValueError(f"paired scores must have equal lengths, got {n} labels and {lengths}")


@dataclass(frozen=True)
class Check:
    """One check of the gate, with the numbers behind it."""

    name: str
    passed: bool
    reason: str
    champion: float | None = None
    challenger: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict and every check that led to it."""

    action: Action
    reason: str
    metric: str
    champion_value: float | None
    challenger_value: float
    checks: list[Check] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def _gain(metric: str, challenger: float, champion: float) -> float:
    """Improvement of the challenger, positive = better, whatever the metric's direction."""
    return (champion - challenger) if metric in LOWER_IS_BETTER else (challenger - champion)


def paired_bootstrap_ci(
    metric: str, scores: PairedScores, samples: int, level: float, seed: int = 0
) -> tuple[float, float]:
    """Percentile CI of the challenger's gain over the champion, resampling the same rows for both.

    Mean-decomposable metrics (accuracy, log loss, Brier) are resampled vectorised; the others by loop.
    """
    rng = np.random.default_rng(seed)
    n = len(scores.y)
    alpha = (1 - level) / 2
    per_row = _per_row_gain(metric, scores)
    if per_row is not None:
        means = np.empty(samples)
        for start in range(0, samples, 200):  # bounded memory: 200 resamples at a time
            stop = min(samples, start + 200)
            idx = rng.integers(0, n, size=(stop - start, n))
            means[start:stop] = per_row[idx].mean(axis=1)
        gains = means
    else:
        gains = np.array([_resampled_gain(metric, scores, rng.integers(0, n, n)) for _ in range(samples)])
        gains = gains[~np.isnan(gains)]
    return float(np.quantile(gains, alpha)), float(np.quantile(gains, 1 - alpha))


def _per_row_gain(metric: str, s: PairedScores) -> np.ndarray | None:
    y = s.y.astype(float)
    if metric == "accuracy":
        return ((s.challenger >= 0.5) == y).astype(float) - ((s.champion >= 0.5) == y).astype(float)
    if metric == "brier":
        return (s.champion - y) ** 2 - (s.challenger - y) ** 2
    if metric == "log_loss":
        def loss(p):
            p = np.clip(p, 1e-7, 1 - 1e-7)
            return -(y * np.log(p) + (1 - y) * np.log(1 - p))

        return loss(s.champion) - loss(s.challenger)
    return None


def _resampled_gain(metric: str, s: PairedScores, idx: np.ndarray) -> float:
    y = s.y[idx]
    if len(np.unique(y)) < 2:
        return math.nan
    return _gain(metric, metric_value(metric, y, s.challenger[idx]), metric_value(metric, y, s.champion[idx]))


def evaluate_gate(scores: PairedScores, rules: DecisionConfig) -> GateResult:
    """Decide promote / hold / reject from paired scores.

    Args:
        scores: labels and both models' probabilities on the same rows (champion None = first model).
        rules: validated decision rules.

    Returns:
        The verdict, its reason and every check.
    """
    metric = rules.primary_metric
    challenger_metrics = binary_metrics(scores.y, scores.challenger)
    value = challenger_metrics[metric]
    champion_metrics = binary_metrics(scores.y, scores.champion) if scores.champion is not None else None
    champ = champion_metrics[metric] if champion_metrics else None
    checks: list[Check] = []

    def verdict(action: Action, reason: str) -> GateResult:
        return GateResult(action, reason, metric, champ, value, checks)

    n = len(scores.y)
    if n < rules.min_samples:
        checks.append(Check("min_samples", False, f"{n} paired rows < min_samples {rules.min_samples}"))
        return verdict("hold", f"not enough evidence: {n} paired rows, need {rules.min_samples}")
    if math.isnan(value):
        return verdict("hold", f"challenger {metric} is undefined on these rows (one class only?)")
    floor_ok = value <= rules.quality_floor if metric in LOWER_IS_BETTER else value >= rules.quality_floor
    checks.append(Check("quality_floor", floor_ok, f"challenger {metric}={value:.4f}, floor {rules.quality_floor:.4f}", challenger=value))
    if not floor_ok:
        return verdict("reject", f"challenger {metric}={value:.4f} misses the quality floor {rules.quality_floor:.4f}")
    if scores.champion is None:
        return verdict("promote", f"no champion yet; challenger {metric}={value:.4f} clears the floor {rules.quality_floor:.4f}")

    primary = _primary_check(scores, rules, value, champ)
    checks.append(primary)
    broken_guardrails = [c for c in _guardrail_checks(challenger_metrics, champion_metrics, rules) if not c.passed]
    broken_slices = [c for c in _slice_checks(scores, rules) if not c.passed]
    checks.extend([*broken_guardrails, *broken_slices])
    if primary.ci_high is not None and primary.ci_high < 0:
        return verdict("reject", f"challenger is worse with confidence: {primary.reason}")
    if broken_guardrails:
        return verdict("reject", "; ".join(c.reason for c in (*broken_guardrails, *broken_slices)))
    if broken_slices:
        return verdict("hold", "; ".join(c.reason for c in broken_slices) + f" (overall: {primary.reason})")
    return verdict("promote" if primary.passed else "hold", primary.reason)


def _primary_check(scores: PairedScores, rules: DecisionConfig, value: float, champ: float) -> Check:
    metric = rules.primary_metric
    gain = _gain(metric, value, champ)
    low, high = paired_bootstrap_ci(metric, scores, rules.bootstrap_samples, rules.confidence_level)
    relative = gain / abs(champ) if champ else math.inf
    level = f"{rules.confidence_level:.0%}"
    reason = (
        f"{metric} challenger {value:.4f} vs champion {champ:.4f}: gain {gain:+.4f} ({level} CI {low:+.4f} .. {high:+.4f}), "
        f"required >= {rules.min_improvement:.4f} absolute and {rules.min_relative_improvement:.2%} relative with CI above 0"
    )
    passed = low > 0 and gain >= rules.min_improvement and relative >= rules.min_relative_improvement
    return Check(f"primary:{metric}", passed, reason, champ, value, low, high)


def _guardrail_checks(challenger: dict, champion: dict, rules: DecisionConfig) -> list[Check]:
    checks = []
    for metric, tolerance in rules.guardrails.items():
        regression = -_gain(metric, challenger[metric], champion[metric])
        ok = not regression > tolerance
        reason = f"guardrail {metric}: challenger {challenger[metric]:.4f} vs champion {champion[metric]:.4f} (regression {regression:+.4f}, tolerance {tolerance:.4f})"
        checks.append(Check(f"guardrail:{metric}", ok, reason, champion[metric], challenger[metric]))
    return checks


def _slice_checks(scores: PairedScores, rules: DecisionConfig) -> list[Check]:
    if scores.slices is None or not rules.slice_columns:
        return []
    metric = rules.primary_metric
    checks = []
    for column in rules.slice_columns:
        values = scores.slices[column].astype(str).fillna("(missing)").to_numpy()
        for value in sorted(set(values)):
            mask = values == value
            if mask.sum() < rules.min_slice_samples or len(np.unique(scores.y[mask])) < 2:
                continue
            chal = metric_value(metric, scores.y[mask], scores.challenger[mask])
            champ = metric_value(metric, scores.y[mask], scores.champion[mask])
            drop = -_gain(metric, chal, champ)
            ok = not drop > rules.slice_tolerance
            reason = f"slice {column}={value} ({int(mask.sum())} rows): {metric} challenger {chal:.4f} vs champion {champ:.4f} (drop {drop:+.4f}, tolerance {rules.slice_tolerance:.4f})"
            checks.append(Check(f"slice:{column}={value}", ok, reason, champ, chal))
    return checks


def latency_guardrail(p99_ms: dict[str, float], max_ratio: float) -> Check:
    """Guardrail on serving speed: the challenger's p99 latency on mirrored requests may be at most
    ``max_ratio`` times the champion's (``p99_ms`` holds ``champion`` and ``challenger``)."""
    ratio = p99_ms["challenger"] / max(p99_ms["champion"], 1e-9)
    reason = (f"guardrail p99 latency: challenger {p99_ms['challenger']:.2f} ms vs champion {p99_ms['champion']:.2f} ms "
              f"(ratio {ratio:.2f}, tolerance {max_ratio:.2f})")
    return Check("guardrail:p99_latency", ratio <= max_ratio, reason, p99_ms["champion"], p99_ms["challenger"])


def with_checks(result: GateResult, extra: list[Check]) -> GateResult:
    """``result`` with more checks; a failed one turns promote/hold into reject, naming it."""
    failed = [c for c in extra if not c.passed]
    if not failed:
        return replace(result, checks=[*result.checks, *extra])
    reason = "; ".join(c.reason for c in failed)
    return replace(result, action="reject", reason=reason if result.action != "reject" else f"{result.reason}; {reason}",
                   checks=[*result.checks, *extra])


def combine_evidence(results: dict[str, GateResult]) -> GateResult:
    """One verdict from several evidence sources (e.g. ``offline`` replay and ``online`` shadow).

    Any source rejecting rejects; the challenger is promoted only when every source promotes;
    otherwise it is held. Checks are prefixed with their source; the reason names each source.

    Raises:
        ValueError: no result given.
    """
    if not results:
        raise ValueError("at least one evidence source is needed")
    actions = {r.action for r in results.values()}
    action: Action = "reject" if "reject" in actions else "promote" if actions == {"promote"} else "hold"
    first = next(iter(results.values()))
    checks = [replace(c, name=f"{source}/{c.name}") for source, r in results.items() for c in r.checks]
    reason = "; ".join(f"{source}: {r.action} ({r.reason})" for source, r in results.items())
    return GateResult(action, reason, first.metric, first.champion_value, first.challenger_value, checks)
