"""Static checks of each backend in docker-compose.yml and docker/: Postgres, Airflow, MLflow, Triton,
Grafana, Prometheus, Redis and MinIO.
"""

from __future__ import annotations

import configparser
import json
import re
from pathlib import Path, PurePosixPath

import pytest

from champion_challenger.config.pipeline import PipelineConfig
from tests.conftest import REPO
from tests.unit.deploy.compose import (
    AIRFLOW,
    COMPOSE_TEXT,
    RENDERED,
    SERVICES,
    WORKERS,
    command_tokens,
    mounts,
    option,
    read_only,
)

# ---- Postgres: separate databases and roles -----------------------------------------------------
INIT_SQL = (REPO / "docker" / "postgres-init.sql").read_text()


def test_postgres_runs_the_init_script_with_the_passwords_it_reads():
    postgres = SERVICES["postgres"]
    assert mounts(postgres)["/docker-entrypoint-initdb.d/init.sql"] == "./docker/postgres-init.sql"
    read = dict(re.findall(r"\\getenv (\w+) (\w+)", INIT_SQL))
    assert set(read.values()) == {"AIRFLOW_DB_PASSWORD", "MLFLOW_DB_PASSWORD"}
    assert set(read.values()) <= set(postgres["environment"])
    for variable in read:
        assert f":'{variable}'" in INIT_SQL  # quoted as a literal, whatever the password holds
    assert "ON_ERROR_STOP on" in INIT_SQL


@pytest.mark.parametrize("system", ["airflow", "mlflow"])
def test_each_system_owns_its_own_database(system):
    assert re.search(rf"CREATE ROLE {system} LOGIN PASSWORD :'\w+';", INIT_SQL)
    assert f"CREATE DATABASE {system} OWNER {system};" in INIT_SQL
    assert f"REVOKE ALL ON DATABASE {system} FROM PUBLIC;" in INIT_SQL


def test_airflow_and_mlflow_connect_with_their_own_role_and_database():
    airflow_env = RENDERED["airflow-scheduler"]["environment"]
    for key in ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW__CELERY__RESULT_BACKEND"):
        assert re.fullmatch(r"[\w+]+://airflow:[^@]+@postgres:5432/airflow", airflow_env[key]), key
    mlflow_uri = RENDERED["mlflow"]["environment"]["MLFLOW_BACKEND_STORE_URI"]
    assert re.fullmatch(r"postgresql://mlflow:[^@]+@postgres:5432/mlflow", mlflow_uri)
    # in the environment, not on the command line where `ps` and logs would show the password
    assert not any("postgresql://" in t for t in command_tokens(SERVICES["mlflow"]))


# ---- Airflow: Celery, queues, GPU, auth ------------------------------------------------------------
@pytest.mark.parametrize("name", AIRFLOW)
def test_airflow_services_share_image_code_config_and_settings(name):
    service = SERVICES[name]
    assert service["image"] == "champion-challenger/airflow:latest"
    assert service["build"]["dockerfile"] == "docker/airflow.Dockerfile"
    volumes = mounts(service)
    assert volumes["/opt/ccp/dags"] == "./dags" and volumes["/opt/ccp/plugins"] == "./plugins"
    assert volumes["/opt/ccp/configs"] == "./configs"
    env = service["environment"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "default"
    assert env["AIRFLOW__CORE__AUTH_MANAGER"].endswith("fab_auth_manager.FabAuthManager")
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://:${REDIS_PASSWORD")
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert env["AIRFLOW_CONN_MLFLOW_DEFAULT"] == env["MLFLOW_TRACKING_URI"] == "http://mlflow:5000"
    assert env["AIRFLOW_CONN_TRITON_DEFAULT"] == "http://triton:8000"
    signs_in_as = "ADMIN" if name == "airflow-init" else "SERVICE"  # only airflow-init, for `ccp protect`
    assert env["MLFLOW_TRACKING_USERNAME"].startswith(f"${{MLFLOW_{signs_in_as}_USERNAME")
    assert env["MLFLOW_TRACKING_PASSWORD"].startswith(f"${{MLFLOW_{signs_in_as}_PASSWORD")
    assert service["user"] == "50000:0"


def test_init_protects_champion_for_the_service_user_once_mlflow_is_up():
    script = command_tokens(SERVICES["airflow-init"])[-1]
    assert 'ccp protect --service-user "$${CCP_SERVICE_USER}"' in script
    env = SERVICES["airflow-init"]["environment"]
    assert env["CCP_SERVICE_USER"].startswith("${MLFLOW_SERVICE_USERNAME:?")
    assert env["CCP_SERVICE_PASSWORD"].startswith("${MLFLOW_SERVICE_PASSWORD:?")
    assert SERVICES["airflow-init"]["depends_on"]["mlflow"] == {"condition": "service_healthy"}


def _dag_constant(name: str) -> str:
    return re.search(rf'^{name} = "([^"]+)"', (REPO / "dags" / "challenge_cycle.py").read_text(), re.M).group(1)


def test_workers_consume_the_default_and_the_dag_s_gpu_queue():
    # The image's entrypoint prefixes `airflow`, so `celery worker ...` runs `airflow celery worker ...`.
    cpu, gpu = (command_tokens(SERVICES[w]) for w in WORKERS)
    assert cpu[:2] == gpu[:2] == ["celery", "worker"]
    assert option(cpu, "--queues") == "default"
    assert option(gpu, "--queues") == _dag_constant("GPU_QUEUE")
    assert option(gpu, "--concurrency") == "${GPU_COUNT:-1}"


def test_init_creates_the_fleet_s_pools_with_one_gpu_slot_per_reserved_gpu():
    script = command_tokens(SERVICES["airflow-init"])[-1]
    assert "ccp stack pools --gpu-slots ${GPU_COUNT:-1}" in script
    # ... and after migrating the database, before anything protects the registry.
    assert script.index("airflow db migrate") < script.index("ccp stack pools") < script.index("ccp protect")


@pytest.mark.parametrize(("name", "count"), [("airflow-worker-gpu", "GPU_COUNT"), ("triton", "TRITON_GPU_COUNT")])
def test_gpu_services_reserve_nvidia_devices(name, count):
    (device,) = SERVICES[name]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert device["count"] == f"${{{count}:-1}}"
    rendered = RENDERED[name]["deploy"]["resources"]["reservations"]["devices"][0]["count"]
    assert str(rendered).isdigit() and int(rendered) >= 1


def test_only_the_gpu_services_reserve_devices():
    assert {n for n, s in SERVICES.items() if "deploy" in s} == {"airflow-worker-gpu", "triton"}


@pytest.mark.parametrize("name", WORKERS)
def test_workers_shut_down_warm(name):
    assert SERVICES[name]["environment"]["DUMB_INIT_SETSID"] == "0"
    assert SERVICES[name]["stop_grace_period"]
    assert "celery_executor.app inspect ping" in SERVICES[name]["healthcheck"]["test"][1]


def test_scheduler_serves_the_health_endpoint_its_check_calls():
    assert SERVICES["airflow-scheduler"]["environment"]["AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK"] == "True"
    assert "http://localhost:8974/health" in SERVICES["airflow-scheduler"]["healthcheck"]["test"]


def test_airflow_admin_comes_from_env_and_is_created_by_the_image_entrypoint():
    env = SERVICES["airflow-init"]["environment"]
    assert env["_AIRFLOW_DB_MIGRATE"] == env["_AIRFLOW_WWW_USER_CREATE"] == "true"
    assert env["_AIRFLOW_WWW_USER_USERNAME"].startswith("${AIRFLOW_ADMIN_USERNAME:?")
    assert env["_AIRFLOW_WWW_USER_PASSWORD"].startswith("${AIRFLOW_ADMIN_PASSWORD:?")
    assert "SIMPLE_AUTH_MANAGER" not in COMPOSE_TEXT


# ---- MLflow: basic auth, S3 artifacts in MinIO -------------------------------------------------------
def test_mlflow_runs_the_basic_auth_app_with_its_config():
    mlflow = SERVICES["mlflow"]
    tokens = command_tokens(mlflow)
    assert tokens[:2] == ["mlflow", "server"] and option(tokens, "--app-name") == "basic-auth"
    env = mlflow["environment"]
    for key in ("MLFLOW_AUTH_ADMIN_USERNAME", "MLFLOW_AUTH_ADMIN_PASSWORD", "MLFLOW_FLASK_SERVER_SECRET_KEY"):
        assert env[key].startswith("${") and ":?" in env[key], key
    ini = configparser.ConfigParser()
    ini.read_string((REPO / mounts(mlflow)[env["MLFLOW_AUTH_CONFIG_PATH"]]).read_text())
    section = ini["mlflow"]  # what mlflow.server.auth.config.read_auth_config reads
    assert section["default_permission"] in {"READ", "NO_PERMISSIONS"}
    assert "admin_password" not in section  # only ever from .env
    database = PurePosixPath(section["database_uri"].removeprefix("sqlite:///"))
    assert mounts(mlflow)[str(database.parent)] == "mlflow-auth"  # users survive a restart


def test_mlflow_answers_the_host_name_airflow_uses():
    allowed = option(command_tokens(RENDERED["mlflow"]), "--allowed-hosts").split(",")
    assert "mlflow:5000" in allowed and "*" not in allowed


def test_mlflow_proxies_artifacts_to_the_bucket_minio_init_creates():
    mlflow = SERVICES["mlflow"]
    tokens = command_tokens(mlflow)
    assert "--serve-artifacts" in tokens
    bucket = re.fullmatch(r"s3://([\w.-]+)/?", option(tokens, "--artifacts-destination")).group(1)
    env = mlflow["environment"]
    assert env["MLFLOW_S3_ENDPOINT_URL"] == "http://minio:9000"
    assert env["AWS_ACCESS_KEY_ID"] == "${MLFLOW_S3_ACCESS_KEY_ID:?set MLFLOW_S3_ACCESS_KEY_ID in .env}"
    assert env["AWS_SECRET_ACCESS_KEY"].startswith("${MLFLOW_S3_SECRET_ACCESS_KEY:?")
    script = command_tokens(SERVICES["minio-init"])[-1]
    assert f"mc mb --ignore-existing ccp/{bucket}" in script
    assert "mc admin policy attach ccp mlflow-artifacts" in script
    # the MLflow user may touch its bucket and nothing else
    policy = json.loads((REPO / mounts(SERVICES["minio-init"])["/policies/mlflow-artifacts.json"]).read_text())
    statements = policy["Statement"]
    assert {r for statement in statements for r in statement["Resource"]} == {
        f"arn:aws:s3:::{bucket}",
        f"arn:aws:s3:::{bucket}/*",
    }
    assert all(s["Effect"] == "Allow" and "s3:*" not in s["Action"] for s in statements)


@pytest.mark.parametrize("name", [n for n in SERVICES if n not in {"mlflow", "minio", "minio-init", "secrets-check"}])
def test_only_mlflow_and_minio_hold_s3_credentials(name):
    env = SERVICES[name].get("environment", {})
    assert not {k for k in env if k.startswith(("AWS_", "MINIO_", "MLFLOW_S3_"))}, name


def test_minio_is_ready_before_its_bucket_is_made():
    assert SERVICES["minio"]["healthcheck"]["test"] == ["CMD", "mc", "ready", "local"]
    assert SERVICES["minio-init"]["depends_on"]["minio"]["condition"] == "service_healthy"
    assert SERVICES["mlflow"]["depends_on"]["minio-init"]["condition"] == "service_completed_successfully"


# ---- Triton: the model repository and captures the pipeline shares -----------------------------
def test_triton_reads_the_repository_the_pipeline_writes():
    ccp_home = PurePosixPath(SERVICES["airflow-worker"]["environment"]["CCP_HOME"])
    repository = ccp_home / "triton" / "models"  # Settings.triton_repository
    triton = SERVICES["triton"]
    tokens = command_tokens(triton)
    model_repository = option(tokens, "--model-repository")
    assert mounts(triton)[model_repository] == "triton-models" and read_only(triton, model_repository)
    for name in AIRFLOW:
        assert mounts(SERVICES[name])[str(repository)] == "triton-models", name
    assert option(tokens, "--model-control-mode") == "explicit"
    assert option(tokens, "--metrics-port") == "8002" and "summary_latencies=true" in option(tokens, "--metrics-config")
    assert triton["shm_size"]


def test_triton_writes_captures_where_the_pipeline_reads_them():
    ccp_home = Path(SERVICES["airflow-worker"]["environment"]["CCP_HOME"])
    config = PipelineConfig.from_yaml(REPO / "configs" / "pipelines" / "churn_classifier.yaml")
    capture_dir = str(PurePosixPath(config.capture_dir(ccp_home)))
    assert mounts(SERVICES["triton"])[capture_dir] == "ccp-captures"
    assert not read_only(SERVICES["triton"], capture_dir)
    for name in WORKERS:
        assert mounts(SERVICES[name])[capture_dir] == "ccp-captures", name


def test_triton_dockerfile_matches_the_backend_s_needs():
    dockerfile = (REPO / "docker" / "triton.Dockerfile").read_text()
    assert re.search(r"^FROM nvcr\.io/nvidia/tritonserver:\$\{TRITON_VERSION\}-py3$", dockerfile, re.M)
    assert "sys.version_info[:2] == (3, 12)" in dockerfile  # Ludwig 0.17 needs Python 3.12
    assert "COPY plugins/champion_challenger /opt/ccp/plugins/champion_challenger" in dockerfile
    env = dict(re.findall(r"(\w+)=(\S+)", re.search(r"^ENV (.+)$", dockerfile, re.M).group(1)))
    assert env["CCP_TRITON_PYTHONPATH"] == "/opt/ccp/plugins" and env["LC_ALL"] == "C.UTF-8"
    for package in ("ludwig", "pandas", "pyarrow"):
        assert re.search(rf"\b{package}\b", dockerfile)
    backend = REPO / "plugins" / "champion_challenger" / "serving" / "triton_backend"
    for script in ("model.py", "router.py"):
        assert "CCP_TRITON_PYTHONPATH" in (backend / script).read_text(), script


# ---- Grafana, Prometheus, Redis, MinIO auth -------------------------------------------------------
def test_grafana_has_an_env_admin_and_no_anonymous_or_sign_up():
    env = SERVICES["grafana"]["environment"]
    assert env["GF_SECURITY_ADMIN_PASSWORD"].startswith("${GRAFANA_ADMIN_PASSWORD:?")
    assert env["GF_SECURITY_SECRET_KEY"].startswith("${GRAFANA_SECRET_KEY:?")
    assert env["GF_USERS_ALLOW_SIGN_UP"] == env["GF_AUTH_ANONYMOUS_ENABLED"] == "false"


def test_prometheus_uses_the_mounted_config_and_bounded_retention():
    tokens = command_tokens(SERVICES["prometheus"])
    config = option(tokens, "--config.file")
    assert mounts(SERVICES["prometheus"])[config] == "./configs/monitoring/prometheus.yml"
    assert option(tokens, "--storage.tsdb.retention.time")


def test_redis_and_minio_require_credentials():
    redis = command_tokens(SERVICES["redis"])
    assert option(redis, "--requirepass") == "${REDIS_PASSWORD:?set REDIS_PASSWORD in .env}"
    assert SERVICES["redis"]["environment"]["REDISCLI_AUTH"].startswith("${REDIS_PASSWORD")  # for its healthcheck
    minio = SERVICES["minio"]["environment"]
    assert minio["MINIO_ROOT_PASSWORD"].startswith("${MINIO_ROOT_PASSWORD:?")
