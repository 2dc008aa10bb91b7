"""The post-promotion watch's limits: when a new champion's live behaviour calls for a rollback (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from champion_challenger.config.sections import WatchConfig
from champion_challenger.policy.direction import gain


@dataclass(frozen=True)
class WatchFindings:
    """What the watch observed of the champion and which limits it crossed (empty: none)."""

    observed: dict[str, float] = field(default_factory=dict)
    problems: tuple[str, ...] = ()

    def __add__(self, other: WatchFindings) -> WatchFindings:
        return WatchFindings({**self.observed, **other.observed}, (*self.problems, *other.problems))


def serving_findings(requests: float, error_rate: float, mean_latency_ms: float, limits: WatchConfig) -> WatchFindings:
    """Error rate and mean latency since the promotion against the limits (nothing below ``min_requests``)."""
    if requests < limits.min_requests:
        return WatchFindings()
    problems = []
    if error_rate > limits.max_error_rate:
        problems.append(f"error rate {error_rate:.1%} > {limits.max_error_rate:.1%} over {int(requests)} requests")
    if mean_latency_ms > limits.max_mean_latency_ms:
        problems.append(f"mean latency {mean_latency_ms:.1f} ms > {limits.max_mean_latency_ms:.0f} ms")
    observed = {"requests": requests, "error_rate": error_rate, "mean_latency_ms": mean_latency_ms}
    return WatchFindings(observed, tuple(problems))


def label_findings(live: float, labelled: int, offline: float | None, limits: WatchConfig) -> WatchFindings:
    """``watch.label_metric`` of the live predictions against the champion's offline value.

    Args:
        live: the metric on labelled live predictions.
        labelled: how many live predictions have labels (nothing is judged below ``min_labelled_rows``).
        offline: the value the champion showed offline (None: unknown, only observed).
        limits: the watch settings.
    """
    metric = limits.label_metric
    if labelled < limits.min_labelled_rows:
        return WatchFindings()
    observed = {f"live_{metric}": live, "labelled_predictions": float(labelled)}
    if offline is None:
        return WatchFindings(observed)
    observed[f"offline_{metric}"] = offline
    drop = -gain(metric, live, offline)
    if drop > limits.max_label_metric_drop:
        return WatchFindings(
            observed,
            (
                f"live {metric} {live:.4f} on {labelled} labelled predictions is {drop:.4f} worse than "
                f"offline {offline:.4f} (tolerance {limits.max_label_metric_drop:.4f})",
            ),
        )
    return WatchFindings(observed)


def rollback_reason(version: int, findings: WatchFindings) -> str | None:
    """Why ``version`` is rolled back, or None when it crossed no limit."""
    return f"v{version} since its promotion: " + "; ".join(findings.problems) if findings.problems else None
