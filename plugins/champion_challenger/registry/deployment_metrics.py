"""Deployment metrics of one model: how the champion–challenger process itself performs.

The four DORA measures, read for a model registry, plus the cycles' outcomes:

- **promotion rate**: share of decided cycles whose gate promoted (``promote``);
- **change-failure rate**: share of promotions (cycle or manual) rolled back, by a person or the
  post-promotion watch, within ``watch.window_hours`` of the promotion;
- **mean time to restore**: mean time from such a failed promotion to its rollback;
- **lead time**: from the newest batch of a promoting cycle landing to its champion serving (the
  promotion's ledger time; the cycle run's start when the landing time was not recorded);
- **skipped / held / rejected / failed shares** of the cycles;
- **canary rollbacks**: challengers a progressive canary stopped before they became champion (a caught
  failure: the champion never changed, so it is no change failure).

Everything comes from the promotion ledger (:mod:`champion_challenger.registry.ledger`) and the cycle
runs in MLflow; :func:`compute` is a pure function of those, :func:`collect` reads them.
"""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

from mlflow import MlflowClient

from champion_challenger import tags
from champion_challenger.registry.ledger import CANARY_ROLLBACK, LedgerEntry, history

PROMOTIONS = ("promote", "manual_promote")
ROLLBACKS = ("rollback", "auto_rollback")
#: Cycle outcomes (the cycle run's ``ccp.decision.action``); a cycle without one failed or is running.
OUTCOMES = ("promote", "hold", "reject", "skip")
#: Ledger and cycle runs read at most (newest first).
MAX_RUNS = 10_000


@dataclass(frozen=True)
class CycleOutcome:
    """One cycle as its MLflow run records it.

    Attributes:
        run_id: the cycle run.
        action: promote / hold / reject / skip, or None (failed, or still running).
        started: the run's start.
        landed_at: when the newest batch the cycle claimed landed (None: not recorded).
    """

    run_id: str
    action: str | None
    started: datetime
    landed_at: datetime | None = None


@dataclass(frozen=True)
class DeploymentMetrics:
    """Deployment metrics of one model (rates are None where there is nothing to divide by)."""

    model_name: str
    cycles: int
    outcomes: dict[str, int]
    promotions: int
    rollbacks: int
    change_failures: int
    promotion_rate: float | None
    skip_rate: float | None
    hold_rate: float | None
    reject_rate: float | None
    failed_cycle_rate: float | None
    change_failure_rate: float | None
    mean_time_to_restore_seconds: float | None
    lead_time_seconds_median: float | None
    lead_time_seconds_mean: float | None
    lead_times: int = 0
    canary_rollbacks: int = 0
    failed_promotions: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    def metrics(self) -> dict[str, float]:
        """The figures as MLflow metrics (``deploy_*``), the undefined ones left out."""
        values = {
            "cycles": self.cycles,
            "promotions": self.promotions,
            "change_failures": self.change_failures,
            "canary_rollbacks": self.canary_rollbacks,
            **{name: getattr(self, name) for name in RATES},
            "mean_time_to_restore_seconds": self.mean_time_to_restore_seconds,
            "lead_time_seconds_median": self.lead_time_seconds_median,
        }
        return {f"deploy_{name}": float(value) for name, value in values.items() if value is not None}


RATES = ("promotion_rate", "skip_rate", "hold_rate", "reject_rate", "failed_cycle_rate", "change_failure_rate")


def compute(
    model_name: str, entries: list[LedgerEntry], cycles: list[CycleOutcome], watch_window_hours: float
) -> DeploymentMetrics:
    """The deployment metrics of ``model_name`` from its ledger ``entries`` and its ``cycles``.

    A promotion counts as failed when a rollback away from the version it promoted follows within
    ``watch_window_hours`` (before any later promotion of that model).
    """
    entries = sorted((e for e in entries if e.model_name == model_name), key=lambda e: _time(e.at))
    outcomes = {action: sum(c.action == action for c in cycles) for action in OUTCOMES}
    decided = sum(outcomes.values())
    promotions = [e for e in entries if e.action in PROMOTIONS]
    restores = _restore_seconds(entries, watch_window_hours)
    leads = _lead_times(promotions, {c.run_id: c for c in cycles})
    return DeploymentMetrics(
        model_name=model_name,
        cycles=len(cycles),
        outcomes=outcomes,
        promotions=len(promotions),
        rollbacks=sum(e.action in ROLLBACKS for e in entries),
        change_failures=len(restores),
        promotion_rate=_share(outcomes["promote"], decided),
        skip_rate=_share(outcomes["skip"], decided),
        hold_rate=_share(outcomes["hold"], decided),
        reject_rate=_share(outcomes["reject"], decided),
        failed_cycle_rate=_share(len(cycles) - decided, len(cycles)),
        change_failure_rate=_share(len(restores), len(promotions)),
        mean_time_to_restore_seconds=statistics.fmean(restores.values()) if restores else None,
        lead_time_seconds_median=statistics.median(leads) if leads else None,
        lead_time_seconds_mean=statistics.fmean(leads) if leads else None,
        lead_times=len(leads),
        canary_rollbacks=sum(e.action == CANARY_ROLLBACK for e in entries),
        failed_promotions=[{"version": v, "promoted_at": at, "restore_seconds": s} for (v, at), s in restores.items()],
    )


def collect(client: MlflowClient, model_name: str, experiment_name: str, watch_window_hours: float) -> DeploymentMetrics:
    """Read the ledger and the cycle runs of one pipeline from MLflow and :func:`compute` its metrics."""
    return compute(
        model_name, history(client, experiment_name, MAX_RUNS), cycle_outcomes(client, experiment_name), watch_window_hours
    )


def cycle_outcomes(client: MlflowClient, experiment_name: str) -> list[CycleOutcome]:
    """Every cycle run of the pipeline's experiment (newest :data:`MAX_RUNS`)."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return []
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{tags.RUN_KIND}` = 'cycle'",
        order_by=["attributes.start_time DESC"],
        max_results=MAX_RUNS,
    )
    return [
        CycleOutcome(
            run_id=run.info.run_id,
            action=run.data.tags.get(tags.DECISION_ACTION) or None,
            started=datetime.fromtimestamp(run.info.start_time / 1000, UTC),
            landed_at=_time(run.data.tags[tags.DATA_LANDED_AT]) if run.data.tags.get(tags.DATA_LANDED_AT) else None,
        )
        for run in runs
    ]


def format_report(m: DeploymentMetrics) -> str:
    """The metrics for people, one per line."""
    outcomes = ", ".join(f"{count} {action}" for action, count in m.outcomes.items())
    failed = m.cycles - sum(m.outcomes.values())
    return "\n".join(
        [
            f"deployment metrics of {m.model_name}",
            f"  cycles                {m.cycles} ({outcomes}, {failed} failed or running)",
            f"  promotion rate        {_percent(m.promotion_rate)} of decided cycles promoted",
            f"  skipped / held / rejected  {_percent(m.skip_rate)} / {_percent(m.hold_rate)} / {_percent(m.reject_rate)}",
            f"  failed cycles         {_percent(m.failed_cycle_rate)}",
            f"  change-failure rate   {_percent(m.change_failure_rate)} ({m.change_failures} of {m.promotions} promotions "
            "rolled back within the watch window)",
            f"  canary rollbacks      {m.canary_rollbacks} (challengers stopped during canary steps)",
            f"  mean time to restore  {_duration(m.mean_time_to_restore_seconds)}",
            f"  lead time             median {_duration(m.lead_time_seconds_median)}, mean {_duration(m.lead_time_seconds_mean)}"
            f" (data landing to champion serving, {m.lead_times} promotions)",
        ]
    )


def _restore_seconds(entries: list[LedgerEntry], watch_window_hours: float) -> dict[tuple[int, str], float]:
    """Per failed promotion ``(version, at)``: seconds until the rollback away from it."""
    failed: dict[tuple[int, str], float] = {}
    for i, promotion in enumerate(entries):
        if promotion.action not in PROMOTIONS:
            continue
        for later in entries[i + 1 :]:
            if later.action in PROMOTIONS:
                break
            elapsed = (_time(later.at) - _time(promotion.at)).total_seconds()
            if later.action in ROLLBACKS and later.from_version == promotion.to_version:
                if elapsed <= watch_window_hours * 3600:
                    failed[(promotion.to_version, promotion.at)] = elapsed
                break
    return failed


def _lead_times(promotions: list[LedgerEntry], cycles: dict[str, CycleOutcome]) -> list[float]:
    """Seconds from data landing to serving, for each promotion made by a cycle."""
    leads = []
    for promotion in promotions:
        cycle = cycles.get(promotion.evidence_run_id or "")
        if cycle is None or promotion.action != "promote":
            continue
        start = cycle.landed_at or cycle.started
        leads.append(max(0.0, (_time(promotion.at) - start).total_seconds()))
    return leads


def _time(iso: str) -> datetime:
    parsed = datetime.fromisoformat(iso)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate:.0%}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
