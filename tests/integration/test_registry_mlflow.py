"""Registry moves against a REAL MLflow server."""

from __future__ import annotations

import uuid

import mlflow
import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from champion_challenger.registry import model_registry as registry

pytestmark = pytest.mark.integration


@pytest.fixture
def model_with_versions(mlflow_server):
    """A registered model with three versions (tiny dummy runs; the registry is what is tested)."""
    mlflow.set_tracking_uri(mlflow_server)
    client = MlflowClient(mlflow_server, mlflow_server)
    name = f"registry_{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    exp = client.get_experiment_by_name("registry-tests") or client.get_experiment(client.create_experiment("registry-tests"))
    for _ in range(3):
        run = client.create_run(exp.experiment_id)
        client.create_model_version(name, f"runs:/{run.info.run_id}/model", run.info.run_id)
    return client, name


def test_promotion_moves_aliases_and_leaves_the_deprecated_stages_alone(model_with_versions):
    client, name = model_with_versions
    registry.set_challenger(client, name, 1)
    registry.move_aliases(client, name, registry.promotion_target(registry.alias_state(client, name), 1))
    registry.set_challenger(client, name, 2)
    before = registry.move_aliases(client, name, registry.promotion_target(registry.alias_state(client, name), 2))
    assert before == registry.AliasState(champion=1, challenger=2, previous=None)
    assert registry.alias_state(client, name) == registry.AliasState(champion=2, challenger=None, previous=1)
    assert {client.get_model_version(name, v).current_stage for v in ("1", "2")} == {"None"}


def test_mirroring_stages_is_an_opt_in(model_with_versions):
    client, name = model_with_versions
    registry.move_aliases(client, name, registry.AliasState(champion=1, challenger=None, previous=None), mirror_stages=True)
    registry.move_aliases(client, name, registry.AliasState(champion=2, challenger=None, previous=1), mirror_stages=True)
    assert client.get_model_version(name, "2").current_stage == "Production"
    assert client.get_model_version(name, "1").current_stage == "Archived"


def test_failed_move_restores_the_earlier_aliases(model_with_versions):
    client, name = model_with_versions
    registry.move_aliases(client, name, registry.AliasState(champion=1, challenger=2, previous=None))
    with pytest.raises(MlflowException):
        # version 99 does not exist: the second alias write fails after the first succeeded
        registry.move_aliases(client, name, registry.AliasState(champion=3, challenger=99, previous=1))
    assert registry.alias_state(client, name) == registry.AliasState(champion=1, challenger=2, previous=None)


def test_find_version_by_tag(model_with_versions):
    client, name = model_with_versions
    client.set_model_version_tag(name, "2", "ccp.cycle_id", "run-42")
    assert registry.find_version_by_tag(client, name, "ccp.cycle_id", "run-42").version == "2"
    assert registry.find_version_by_tag(client, name, "ccp.cycle_id", "other") is None


def test_missing_model_has_no_aliases(mlflow_server):
    client = MlflowClient(mlflow_server, mlflow_server)
    assert registry.alias_state(client, "does_not_exist") == registry.AliasState(None, None, None)
