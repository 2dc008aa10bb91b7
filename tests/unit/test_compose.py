"""Static checks of the production docker-compose.yml (no Docker engine on build machines)."""

from __future__ import annotations

import re
import subprocess

import pytest
import yaml

from tests.conftest import REPO

COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]
AIRFLOW = [name for name in SERVICES if name.startswith("airflow-") and name != "airflow-init"]


def test_every_production_service_is_present():
    expected = {
        "postgres", "redis", "airflow-init", "airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
        "airflow-triggerer", "airflow-worker", "airflow-worker-gpu", "mlflow", "triton", "prometheus", "grafana",
    }
    assert expected <= set(SERVICES)


@pytest.mark.parametrize("name", [n for n in SERVICES if n != "airflow-init"])
def test_long_running_services_have_healthchecks(name):
    assert SERVICES[name]["healthcheck"]["test"], name


@pytest.mark.parametrize("name", [*AIRFLOW, "airflow-init"])
def test_airflow_services_mount_the_same_code_and_configs(name):
    mounts = {v.split(":")[1]: v.split(":")[0] for v in SERVICES[name]["volumes"]}
    assert mounts["/opt/ccp/dags"] == "./dags"
    assert mounts["/opt/ccp/plugins"] == "./plugins"
    assert mounts["/opt/ccp/configs"] == "./configs"
    assert SERVICES[name]["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"


def test_worker_queues_and_gpu_reservation():
    assert "--queues default" in SERVICES["airflow-worker"]["command"]
    assert "--queues gpu" in SERVICES["airflow-worker-gpu"]["command"]
    devices = SERVICES["airflow-worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"] and devices[0]["driver"] == "nvidia"


def test_triton_shares_the_model_repository_the_pipeline_writes():
    assert "triton-models:/models" in SERVICES["triton"]["volumes"]
    assert "triton-models:/opt/ccp/runtime/triton/models" in SERVICES["airflow-worker"]["volumes"]
    assert "--model-control-mode=explicit" in SERVICES["triton"]["command"]


def test_named_volumes_are_declared():
    used = {v.split(":")[0] for s in SERVICES.values() for v in s.get("volumes", []) if not v.startswith(".")}
    assert used <= set(COMPOSE["volumes"])


def test_no_secret_is_committed():
    text = (REPO / "docker-compose.yml").read_text()
    assert not re.search(r"(?i)(password|secret)[A-Z_]*\s*[:=]\s*(?!\$\{)[^\s$]", text.replace("admin:admin", ""))
    tracked = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    assert ".env" not in tracked and ".env.example" in tracked
    for line in (REPO / ".env.example").read_text().splitlines():
        if re.match(r"[A-Z_]*(PASSWORD|SECRET)[A-Z_]*=", line):
            assert line.split("=", 1)[1].startswith("change-me"), line
