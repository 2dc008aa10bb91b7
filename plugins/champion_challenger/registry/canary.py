"""The canary in progress: which version answers which share of entities, stored on the registered model.

A promotion with ``serving.canary_steps`` first lets the challenger answer a growing share of entities
(``cycle.canary``). Which step it is at, since when, and the challenger's serving counters at the step's
start are one JSON tag (``ccp.canary``) on the registered model, visible in the MLflow UI; the router's
table is derived from it (``cycle.serving_deployment.routing_table``). The tag applies only while the
aliases it was started under hold (same champion, the version still ``@challenger``); any other champion
change ends it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime

from mlflow import MlflowClient

from champion_challenger import tags
from champion_challenger.payloads import AliasState
from champion_challenger.registry.model_registry import delete_model_tag, model_tag


@dataclass(frozen=True)
class Canary:
    """A challenger answering a share of the entities before it becomes champion.

    Attributes:
        version: the challenger in canary.
        champion: the champion it was started beside (the canary ends if that changes).
        steps: the shares it answers, step by step (``serving.canary_steps`` when it began).
        step: index of the current step in ``steps``.
        started_at / step_started_at: ISO timestamps (UTC) of the canary's and the current step's start.
        baseline: the challenger's Triton counters when the step began (the step judges only what follows).
        actor / reason / evidence_run_id: who promoted it, why, and the cycle run holding the evidence;
            the promotion that completes the canary carries them into the ledger.
    """

    version: int
    champion: int
    steps: tuple[float, ...]
    step: int = 0
    started_at: str = ""
    step_started_at: str = ""
    baseline: dict[str, float] = field(default_factory=dict)
    actor: str = ""
    reason: str = ""
    evidence_run_id: str | None = None

    @property
    def fraction(self) -> float:
        """Share of entities the challenger answers at this step."""
        return self.steps[self.step]

    @property
    def last_step(self) -> bool:
        return self.step == len(self.steps) - 1

    def describe(self) -> str:
        return f"canary of v{self.version} at step {self.step + 1}/{len(self.steps)} ({self.fraction:.0%} of entities)"

    def applies_to(self, state: AliasState) -> bool:
        """True while the aliases are those it was started under: same champion, still ``@challenger``."""
        return state.champion == self.champion and state.challenger == self.version

    def widened(self, baseline: dict[str, float]) -> Canary:
        """The next step, starting now from ``baseline``."""
        return replace(self, step=self.step + 1, step_started_at=now(), baseline=baseline)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Canary:
        raw = json.loads(text)
        return cls(**{**raw, "steps": tuple(raw["steps"])})


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def read(client: MlflowClient, model_name: str) -> Canary | None:
    """The canary of ``model_name`` in progress, or None (also when the model does not exist)."""
    text = model_tag(client, model_name, tags.CANARY)
    return Canary.from_json(text) if text else None


def in_progress(client: MlflowClient, model_name: str, state: AliasState) -> Canary | None:
    """The canary of ``model_name`` that applies to the aliases ``state`` (None: none, or one they ended)."""
    canary = read(client, model_name)
    return canary if canary is not None and canary.applies_to(state) else None


def write(client: MlflowClient, model_name: str, canary: Canary) -> None:
    client.set_registered_model_tag(model_name, tags.CANARY, canary.to_json())


def clear(client: MlflowClient, model_name: str) -> None:
    """No canary runs any more."""
    delete_model_tag(client, model_name, tags.CANARY)
