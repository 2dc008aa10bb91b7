"""Test harness (not a test): the production topology on one host: CeleryExecutor, Postgres metadata, a Redis broker, and one
Celery worker per queue (``default`` for everything, ``gpu`` for training).

``docker-compose.yml`` runs the same components in containers; these functions start them as plain
processes, so the topology is tested without Docker (``make test-topology``). Postgres and Redis are not
started here: they are given by URL.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from champion_challenger.config.settings import Settings
from champion_challenger.stack.local import airflow_environment
from champion_challenger.stack.pools import GPU_POOL, DatabasePools, fleet_pools, sync_pools  # noqa: F401 - GPU_POOL re-exported
from champion_challenger.stack.processes import ServiceProcess, run_checked, tail, venv_bin

DEFAULT_QUEUE = "default"
GPU_QUEUE = "gpu"  # the queue and pool the DAG's training tasks use (dags/challenge_cycle.py)
#: Environment variable holding a worker's Celery node name; read by :func:`worker_hostname`.
NODE_ENV = "CCP_CELERY_NODE"
#: The repository root: on the workers' ``PYTHONPATH``, for :func:`worker_hostname`.
REPO = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CeleryWorker:
    """One ``airflow celery worker`` process.

    Attributes:
        name: first part of the Celery node name (``gpu`` gives ``gpu@<host>``).
        queues: queues it consumes.
        concurrency: task slots (for the gpu worker: the number of GPUs).
    """

    name: str
    queues: tuple[str, ...]
    concurrency: int

    @property
    def node(self) -> str:
        """Celery node name, also recorded as the ``hostname`` of every task instance it runs."""
        return f"{self.name}@{socket.gethostname()}"


def default_workers(gpu_slots: int = 1) -> list[CeleryWorker]:
    """The two workers of the production topology: ``default`` (2 slots) and ``gpu``."""
    return [CeleryWorker("default", (DEFAULT_QUEUE,), 2), CeleryWorker("gpu", (GPU_QUEUE,), gpu_slots)]


def worker_hostname() -> str:
    """``[core] hostname_callable`` of the workers: the worker's Celery node name, else the FQDN.

    Airflow records ``hostname_callable()`` as a task instance's host. Two workers on one machine
    would both record the machine's name; with this callable the Airflow UI and REST API say which
    worker (``gpu@host`` or ``default@host``) ran each task.
    """
    return os.environ.get(NODE_ENV) or socket.getfqdn()


def _with_scheme(url: str, scheme: str) -> str:
    return urlunsplit(urlsplit(url)._replace(scheme=scheme))


def celery_environment(settings: Settings, postgres_url: str, broker_url: str, secret_key: str) -> dict[str, str]:
    """Environment shared by every Airflow process of the Celery topology.

    The local stack's environment (folders, connections to MLflow and Triton, ``CCP_*``) with
    Postgres metadata, the CeleryExecutor and the Execution API of the api-server on
    ``settings.airflow_port``.

    Args:
        settings: runtime folder (``AIRFLOW_HOME`` is ``<home>/airflow``), endpoints and ports.
        postgres_url: ``postgresql://user[:password]@host:port/database`` holding Airflow's metadata
            and Celery's results.
        broker_url: ``redis://host:port/db``.
        secret_key: shared by all components (signs the api-server's JWTs and log-server requests).

    Returns:
        Variables to add to the processes' environment.
    """
    api = f"http://127.0.0.1:{settings.airflow_port}"
    return {
        **airflow_environment(settings),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": _with_scheme(postgres_url, "postgresql+psycopg2"),
        "AIRFLOW__CELERY__RESULT_BACKEND": _with_scheme(postgres_url, "db+postgresql+psycopg2"),
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": DEFAULT_QUEUE,
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api}/execution/",
        "AIRFLOW__API__SECRET_KEY": secret_key,
        "AIRFLOW__API_AUTH__JWT_SECRET": secret_key,
    }


def initialize_metadata(env: dict[str, str], models: list[str], gpu_slots: int = 1, timeout_s: float = 600) -> None:
    """``airflow db migrate``, the shared ``gpu`` pool and each model's one-slot champion pool, as the compose
    file's ``airflow-init`` does.

    Raises:
        RuntimeError: the migration failed; the message holds its output.
        ServiceUnavailableError: the pools could not be read or written; the message holds the command's output.
    """
    run_checked([venv_bin("airflow"), "db", "migrate"], env, timeout_s)
    sync_pools(DatabasePools(env, "Celery topology's metadata database"), fleet_pools(models, gpu_slots))


def celery_services(
    settings: Settings,
    env: dict[str, str],
    scheduler_health_port: int,
    workers: list[CeleryWorker] | None = None,
) -> list[ServiceProcess]:
    """The Airflow processes in start order: api-server, scheduler, dag-processor, workers.

    Logs and pid files go to ``<home>/services``. Workers skip their log server: on one host every
    component shares ``AIRFLOW_HOME/logs``, so the api-server reads task logs from disk.

    Args:
        settings: runtime folder and the api-server's port.
        env: from :func:`celery_environment`.
        scheduler_health_port: free port for the scheduler's ``/health`` endpoint.
        workers: default :func:`default_workers`.
    """
    airflow = venv_bin("airflow")
    state_dir = settings.home / "services"
    api_port = settings.airflow_port
    scheduler_env = {
        **env,
        "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_HOST": "127.0.0.1",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(scheduler_health_port),
    }
    services = [
        ServiceProcess(
            "airflow-api-server",
            [airflow, "api-server"],
            f"http://127.0.0.1:{api_port}/api/v2/monitor/health",
            [api_port],
            state_dir,
            env,
        ),
        ServiceProcess(
            "airflow-scheduler",
            [airflow, "scheduler"],
            f"http://127.0.0.1:{scheduler_health_port}/health",
            [scheduler_health_port],
            state_dir,
            scheduler_env,
        ),
        ServiceProcess("airflow-dag-processor", [airflow, "dag-processor"], None, [], state_dir, env),
    ]
    services += [_worker_service(airflow, worker, state_dir, env) for worker in workers or default_workers()]
    return services


def _worker_service(airflow: str, worker: CeleryWorker, state_dir: Path, env: dict[str, str]) -> ServiceProcess:
    """One Celery worker consuming ``worker.queues`` (its own log server skipped)."""
    worker_env = {
        **env,
        NODE_ENV: worker.node,
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
    }
    command = [airflow, "celery", "worker", "--queues", ",".join(worker.queues), "--concurrency", str(worker.concurrency),
               "--celery-hostname", worker.node, "--skip-serve-logs"]  # fmt: skip
    return ServiceProcess(f"celery-worker-{worker.name}", command, None, [], state_dir, worker_env)


def active_queues(broker_url: str, timeout_s: float = 2) -> dict[str, list[str]]:
    """Celery node name → queues it consumes, for every worker answering on ``broker_url``."""
    from celery import Celery

    app = Celery(broker=broker_url)
    try:
        replies = app.control.inspect(timeout=timeout_s).active_queues() or {}
    finally:
        app.close()
    return {node: sorted(q["name"] for q in queues) for node, queues in replies.items()}


def wait_for_workers(
    broker_url: str, workers: list[CeleryWorker], services: list[ServiceProcess], timeout_s: float = 180
) -> dict[str, list[str]]:
    """Wait until every worker consumes its queues; fail early with its log if one exits.

    Returns:
        :func:`active_queues` once all workers answered.

    Raises:
        RuntimeError: a worker process exited, or not all workers answered within ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    queues: dict[str, list[str]] = {}
    while time.monotonic() < deadline:
        for service in services:
            if not service.running():
                raise RuntimeError(f"{service.name} exited; last lines of {service.log_file}:\n{tail(service.log_file)}")
        queues = active_queues(broker_url)
        if all(queues.get(w.node) == sorted(w.queues) for w in workers):
            return queues
        time.sleep(2)
    raise RuntimeError(
        f"Celery workers not ready after {timeout_s:.0f}s; expected {[w.node for w in workers]}, broker answered {queues}"
    )
