"""Every move in the MLflow model registry goes through this module. Aliases are the truth.

Aliases: ``champion`` (served by default), ``challenger`` (newest candidate), ``previous`` (the
champion before the current one, kept for rollback). Stages (Production / Archived) are mirrored
while MLflow still supports them; they are deprecated and never read.
"""

from __future__ import annotations

import logging
import warnings

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from champion_challenger.errors import NoChampionError
from champion_challenger.payloads import ALIASES as ALIASES
from champion_challenger.payloads import CHALLENGER as CHALLENGER
from champion_challenger.payloads import CHAMPION as CHAMPION
from champion_challenger.payloads import PREVIOUS as PREVIOUS
from champion_challenger.payloads import AliasState as AliasState

log = logging.getLogger(__name__)


def alias_version(client: MlflowClient, model_name: str, alias: str) -> ModelVersion | None:
    """The model version carrying ``alias``, or None (also when the model does not exist)."""
    try:
        return client.get_model_version_by_alias(model_name, alias)
    except MlflowException as exc:
        if exc.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        raise


def alias_state(client: MlflowClient, model_name: str) -> AliasState:
    """Read all three aliases at once."""
    versions = {a: alias_version(client, model_name, a) for a in ALIASES}
    return AliasState(**{a: int(v.version) if v else None for a, v in versions.items()})


def model_tag(client: MlflowClient, model_name: str, key: str) -> str | None:
    """Tag ``key`` of the registered model, or None (also when the model does not exist)."""
    try:
        return client.get_registered_model(model_name).tags.get(key)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise


def delete_model_tag(client: MlflowClient, model_name: str, key: str) -> None:
    """Remove tag ``key`` from the registered model (nothing to do when it or the model is gone)."""
    try:
        client.delete_registered_model_tag(model_name, key)
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise


def ensure_registered_model(client: MlflowClient, model_name: str, description: str) -> None:
    """Create the registered model if it does not exist yet."""
    try:
        client.get_registered_model(model_name)
    except MlflowException:
        client.create_registered_model(model_name, description=description)


def find_version_by_tag(client: MlflowClient, model_name: str, key: str, value: str) -> ModelVersion | None:
    """The newest version of ``model_name`` with tag ``key=value`` (used to make retries idempotent)."""
    found = client.search_model_versions(f"name = '{model_name}' and tags.`{key}` = '{value}'")
    return max(found, key=lambda v: int(v.version)) if found else None


def _apply(client: MlflowClient, model_name: str, state: AliasState) -> None:
    for alias, version in state.as_dict().items():
        if version is None:
            try:
                client.delete_registered_model_alias(model_name, alias)
            except MlflowException:
                pass
        else:
            client.set_registered_model_alias(model_name, alias, str(version))


def move_aliases(client: MlflowClient, model_name: str, target: AliasState, mirror_stages: bool = False) -> AliasState:
    """Move the aliases to ``target`` as one change: on any failure the earlier state is restored.

    With ``mirror_stages`` (``changes.mirror_stages``, off by default: stages are deprecated upstream) the
    champion is also set to stage Production and the replaced one to Archived, best effort: a failure there
    is logged and never undoes or fails the change.

    Returns:
        The state before the move (for the ledger and for rollback).
    """
    before = alias_state(client, model_name)
    try:
        _apply(client, model_name, target)
    except Exception:
        _apply(client, model_name, before)
        raise
    if not mirror_stages:
        return before
    try:
        _mirror_stages(client, model_name, before, target)
    except Exception:  # noqa: BLE001 - stages are deprecated upstream; aliases are the truth
        log.warning("could not mirror %s's champion as stage Production (aliases moved regardless)", model_name, exc_info=True)
    return before


def _mirror_stages(client: MlflowClient, model_name: str, before: AliasState, after: AliasState) -> None:
    """Mirror the champion as stage Production and a replaced champion as Archived."""
    if after.champion == before.champion or after.champion is None:
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        client.transition_model_version_stage(model_name, str(after.champion), "Production")
        if before.champion is not None:
            client.transition_model_version_stage(model_name, str(before.champion), "Archived")


def set_challenger(client: MlflowClient, model_name: str, version: int) -> AliasState:
    """Point ``@challenger`` at ``version``, leaving the other aliases as they are."""
    state = alias_state(client, model_name)
    return move_aliases(client, model_name, AliasState(state.champion, version, state.previous))


def rollback_target(state: AliasState) -> AliasState:
    """Aliases after a rollback: ``previous`` becomes champion, the replaced champion ``previous``."""
    if state.previous is None:
        raise NoChampionError("no @previous version to roll back to")
    return AliasState(champion=state.previous, challenger=state.challenger, previous=state.champion)


def promotion_target(state: AliasState, version: int) -> AliasState:
    """Aliases after promoting ``version``: it becomes champion, the old champion previous."""
    previous = state.champion if state.champion not in (None, version) else state.previous
    challenger = None if state.challenger == version else state.challenger
    return AliasState(champion=version, challenger=challenger, previous=previous)
