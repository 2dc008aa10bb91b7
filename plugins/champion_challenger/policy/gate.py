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
from dataclasses import asdict, dataclass, replace
from statistics import NormalDist

import numpy as np
import pandas as pd

from champion_challenger.config.sections import DecisionConfig
from champion_challenger.metrics import class_recalls, metric_value, resampled_metric, task_metrics
from champion_challenger.payloads import Action, CheckResult
from champion_challenger.policy.direction import gain as _gain
from champion_challenger.policy.direction import meets_floor
from champion_challenger.task import TaskKind


@dataclass(frozen=True)
class PairedScores:
    """Labels and both models' scores on the same rows (:mod:`champion_challenger.task`).

    Attributes:
        y: 0/1 labels (binary), class indices into ``classes`` (multiclass) or values (regression).
        challenger: challenger scores: positive-class probabilities ``(n,)``, class probabilities
            ``(n, K)`` or predicted values ``(n,)``.
        champion: champion scores, or None when there is no champion yet.
        slices: optional per-row slice columns (same length).
        task: ``binary``, ``multiclass`` or ``regression``.
        classes: multiclass: the label of each probability column (names the per-class checks).
    """

    y: np.ndarray
    challenger: np.ndarray
    champion: np.ndarray | None = None
    slices: pd.DataFrame | None = None
    task: TaskKind = "binary"
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        n = len(self.y)
        lengths = [len(self.challenger)] + ([len(self.champion)] if self.champion is not None else [])
        if self.slices is not None:
            lengths.append(len(self.slices))
        if any(length != n for length in lengths):
            raise ValueError(f"paired scores must have equal lengths, got {n} labels and {lengths}")


@dataclass(frozen=True)
class GateResult:
    """The gate's verdict and every check that led to it, passed or failed."""

    action: Action
    reason: str
    metric: str
    champion_value: float | None
    challenger_value: float | None  # None only in the online sequential test's result before its first look
    checks: tuple[CheckResult, ...] = ()

    def as_dict(self) -> dict:
        return asdict(self)


#: Resamples each tail of a percentile interval needs; fewer, and the normal interval is used.
MIN_TAIL_RESAMPLES = 20


#: Resampled row indices held in memory at once, at most (bounds the bootstrap's memory on large holdouts).
MAX_RESAMPLED_CELLS = 20_000_000


def paired_bootstrap_ci(metric: str, scores: PairedScores, samples: int, level: float, seed: int = 0) -> tuple[float, float]:
    """CI of the challenger's gain over the champion, resampling the same rows for both.

    Metrics with a vectorised resampled form (every per-row loss, RMSE, R², F1s from confusion counts;
    :func:`~champion_challenger.metrics.resampled_metric`) are resampled in blocks; the others
    (ROC AUC, ECE) by loop. The percentile interval is used while each tail holds at least
    :data:`MIN_TAIL_RESAMPLES` resamples; at stricter levels (a late test's share of the error budget) the
    resamples cannot resolve the tail, and the interval is the normal one with the bootstrap's standard error.
    """
    rng = np.random.default_rng(seed)
    n = len(scores.y)
    alpha = (1 - level) / 2
    block = int(max(1, min(200, MAX_RESAMPLED_CELLS // max(n, 1))))
    gains = _vectorised_gains(metric, scores, rng, samples, block)
    if gains is None:
        gains = np.array([_resampled_gain(metric, scores, rng.integers(0, n, n)) for _ in range(samples)])
    gains = gains[~np.isnan(gains)]
    if alpha * len(gains) >= MIN_TAIL_RESAMPLES:
        return float(np.quantile(gains, alpha)), float(np.quantile(gains, 1 - alpha))
    centre, spread = float(np.mean(gains)), float(np.std(gains, ddof=1)) * NormalDist().inv_cdf(1 - alpha)
    return centre - spread, centre + spread


def _vectorised_gains(metric: str, s: PairedScores, rng: np.random.Generator, samples: int, block: int) -> np.ndarray | None:
    """The gain on each resample, ``block`` resamples at a time; None when ``metric`` has no vectorised form."""
    assert s.champion is not None, "a bootstrap of the gain needs a champion"
    n = len(s.y)
    gains = np.empty(samples)
    for start in range(0, samples, block):
        stop = min(samples, start + block)
        idx = rng.integers(0, n, size=(stop - start, n))
        challenger = resampled_metric(s.task, metric, s.y, s.challenger, idx)
        if challenger is None:
            return None
        champion = resampled_metric(s.task, metric, s.y, s.champion, idx)
        assert champion is not None, "the same metric and task have a vectorised form for both models"
        gains[start:stop] = _gain(metric, challenger, champion)
    return gains


def _resampled_gain(metric: str, s: PairedScores, idx: np.ndarray) -> float:
    assert s.champion is not None, "a bootstrap of the gain needs a champion"
    y = s.y[idx]
    if len(np.unique(y)) < 2:
        return math.nan
    challenger = metric_value(metric, y, s.challenger[idx], task=s.task)
    return _gain(metric, challenger, metric_value(metric, y, s.champion[idx], task=s.task))


def evaluate_gate(scores: PairedScores, rules: DecisionConfig) -> GateResult:
    """Decide promote / hold / reject from paired scores.

    Every check that was reached is in the result, passed or failed: sample size, quality floor,
    the primary metric's paired CI, each guardrail and each judged slice.

    Args:
        scores: labels and both models' probabilities on the same rows (champion None = first model).
        rules: validated decision rules.

    Returns:
        The verdict, its reason and every check.
    """
    metric = rules.primary_metric
    challenger_metrics = task_metrics(scores.task, scores.y, scores.challenger)
    value = challenger_metrics[metric]
    champion_metrics = task_metrics(scores.task, scores.y, scores.champion) if scores.champion is not None else None
    champ = champion_metrics[metric] if champion_metrics else None
    checks: list[CheckResult] = []

    def verdict(action: Action, reason: str) -> GateResult:
        return GateResult(action, reason, metric, champ, value, tuple(checks))

    n = len(scores.y)
    checks.append(
        CheckResult(
            "min_samples",
            n >= rules.min_samples,
            f"{n} paired rows, min_samples {rules.min_samples}",
            limit=float(rules.min_samples),
        )
    )
    if n < rules.min_samples:
        return verdict("hold", f"not enough evidence: {n} paired rows, need {rules.min_samples}")
    if math.isnan(value):
        return verdict("hold", f"challenger {metric} is undefined on these rows (one class only, or constant labels?)")
    if rules.quality_floor is not None:
        floor = rules.quality_floor
        floor_ok = meets_floor(metric, value, floor)
        reason = f"challenger {metric}={value:.4f}, floor {floor:.4f}"
        checks.append(CheckResult("quality_floor", floor_ok, reason, challenger=value, limit=floor))
        if not floor_ok:
            return verdict("reject", f"challenger {metric}={value:.4f} misses the quality floor {floor:.4f}")
    if scores.champion is None:
        clears = "" if rules.quality_floor is None else f" clears the floor {rules.quality_floor:.4f}"
        return verdict("promote", f"no champion yet; challenger {metric}={value:.4f}{clears or ' (no quality floor set)'}")
    assert champ is not None and champion_metrics is not None  # computed whenever there is a champion
    primary = _primary_check(scores, rules, value, champ)
    guardrails = _guardrail_checks(challenger_metrics, champion_metrics, rules, scores)
    slices = _slice_checks(scores, rules)
    checks.extend([primary, *guardrails, *slices])
    return verdict(*_comparison_verdict(primary, guardrails, slices))


def _comparison_verdict(primary: CheckResult, guardrails: list[CheckResult], slices: list[CheckResult]) -> tuple[Action, str]:
    """Action and reason once a champion exists: worse with confidence or a broken guardrail rejects,
    a broken slice holds, otherwise the primary check decides."""
    broken_guardrails = [c for c in guardrails if not c.passed]
    broken_slices = [c for c in slices if not c.passed]
    if primary.ci_high is not None and primary.ci_high < 0:
        return "reject", f"challenger is worse with confidence: {primary.reason}"
    if broken_guardrails:
        return "reject", "; ".join(c.reason for c in (*broken_guardrails, *broken_slices))
    if broken_slices:
        return "hold", "; ".join(c.reason for c in broken_slices) + f" (overall: {primary.reason})"
    return ("promote" if primary.passed else "hold"), primary.reason


def _primary_check(scores: PairedScores, rules: DecisionConfig, value: float, champ: float) -> CheckResult:
    metric = rules.primary_metric
    gain = _gain(metric, value, champ)
    low, high = paired_bootstrap_ci(metric, scores, rules.bootstrap_samples, rules.confidence_level)
    relative = gain / abs(champ) if champ else math.inf
    level = f"{rules.confidence_level:.1%}".replace(".0%", "%")
    reason = (
        f"{metric} challenger {value:.4f} vs champion {champ:.4f}: gain {gain:+.4f} ({level} CI {low:+.4f} .. {high:+.4f}), "
        f"required >= {rules.min_improvement:.4f} absolute and {rules.min_relative_improvement:.2%} relative with CI above 0"
    )
    passed = low > 0 and gain >= rules.min_improvement and relative >= rules.min_relative_improvement
    return CheckResult(f"primary:{metric}", passed, reason, champ, value, low, high, limit=rules.min_improvement)


def _guardrail_checks(
    challenger: dict[str, float], champion: dict[str, float], rules: DecisionConfig, scores: PairedScores
) -> list[CheckResult]:
    checks = []
    for metric, tolerance in rules.guardrails.items():
        if metric == "class_recall":
            checks.extend(_class_recall_checks(scores, tolerance))
            continue
        regression = -_gain(metric, challenger[metric], champion[metric])
        reason = (
            f"guardrail {metric}: challenger {challenger[metric]:.4f} vs champion {champion[metric]:.4f} "
            f"(regression {regression:+.4f}, tolerance {tolerance:.4f})"
        )
        checks.append(
            CheckResult(
                f"guardrail:{metric}", not regression > tolerance, reason, champion[metric], challenger[metric], limit=tolerance
            )
        )
    return checks


def _class_recall_checks(scores: PairedScores, tolerance: float) -> list[CheckResult]:
    """Multiclass guardrail: one check per class with rows; its recall may drop by at most ``tolerance``."""
    assert scores.champion is not None, "guardrails compare with a champion"
    challenger, champion = class_recalls(scores.y, scores.challenger), class_recalls(scores.y, scores.champion)
    support = np.bincount(np.asarray(scores.y, dtype=int), minlength=len(challenger))
    names = scores.classes or tuple(str(i) for i in range(len(challenger)))
    checks = []
    for i, name in enumerate(names):
        if support[i] == 0:
            continue
        drop = champion[i] - challenger[i]
        reason = (
            f"guardrail recall of class {name!r} ({int(support[i])} rows): challenger {challenger[i]:.4f} vs champion "
            f"{champion[i]:.4f} (drop {drop:+.4f}, tolerance {tolerance:.4f})"
        )
        checks.append(
            CheckResult(
                f"guardrail:class_recall={name}", not drop > tolerance, reason, champion[i], challenger[i], limit=tolerance
            )
        )
    return checks


def _slice_checks(scores: PairedScores, rules: DecisionConfig) -> list[CheckResult]:
    """One check per slice value with enough rows (and, for a classifier, more than one class: a metric
    like ROC AUC is undefined otherwise); smaller slices are not judged."""
    if scores.slices is None or not rules.slice_columns:
        return []
    assert scores.champion is not None, "slices compare with a champion"
    metric = rules.primary_metric
    checks = []
    for column in rules.slice_columns:
        values = scores.slices[column].astype(str).fillna("(missing)").to_numpy()
        for value in sorted(set(values)):
            mask = values == value
            if mask.sum() < rules.min_slice_samples or len(np.unique(scores.y[mask])) < 2:
                continue
            chal = metric_value(metric, scores.y[mask], scores.challenger[mask], task=scores.task)
            champ = metric_value(metric, scores.y[mask], scores.champion[mask], task=scores.task)
            drop = -_gain(metric, chal, champ)
            reason = (
                f"slice {column}={value} ({int(mask.sum())} rows): {metric} challenger {chal:.4f} vs champion "
                f"{champ:.4f} (drop {drop:+.4f}, tolerance {rules.slice_tolerance:.4f})"
            )
            checks.append(
                CheckResult(
                    f"slice:{column}={value}", not drop > rules.slice_tolerance, reason, champ, chal, limit=rules.slice_tolerance
                )
            )
    return checks


def latency_guardrail(p99_ms: dict[str, float], max_ratio: float) -> CheckResult:
    """Guardrail on serving speed: the challenger's p99 latency on mirrored requests may be at most
    ``max_ratio`` times the champion's (``p99_ms`` holds ``champion`` and ``challenger``)."""
    ratio = p99_ms["challenger"] / max(p99_ms["champion"], 1e-9)
    reason = (
        f"guardrail p99 latency: challenger {p99_ms['challenger']:.2f} ms vs champion {p99_ms['champion']:.2f} ms "
        f"(ratio {ratio:.2f}, tolerance {max_ratio:.2f})"
    )
    return CheckResult(
        "guardrail:p99_latency", ratio <= max_ratio, reason, p99_ms["champion"], p99_ms["challenger"], limit=max_ratio
    )


def with_checks(result: GateResult, extra: list[CheckResult]) -> GateResult:
    """``result`` with more checks; a failed one turns promote/hold into reject, naming it."""
    checks = (*result.checks, *extra)
    failed = [c for c in extra if not c.passed]
    if not failed:
        return replace(result, checks=checks)
    reason = "; ".join(c.reason for c in failed)
    return replace(
        result, action="reject", reason=reason if result.action != "reject" else f"{result.reason}; {reason}", checks=checks
    )
