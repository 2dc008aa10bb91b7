"""Write-ahead journal of a champion change, so a process killed mid-way can be recovered.

A promotion or rollback touches two systems (the MLflow registry and Triton) that share no
transaction. Before the first change, :func:`begin` stores the intent (aliases and served versions
before, the target aliases) as one tag on the registered model; each finished step is recorded with
:func:`mark`; :func:`clear` removes the tag when the change is complete. A tag that is still there
means the process died mid-way: ``cycle.transitions.recover`` then restores the earlier state (or, when the
change was already written to the ledger, finishes it), so ``@champion`` and what Triton serves agree
again. The tag is visible in the MLflow UI on the registered model.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from mlflow import MlflowClient

from champion_challenger import tags
from champion_challenger.errors import PendingTransitionError
from champion_challenger.registry.model_registry import AliasState, delete_model_tag, model_tag

#: Steps of a champion change, in order. ``ledgered`` is the commit point.
STEPS = ("begun", "loaded", "aliases_moved", "router_switched", "ledgered")
COMMITTED = "ledgered"


@dataclass(frozen=True)
class PendingTransition:
    """A champion change that has begun and not yet finished.

    Attributes:
        action: ``promote``, ``manual_promote``, ``rollback`` or ``auto_rollback``.
        before: aliases before the change.
        target: aliases the change moves to.
        served_before: versions Triton served before the change.
        actor / reason: who asked and why.
        step: the last step finished (one of :data:`STEPS`).
        started_at: ISO timestamp (UTC).
    """

    action: str
    before: AliasState
    target: AliasState
    served_before: list[int]
    actor: str
    reason: str
    step: str = "begun"
    started_at: str = ""

    @property
    def committed(self) -> bool:
        """True once the change reached the ledger: recovery finishes it instead of undoing it."""
        return self.step == COMMITTED

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PendingTransition:
        raw = json.loads(text)
        return cls(**{**raw, "before": AliasState(**raw["before"]), "target": AliasState(**raw["target"])})


def begin(client: MlflowClient, model_name: str, pending: PendingTransition) -> PendingTransition:
    """Record the intent before anything changes.

    Raises:
        PendingTransitionError: another change is already pending (recover it first).
    """
    existing = read(client, model_name)
    if existing is not None:
        raise PendingTransitionError(
            f"a {existing.action} of {model_name} to v{existing.target.champion} started at {existing.started_at} "
            f"did not finish (last step: {existing.step}); run `ccp recover` first"
        )
    pending = replace(pending, step="begun", started_at=pending.started_at or datetime.now(UTC).isoformat(timespec="seconds"))
    client.set_registered_model_tag(model_name, tags.PENDING_TRANSITION, pending.to_json())
    return pending


def mark(client: MlflowClient, model_name: str, pending: PendingTransition, step: str) -> PendingTransition:
    """Record that ``step`` finished.

    Raises:
        ValueError: ``step`` is not one of :data:`STEPS`.
    """
    if step not in STEPS:
        raise ValueError(f"unknown transition step {step!r}; known: {STEPS}")
    pending = replace(pending, step=step)
    client.set_registered_model_tag(model_name, tags.PENDING_TRANSITION, pending.to_json())
    return pending


def read(client: MlflowClient, model_name: str) -> PendingTransition | None:
    """The pending change of ``model_name``, or None (also when the model does not exist)."""
    text = model_tag(client, model_name, tags.PENDING_TRANSITION)
    return PendingTransition.from_json(text) if text else None


def clear(client: MlflowClient, model_name: str) -> None:
    """Remove the journal tag: no change is pending."""
    delete_model_tag(client, model_name, tags.PENDING_TRANSITION)
