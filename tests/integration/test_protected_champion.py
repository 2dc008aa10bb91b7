"""Protected ``@champion`` on a REAL MLflow server with basic auth, set up by ``ccp protect``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.registry import model_registry as registry
from champion_challenger.stack.processes import ServiceProcess, free_port, venv_bin
from tests.conftest import write_test_configs

pytestmark = pytest.mark.integration

ADMIN = ("admin", "admin-password-123")
SERVICE = ("ccp-pipeline", "service-password-123")
ALICE = ("alice", "alice-password-1234")


@pytest.fixture(scope="module")
def auth_server(tmp_path_factory):
    """``mlflow server --app-name basic-auth`` with the shipped auth settings (default_permission READ)."""
    root = tmp_path_factory.mktemp("mlflow-auth")
    ini = (Path(__file__).resolve().parents[2] / "configs" / "mlflow" / "basic_auth.ini").read_text()
    ini = ini.replace("sqlite:////mlflow/auth/basic_auth.db", f"sqlite:///{root / 'auth.db'}")
    (root / "basic_auth.ini").write_text(ini)
    port = free_port()
    command = [venv_bin("mlflow"), "server", "--app-name", "basic-auth", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
               "--artifacts-destination", str(root / "artifacts"), "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    env = {"MLFLOW_AUTH_CONFIG_PATH": str(root / "basic_auth.ini"), "MLFLOW_AUTH_ADMIN_USERNAME": ADMIN[0],
           "MLFLOW_AUTH_ADMIN_PASSWORD": ADMIN[1], "MLFLOW_FLASK_SERVER_SECRET_KEY": "test-only-csrf-key"}  # fmt: skip
    server = ServiceProcess("mlflow-auth", command, f"http://127.0.0.1:{port}/health", [port], root / "services", env)
    server.start(timeout_s=180)
    yield f"http://127.0.0.1:{port}", write_test_configs(root / "configs")
    server.stop()


def signed_in(monkeypatch, user: tuple[str, str]) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", user[0])
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", user[1])


def ccp_protect(uri: str, pipeline: Path, tmp_path: Path) -> dict:
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "CCP_PIPELINES": str(pipeline), "CCP_HOME": str(tmp_path),
           "MLFLOW_TRACKING_USERNAME": ADMIN[0], "MLFLOW_TRACKING_PASSWORD": ADMIN[1],
           "CCP_SERVICE_PASSWORD": SERVICE[1]}  # fmt: skip
    ccp = Path(sys.executable).parent / "ccp"
    done = subprocess.run([str(ccp), "protect", "--service-user", SERVICE[0], "--json"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_only_the_service_user_moves_champion(auth_server, monkeypatch, tmp_path):
    from mlflow.server import get_app_client

    uri, pipeline = auth_server
    model = PipelineConfig.from_yaml(pipeline).model_name
    signed_in(monkeypatch, ADMIN)
    get_app_client("basic-auth", tracking_uri=uri).create_user(*ALICE)
    assert ccp_protect(uri, pipeline, tmp_path)["created_user"] is True
    assert ccp_protect(uri, pipeline, tmp_path)["created_user"] is False  # idempotent

    signed_in(monkeypatch, SERVICE)
    client = MlflowClient(uri, uri)
    experiment = client.get_experiment_by_name(PipelineConfig.from_yaml(pipeline).experiment_name).experiment_id
    for _ in range(2):
        run = client.create_run(experiment)
        client.create_model_version(model, f"runs:/{run.info.run_id}/model", run.info.run_id)
    registry.move_aliases(client, model, registry.AliasState(champion=1, challenger=2, previous=None))
    assert registry.alias_state(client, model).champion == 1

    signed_in(monkeypatch, ALICE)
    assert client.get_registered_model(model).aliases == {"champion": "1", "challenger": "2"}  # alice reads
    with pytest.raises(MlflowException) as refused:
        client.set_registered_model_alias(model, "champion", "2")
    assert refused.value.error_code == "PERMISSION_DENIED"
    with pytest.raises(MlflowException):
        registry.move_aliases(client, model, registry.AliasState(champion=2, challenger=None, previous=1))
    signed_in(monkeypatch, SERVICE)
    assert registry.alias_state(client, model) == registry.AliasState(champion=1, challenger=2, previous=None)
