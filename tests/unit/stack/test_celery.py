from __future__ import annotations

import socket
from pathlib import Path

import pytest

from champion_challenger.config.settings import Settings
from tests.integration import celery_topology as topology


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        home=tmp_path / "home",
        pipelines=tmp_path / "pipeline.yaml",
        mlflow_tracking_uri="http://127.0.0.1:5000",
        triton_url="127.0.0.1:8000",
        triton_grpc_port=8001,
        triton_metrics_port=8002,
        airflow_port=18080,
        mlflow_port=5000,
    )


def test_environment_points_every_component_at_postgres_redis_and_the_execution_api(settings):
    env = topology.celery_environment(settings, "postgresql://ccp:pw@db:5432/airflow", "redis://redis:6379/3", "s3cret")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == "postgresql+psycopg2://ccp:pw@db:5432/airflow"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+postgresql+psycopg2://ccp:pw@db:5432/airflow"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/3"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18080/execution/"
    assert env["AIRFLOW__API__PORT"] == "18080"
    assert env["AIRFLOW__API__SECRET_KEY"] == env["AIRFLOW__API_AUTH__JWT_SECRET"] == "s3cret"
    assert env["AIRFLOW_HOME"] == str(settings.home / "airflow")


def test_one_worker_per_queue_named_after_it(settings):
    env = topology.celery_environment(settings, "postgresql://root@127.0.0.1:5432/x", "redis://127.0.0.1:6379/7", "k")
    services = {s.name: s for s in topology.celery_services(settings, env, scheduler_health_port=18999)}
    assert list(services) == [
        "airflow-api-server",
        "airflow-scheduler",
        "airflow-dag-processor",
        "celery-worker-default",
        "celery-worker-gpu",
    ]
    gpu = services["celery-worker-gpu"]
    command = gpu.command[gpu.command.index("celery") :]
    assert command[command.index("--queues") + 1] == "gpu"
    assert command[command.index("--celery-hostname") + 1] == f"gpu@{socket.gethostname()}"
    assert gpu.env[topology.NODE_ENV] == f"gpu@{socket.gethostname()}"
    assert gpu.env["AIRFLOW__CORE__HOSTNAME_CALLABLE"] == "tests.integration.celery_topology.worker_hostname"
    default = services["celery-worker-default"].command
    assert default[default.index("--queues") + 1] == "default"
    assert services["airflow-scheduler"].health_url == "http://127.0.0.1:18999/health"


@pytest.mark.parametrize(
    ("node", "expected"),
    [pytest.param("gpu@vm", "gpu@vm", id="inside-a-worker"), pytest.param(None, socket.getfqdn(), id="elsewhere")],
)
def test_worker_hostname_names_the_worker(monkeypatch, node, expected):
    if node is None:
        monkeypatch.delenv(topology.NODE_ENV, raising=False)
    else:
        monkeypatch.setenv(topology.NODE_ENV, node)
    assert topology.worker_hostname() == expected
