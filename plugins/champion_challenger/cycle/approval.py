"""A person's yes before a promotion (``decision.approval: required``).

When the gate says promote, the DAG's ``promote.approve`` task (Airflow's human-in-the-loop
``HITLBranchOperator``, :mod:`champion_challenger.airflow.approval`) waits in the Airflow UI with the
request this module writes: the gate's reason, both models' metrics, every check, and links to the cycle's
MLflow run, its ``decision.md`` and comparison plots, and the version. **Approve** runs the promotion
transaction with the approver and their reason in the ledger and on the version. **Reject**, or no answer
within ``decision.approval_timeout_hours``, holds the challenger: the ledger gets an ``approval_refused``
entry (who and why), the version a ``ccp.approval`` tag, and the cycle records ``hold``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from champion_challenger import tags

if TYPE_CHECKING:  # the DAG file imports this module's names at parse time: nothing heavy at import
    from champion_challenger.cycle.context import CycleContext
    from champion_challenger.payloads import Decision, Evidence

APPROVE, REJECT = "Approve", "Reject"


@dataclass(frozen=True)
class ApprovalResponse:
    """What the person answered.

    Attributes:
        approved: Approve was chosen.
        by: the Airflow user who answered (None: nobody answered in time).
        why: the reason they gave (may be empty).
        timed_out: nobody answered within ``decision.approval_timeout_hours``; Reject was applied.
        at: when (ISO, UTC).
    """

    approved: bool
    by: str | None
    why: str = ""
    timed_out: bool = False
    at: str = ""

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> ApprovalResponse:
        """From the event Airflow resumes a human-in-the-loop task with (a response, or the timeout default)."""
        user = event.get("responded_by_user") or {}
        at = event.get("responded_at")
        return cls(
            approved=list(event.get("chosen_options") or []) == [APPROVE],
            by=(user.get("name") or user.get("id")) if user else None,
            why=str((event.get("params_input") or {}).get("reason") or "").strip(),
            timed_out=bool(event.get("timedout")),
            at=at.isoformat() if isinstance(at, datetime) else str(at or datetime.now(UTC).isoformat(timespec="seconds")),
        )

    def summary(self, timeout_hours: float | None = None) -> str:
        """The answer in words: ``approved by alice: beats v2 on the March holdout``."""
        if self.timed_out:
            within = f" within {timeout_hours:g} h" if timeout_hours else ""
            return f"not approved: nobody answered{within}"
        verb = "approved" if self.approved else "refused"
        return f"{verb} by {self.by or 'unknown'}" + (f": {self.why}" if self.why else " (no reason given)")

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def needs_approval(ctx: CycleContext, decision: Decision) -> bool:
    """Whether the gate's promote must wait for a person (never in a dry run, never for hold / reject)."""
    return ctx.config.decision.approval == "required" and decision.action == "promote" and not decision.dry_run


def approval_request(ctx: CycleContext, evidence: Evidence, decision: Decision) -> dict[str, str]:
    """The subject and Markdown body the approval task shows, with links to the evidence in MLflow."""
    challenger, champion = evidence.challenger_version, evidence.champion_version
    run = ctx.run_url(evidence.cycle_run_id)
    over = f" over v{champion}" if champion is not None else " (first champion)"
    lines = [
        f"**The gate says promote** {ctx.model_name} v{challenger}{over}"
        + (" (forced on the trigger form)" if decision.forced else "")
        + f": {decision.reason}",
        "",
        f"| {decision.metric} | champion | challenger |",
        "|---|---|---|",
        f"| holdout | {_number(decision.champion_value)} | {_number(decision.challenger_value)} |",
        "",
        "Checks:",
        *(f"- {'PASS' if c.passed else 'FAIL'} {c.name}: {c.reason}" for c in decision.checks),
        "",
        f"Evidence: [cycle run in MLflow]({run}) — artifacts `comparison/decision.md` (why, every check) and the "
        f"comparison plots (ROC/PR or residuals, calibration, slices); [model version v{challenger}]"
        f"({ctx.version_url(challenger)}).",
        "",
        f"**Approve** runs the promotion transaction (the router switches to v{challenger}; the old champion "
        f"becomes @previous). **Reject**, or no answer within {ctx.config.decision.approval_timeout_hours:g} h, "
        "holds the challenger. Give your reason in the form: it goes to the ledger and the version.",
    ]
    subject = f"Promote {ctx.model_name} v{challenger}{over}?"
    return {"subject": subject, "body": "\n".join(lines)}


def promote_approved(
    ctx: CycleContext, version: int, decision: Decision, response: ApprovalResponse, evidence_run_id: str
) -> dict[str, Any]:
    """Approve: the promotion transaction (or its first canary step), with the approver as actor and their
    reason in the ledger."""
    from champion_challenger.cycle.canary import release

    answer = response.summary()
    ctx.client.set_model_version_tag(ctx.model_name, str(version), tags.APPROVAL, answer)
    return release(ctx, version, response.by or "unknown", f"{decision.reason}; {answer}", evidence_run_id)


def refuse(ctx: CycleContext, version: int, decision: Decision, response: ApprovalResponse, evidence_run_id: str) -> Decision:
    """Reject or no answer: the challenger is held (the champion keeps serving) and the refusal recorded.

    Returns:
        The cycle's decision: ``hold``, saying who refused and why, and what the gate had said.
    """
    from champion_challenger.cycle.transitions import keep_champion
    from champion_challenger.registry import ledger
    from champion_challenger.registry import model_registry as registry

    answer = response.summary(ctx.config.decision.approval_timeout_hours)
    hold = dataclasses.replace(decision, action="hold", reason=f"promotion {answer} (the gate said: {decision.reason})")
    ctx.client.set_model_version_tag(ctx.model_name, str(version), tags.APPROVAL, answer)
    champion = registry.alias_version(ctx.client, ctx.model_name, registry.CHAMPION)
    ledger.append(
        ctx.client,
        ctx.config.experiment_name,
        ledger.LedgerEntry(
            action=ledger.APPROVAL_REFUSED,
            model_name=ctx.model_name,
            from_version=int(champion.version) if champion else None,
            to_version=version,
            actor=response.by or "approval timeout",
            reason=response.why or answer,
            evidence_run_id=evidence_run_id,
            at=response.at,
        ),
    )
    keep_champion(ctx, version, hold)
    return hold


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
