"""The canary in progress: which version answers which share of entities, stored on the registered model.

A promotion with ``serving.canary_steps`` first lets the challenger answer a growing share of entities
(``cycle.canary``). Which step it is at, since when, and the challenger's serving counters at the step's
start are one JSON tag (``ccp.canary``) on the registered model, visible in the MLflow UI; the router's
table is derived from it (``cycle.serving_deployment.routing_table``). The tag applies only while the
aliases it was started under hold (same champion, the version still ``@challenger``); any other champion
change ends it.
"""

from __future__ import annotations

from mlflow import MlflowClient

from champion_challenger import tags
from champion_challenger.payloads import AliasState
from champion_challenger.policy.canary import Canary
from champion_challenger.registry.model_registry import delete_model_tag, model_tag


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
