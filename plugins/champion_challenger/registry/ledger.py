"""The promotion ledger: every promotion and rollback as an MLflow run in ``<experiment>-ledger``.

A person sees the ledger in the MLflow UI (one run per event, tags for who/what/why and the evidence
run id) and with ``ccp history``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from mlflow import MlflowClient

from champion_challenger import tags

#: A promotion a person refused (or nobody approved in time): recorded, but the champion did not change.
APPROVAL_REFUSED = "approval_refused"
#: Progressive canary (``serving.canary_steps``): started, widened, rolled back. The champion did not change;
#: the canary's completion is a ``promote``.
CANARY_START = "canary_start"
CANARY_STEP = "canary_step"
CANARY_ROLLBACK = "canary_rollback"
#: Events after which the champion is the same as before.
NO_CHANGE = (APPROVAL_REFUSED, CANARY_START, CANARY_STEP, CANARY_ROLLBACK)
FIELDS = ("action", "model_name", "from_version", "to_version", "actor", "reason", "evidence_run_id", "at")


@dataclass(frozen=True)
class LedgerEntry:
    """One promotion or rollback.

    Attributes:
        action: ``promote``, ``manual_promote``, ``rollback``, ``auto_rollback``; or one of :data:`NO_CHANGE`
            (the champion stayed ``from_version``; ``to_version`` is the challenger refused or in canary).
        from_version / to_version: champion before and after (from is None for the first champion).
        actor: who did it (``airflow:<run_id>``, a user name, ``watch``).
        reason: why, in words.
        evidence_run_id: the MLflow run holding the evidence (cycle run), if any.
        at: ISO timestamp (UTC).
        baseline: the new champion's serving counters at the switch (``success``, ``failure``,
            ``duration_us``), so the post-promotion watch judges only the traffic after it (canary
            events: the challenger's counters at the step's start).
    """

    action: str
    model_name: str
    from_version: int | None
    to_version: int
    actor: str
    reason: str
    evidence_run_id: str | None = None
    at: str = ""
    baseline: dict[str, float] | None = None

    def as_dict(self) -> dict:
        return asdict(self)


def ledger_experiment(client: MlflowClient, experiment_name: str) -> str:
    """Id of the ledger experiment beside the pipeline's experiment."""
    name = f"{experiment_name}-ledger"
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else client.create_experiment(name)


def append(client: MlflowClient, experiment_name: str, entry: LedgerEntry) -> str:
    """Record an event; returns the ledger run id."""
    entry = LedgerEntry(**{**entry.as_dict(), "at": entry.at or datetime.now(UTC).isoformat(timespec="seconds")})
    run_tags = {tags.LEDGER_PREFIX + k: "" if v is None else str(v) for k, v in entry.as_dict().items() if k in FIELDS}
    run = client.create_run(
        ledger_experiment(client, experiment_name),
        run_name=f"{entry.action} {entry.model_name} v{entry.from_version} -> v{entry.to_version}",
        tags=run_tags,
    )
    for name, value in (entry.baseline or {}).items():
        client.log_metric(run.info.run_id, f"baseline_{name}", value)
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def history(client: MlflowClient, experiment_name: str, limit: int = 50, changes_only: bool = False) -> list[LedgerEntry]:
    """Newest events first; ``changes_only`` leaves out :data:`NO_CHANGE` events (the champion did not change)."""
    no_change = " and ".join(f"tags.`{tags.LEDGER_PREFIX}action` != '{action}'" for action in NO_CHANGE)
    runs = client.search_runs(
        [ledger_experiment(client, experiment_name)],
        no_change if changes_only else "",
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    entries = []
    for run in runs:
        found = {k.removeprefix(tags.LEDGER_PREFIX): v for k, v in run.data.tags.items() if k.startswith(tags.LEDGER_PREFIX)}
        entries.append(
            LedgerEntry(
                action=found["action"],
                model_name=found["model_name"],
                from_version=int(found["from_version"]) if found.get("from_version") else None,
                to_version=int(found["to_version"]),
                actor=found["actor"],
                reason=found["reason"],
                evidence_run_id=found.get("evidence_run_id") or None,
                at=found["at"],
                baseline={k[len("baseline_") :]: v for k, v in run.data.metrics.items() if k.startswith("baseline_")} or None,
            )
        )
    return entries
