"""Shared fixtures: an isolated Airflow home, and REAL MLflow and Triton servers on free ports.

The servers are started by the same code as ``make up`` (``champion_challenger.stack``), in a
temporary runtime folder, and stopped at the end of the session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
import yaml

from champion_challenger.payloads import XCOM_DESERIALIZATION_CLASSES

REPO = Path(__file__).resolve().parents[1]
_SESSION_DIR = Path(tempfile.mkdtemp(prefix="ccp-tests-"))

# Airflow reads its configuration at import time: isolate it before anything imports airflow.
os.environ.update(
    {
        "AIRFLOW_HOME": str(_SESSION_DIR / "airflow"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES": XCOM_DESERIALIZATION_CLASSES,
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_SESSION_DIR / 'airflow' / 'airflow.db'}",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
    }
)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SESSION_DIR, ignore_errors=True)


@pytest.fixture(scope="session")
def session_dir() -> Path:
    return _SESSION_DIR


@pytest.fixture(scope="session")
def stack_settings(session_dir):
    """Settings of the test stack: its own runtime folder and free ports."""
    return settings_on_free_ports(session_dir / "home", write_test_configs(session_dir / "configs"))


def settings_on_free_ports(home: Path, pipeline_config: Path):
    """Settings of a stack in ``home`` whose services listen on free ports."""
    from champion_challenger.config.settings import Settings
    from champion_challenger.stack.processes import free_port

    mlflow_port, http, grpc, metrics = (free_port() for _ in range(4))
    return Settings(
        home=home,
        pipelines=pipeline_config,
        mlflow_tracking_uri=f"http://127.0.0.1:{mlflow_port}",
        triton_url=f"127.0.0.1:{http}",
        triton_grpc_port=grpc,
        triton_metrics_port=metrics,
        airflow_port=free_port(),
        mlflow_port=mlflow_port,
    )


def write_test_configs(dest: Path, epochs: int = 3, **training) -> Path:
    """Copy the shipped configs (every Ludwig candidate) with fewer epochs and a smaller window."""
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "ludwig").mkdir(exist_ok=True)
    for source in sorted((REPO / "configs" / "ludwig").glob("*.yaml")):
        ludwig = yaml.safe_load(source.read_text())
        ludwig["trainer"]["epochs"] = epochs
        (dest / "ludwig" / source.name).write_text(yaml.safe_dump(ludwig))
    pipeline = yaml.safe_load((REPO / "configs" / "pipelines" / "churn_classifier.yaml").read_text())
    pipeline["training"].update({"ludwig_configs": ["ludwig/*.yaml"], **training})
    pipeline["training"]["window_batches"] = 4
    pipeline["data"]["stable_seconds"] = 0  # tests land whole files at once (the wait itself: test_bad_input_catalogue)
    pipeline["decision"]["quality_floor"] = 0.55
    (dest / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    return dest / "pipeline.yaml"


def write_fleet(dest: Path, models: list[str], epochs: int = 3, candidates: str = "*") -> Path:
    """A folder of pipelines, one per model, each the shipped churn pipeline with its own experiment, data
    store and capture folder (what a second model needs), sharing ``dest/ludwig``; returns the folder."""
    ludwig = write_test_configs(dest, epochs).parent / "ludwig"
    shipped = yaml.safe_load((REPO / "configs" / "pipelines" / "churn_classifier.yaml").read_text())
    folder = dest / "pipelines"
    folder.mkdir(exist_ok=True)
    for model in models:
        pipeline = yaml.safe_load(yaml.safe_dump(shipped))
        pipeline.update(model_name=model, experiment_name=f"cc-{model}")
        pipeline["data"].update(landing_dir=f"data/{model}/landing", stable_seconds=0)
        pipeline["serving"]["capture_dir"] = f"captures/{model}"
        pipeline["training"].update(ludwig_configs=[f"../{ludwig.name}/churn_{candidates}.yaml"], window_batches=4)
        pipeline["decision"]["quality_floor"] = 0.55
        (folder / f"{model}.yaml").write_text(yaml.safe_dump(pipeline))
    return folder


def _running(service, url: str):
    service.start(timeout_s=120)
    yield url
    service.stop()


@pytest.fixture(scope="session")
def mlflow_server(stack_settings):
    """A real MLflow tracking server (SQLite + local artifacts)."""
    from champion_challenger.stack.local import mlflow_service

    yield from _running(mlflow_service(stack_settings), stack_settings.mlflow_tracking_uri)


@pytest.fixture(scope="session")
def triton_server(stack_settings):
    """A real Triton server from the nvidia-pytriton wheel, explicit model control."""
    from champion_challenger.stack.local import triton

    _SESSION_TRITON_GRPC.append(f"127.0.0.1:{stack_settings.triton_grpc_port}")
    yield from _running(triton(stack_settings), stack_settings.triton_url)
    _SESSION_TRITON_GRPC.clear()


_SESSION_TRITON_GRPC: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def models_leave_the_session_triton():
    """At the end of each module, every model it loaded into the session's Triton is unloaded (the repository
    keeps them): each loaded version is a Python stub of ~0.6 GB RSS, and a whole run, or two xdist workers'
    runs side by side, must fit in the machine's memory."""
    yield
    if not _SESSION_TRITON_GRPC:
        return
    import tritonclient.grpc as grpcclient

    client = grpcclient.InferenceServerClient(url=_SESSION_TRITON_GRPC[0])
    try:
        for model in client.get_model_repository_index().models:
            if model.state == "READY":
                client.unload_model(model.name)
    finally:
        client.close()


@pytest.fixture(scope="session")
def stack_env(stack_settings, mlflow_server, triton_server):
    """Point the package and Airflow connections at the test stack."""
    env = {
        "CCP_HOME": str(stack_settings.home),
        "CCP_PIPELINES": str(stack_settings.pipelines),
        "MLFLOW_TRACKING_URI": mlflow_server,
        "CCP_TRITON_URL": triton_server,
        "CCP_TRITON_GRPC_PORT": str(stack_settings.triton_grpc_port),
        "CCP_TRITON_METRICS_PORT": str(stack_settings.triton_metrics_port),
        "AIRFLOW_CONN_MLFLOW_DEFAULT": mlflow_server,
        "AIRFLOW_CONN_TRITON_DEFAULT": f"http://{triton_server}",
    }
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield stack_settings
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def airflow_db():
    """Migrate the isolated Airflow metadata database once per session."""
    subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"], check=True, capture_output=True, env=os.environ.copy()
    )


#: The order modules start in: the slowest kinds first, so that under pytest-xdist (`make test` runs two
#: workers, ``--dist loadfile``: a module's tests and module fixtures stay on one worker) the quick unit tests
#: fill the gaps at the end instead of a long e2e module running alone.
_KIND_ORDER = ("tests/e2e/", "tests/chaos/", "tests/integration/", "tests/dags/", "tests/unit/")


def pytest_collection_modifyitems(config, items):
    """Slow kinds first (:data:`_KIND_ORDER`), each module's tests kept together in their order."""

    def rank(item) -> int:
        path = item.nodeid.split("::")[0]
        return next((i for i, prefix in enumerate(_KIND_ORDER) if path.startswith(prefix)), len(_KIND_ORDER))

    items.sort(key=rank)
