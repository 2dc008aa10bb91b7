"""The embedded local stack: MLflow (SQLite), Triton (wheel binary) and Airflow standalone (SQLite).

All state lives under the runtime folder (``CCP_HOME``, default ``./.ccp``): ``make down`` stops
the processes and keeps it; ``make wipe`` deletes it.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
from pathlib import Path

from champion_challenger.config.settings import REPO_ROOT, Settings
from champion_challenger.errors import ServiceUnavailableError
from champion_challenger.payloads import XCOM_DESERIALIZATION_CLASSES
from champion_challenger.stack.airflow_api import AirflowApi
from champion_challenger.stack.pools import ApiPools, DatabasePools, PoolStore
from champion_challenger.stack.processes import ServiceProcess, venv_bin
from champion_challenger.stack.triton_server import triton_service

AIRFLOW_USER = "admin"


def mlflow_service(settings: Settings) -> ServiceProcess:
    """MLflow tracking server with a SQLite backend and proxied local artifact store."""
    store = settings.home / "mlflow"
    store.mkdir(parents=True, exist_ok=True)
    return ServiceProcess(
        name="mlflow",
        command=[
            venv_bin("mlflow"),
            "server",
            "--backend-store-uri",
            f"sqlite:///{store / 'mlflow.db'}",
            "--artifacts-destination",
            str(store / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(settings.mlflow_port),
            "--workers",
            "2",
        ],
        health_url=f"http://127.0.0.1:{settings.mlflow_port}/health",
        ports=[settings.mlflow_port],
        state_dir=settings.home / "services",
    )


def airflow_environment(settings: Settings) -> dict[str, str]:
    """Environment of the Airflow processes: folders, SQLite, connections to MLflow and Triton.

    Also writes the admin password file (mode 0600) when missing: Airflow then finds the user's
    password and never generates one, which it would print into its log.
    """
    home = settings.home / "airflow"
    ensure_airflow_password(settings)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES": XCOM_DESERIALIZATION_CLASSES,
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{AIRFLOW_USER}:admin",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__API__HOST": "127.0.0.1",  # the embedded stack is reachable from this machine only
        "AIRFLOW__API__PORT": str(settings.airflow_port),
        # Tasks reach the api-server's execution API; its default (localhost:8080) is wrong on any other port.
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{settings.airflow_port}/execution/",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "30",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(settings.airflow_worker_log_port),
        "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(settings.airflow_trigger_log_port),
        "AIRFLOW_CONN_MLFLOW_DEFAULT": settings.mlflow_tracking_uri,
        "AIRFLOW_CONN_TRITON_DEFAULT": f"http://{settings.triton_url}",
        "CCP_HOME": str(settings.home),
        "CCP_PIPELINES": str(settings.pipelines),
        "CCP_TRITON_URL": settings.triton_url,
        "CCP_TRITON_GRPC_PORT": str(settings.triton_grpc_port),
        "CCP_TRITON_METRICS_PORT": str(settings.triton_metrics_port),
        "MLFLOW_TRACKING_URI": settings.mlflow_tracking_uri,
        "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
    }


def airflow_service(settings: Settings) -> ServiceProcess:
    """``airflow standalone``: api-server, scheduler, dag-processor and triggerer on SQLite."""
    return ServiceProcess(
        name="airflow",
        command=[venv_bin("airflow"), "standalone"],
        health_url=f"http://127.0.0.1:{settings.airflow_port}/api/v2/monitor/health",
        ports=[settings.airflow_port],
        state_dir=settings.home / "services",
        env=airflow_environment(settings),
    )


def triton(settings: Settings) -> ServiceProcess:
    """Triton serving the runtime model repository."""
    return triton_service(
        settings.home / "services",
        settings.triton_repository,
        int(settings.triton_url.rsplit(":", 1)[1]),
        settings.triton_grpc_port,
        settings.triton_metrics_port,
    )


def services(settings: Settings) -> list[ServiceProcess]:
    """The stack in start order."""
    return [mlflow_service(settings), triton(settings), airflow_service(settings)]


def airflow_api(settings: Settings) -> AirflowApi:
    """A client of the stack's api-server, signed in as ``admin``.

    Raises:
        ServiceUnavailableError: the stack never started (no password yet), or its API does not answer.
    """
    password = airflow_password(settings)
    if password is None:
        raise ServiceUnavailableError(
            f"the stack in {settings.home} has no Airflow admin password yet: start it with `make up` (`ccp stack up`)"
        )
    log = settings.home / "services" / "airflow.log"
    return AirflowApi(f"http://127.0.0.1:{settings.airflow_port}", AIRFLOW_USER, password, help_text=f"see {log}")


#: Variables that point Airflow at a metadata database of their own (an Airflow container, the compose file's
#: ``airflow-init``); without them ``airflow`` would use ``~/airflow``, which is no stack's.
AIRFLOW_LOCATION_VARIABLES = ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "AIRFLOW_HOME")


def pool_store(settings: Settings, healthy_timeout_s: float = 120) -> PoolStore:
    """The Airflow whose pools ``ccp stack pools`` sets, whatever is on ``PATH``.

    In order: the running stack's Airflow (its API, once healthy); the stopped stack's own metadata database
    (``<home>/airflow/airflow.db``); the Airflow this environment names (:data:`AIRFLOW_LOCATION_VARIABLES`).

    Raises:
        ServiceUnavailableError: none of these exists, or the running stack's Airflow is not healthy in time.
    """
    if (settings.home / "services" / "airflow.pid").exists():
        service = airflow_service(settings)
        if service.pid() is not None:
            service.wait_healthy(healthy_timeout_s)
            return ApiPools(airflow_api(settings))
    database = settings.home / "airflow" / "airflow.db"
    if database.exists():
        return DatabasePools(airflow_environment(settings), f"stopped stack's Airflow database ({database})")
    named = [name for name in AIRFLOW_LOCATION_VARIABLES if os.environ.get(name)]
    if named:
        return DatabasePools(None, f"Airflow metadata database that {named[0]} names")
    raise ServiceUnavailableError(
        f"no Airflow to create pools in: the stack in {settings.home} has never started (`make up` starts it and "
        f"creates the pools), and neither {' nor '.join(AIRFLOW_LOCATION_VARIABLES)} names another Airflow"
    )


def airflow_password(settings: Settings) -> str | None:
    """The generated password of the Airflow ``admin`` user (``ccp status`` and the demo show it)."""
    try:
        return json.loads(_password_file(settings).read_text()).get(AIRFLOW_USER)
    except (FileNotFoundError, ValueError):
        return None


def ensure_airflow_password(settings: Settings) -> None:
    """Write a random password for the Airflow ``admin`` user, readable by this user only, unless one exists."""
    if airflow_password(settings):
        return
    path = _password_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as file:
        file.write(json.dumps({AIRFLOW_USER: secrets.token_urlsafe(12)}) + "\n")


def _password_file(settings: Settings) -> Path:
    """Where Airflow's simple auth manager keeps its passwords (its default name in AIRFLOW_HOME)."""
    return settings.home / "airflow" / "simple_auth_manager_passwords.json.generated"


def gpu_count() -> int:
    """GPUs visible to this host (0 without CUDA)."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def wipe(settings: Settings) -> None:
    """Delete the runtime folder (stop the stack first)."""
    running = [s.name for s in services(settings) if s.pid() is not None]
    if running:
        raise RuntimeError(f"stop the stack first (`make down`); still running: {running}")
    shutil.rmtree(settings.home, ignore_errors=True)
