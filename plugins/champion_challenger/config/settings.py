"""Environment variables the package reads, declared once with type and default.

Airflow Connections (``mlflow_default``, ``triton_default``) take precedence inside DAG tasks;
these settings are the embedded defaults used by ``make demo``, the CLI and the tests.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from champion_challenger.config.fleet import Pipeline, discover, pipeline_path

REPO_ROOT = Path(__file__).resolve().parents[3]


def _env(name: str, default: str) -> str:
    return os.environ.get(name) or default


@dataclass(frozen=True)
class Settings:
    """Resolved settings of this process.

    Attributes:
        home: runtime folder holding data, MLflow store, Triton repository, logs and pids.
        pipelines: the fleet's pipeline YAMLs: a folder (every ``*.yaml`` in it is one pipeline, one
            model) or one YAML file.
        mlflow_tracking_uri: MLflow tracking server URI.
        triton_url: Triton HTTP endpoint as ``host:port``.
        mlflow_ui_url: MLflow UI address as a person's browser reaches it (links in Airflow, model
            version descriptions); empty means the tracking URI.
        model: the pipeline (model name) this process acts on when the fleet has several.
        triton_onnx_backend: which Triton backend serves exported versions: ``python`` (the embedded default: the
            Python backend runs the graph with onnxruntime) or ``onnxruntime`` (Triton's native backend, in the
            official container; used when every served version of a model is exported and they share classes).
        triton_instance_kind: ``KIND_CPU`` or ``KIND_GPU`` for the versions models' instances (the compose stack's
            Triton has a GPU: ``KIND_GPU``).
        airflow_worker_log_port / airflow_trigger_log_port: the embedded Airflow's log servers (Airflow's
            defaults; two stacks on one host need their own).
    """

    home: Path
    pipelines: Path
    mlflow_tracking_uri: str
    triton_url: str
    triton_grpc_port: int
    triton_metrics_port: int
    airflow_port: int
    mlflow_port: int
    mlflow_ui_url: str = ""
    model: str = ""
    airflow_worker_log_port: int = 8793
    airflow_trigger_log_port: int = 8794
    triton_onnx_backend: str = "python"
    triton_instance_kind: str = "KIND_CPU"

    @property
    def pipeline_config(self) -> Path:
        """The YAML of the selected pipeline: ``model`` (``--model`` / ``CCP_MODEL``), or the only one.

        Raises:
            ConfigError: no pipeline, an unknown model, or several pipelines and none selected.
        """
        return pipeline_path(self.pipelines, self.home, self.model or None)

    @property
    def triton_repository(self) -> Path:
        """Triton model repository (explicit model control)."""
        return self.home / "triton" / "models"

    @property
    def triton_metrics_url(self) -> str:
        return triton_metrics_url(self.triton_url, self.triton_metrics_port)


def triton_endpoint(triton_url: str, port: int) -> str:
    """``host:port`` of another Triton port (gRPC, metrics) on the host of its HTTP endpoint ``triton_url``."""
    return f"{triton_url.split(':')[0]}:{port}"


def triton_metrics_url(triton_url: str, metrics_port: int) -> str:
    """Triton's Prometheus endpoint on the host of its HTTP endpoint (``host:port``)."""
    return f"http://{triton_endpoint(triton_url, metrics_port)}/metrics"


def load_settings() -> Settings:
    """Read the ``CCP_*`` and ``MLFLOW_TRACKING_URI`` environment variables."""
    home = Path(_env("CCP_HOME", str(REPO_ROOT / ".ccp"))).resolve()
    mlflow_port = int(_env("CCP_MLFLOW_PORT", "5000"))
    triton_http_port = int(_env("CCP_TRITON_HTTP_PORT", "8000"))
    return Settings(
        home=home,
        # CCP_PIPELINE_CONFIG (one YAML) is the older name, still honoured.
        pipelines=Path(_env("CCP_PIPELINES", _env("CCP_PIPELINE_CONFIG", str(REPO_ROOT / "configs" / "pipelines")))),
        mlflow_tracking_uri=_env("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{mlflow_port}"),
        triton_url=_env("CCP_TRITON_URL", f"127.0.0.1:{triton_http_port}"),
        triton_grpc_port=int(_env("CCP_TRITON_GRPC_PORT", "8001")),
        triton_metrics_port=int(_env("CCP_TRITON_METRICS_PORT", "8002")),
        airflow_port=int(_env("CCP_AIRFLOW_PORT", "8080")),
        mlflow_port=mlflow_port,
        mlflow_ui_url=_env("CCP_MLFLOW_UI_URL", ""),
        model=_env("CCP_MODEL", ""),
        airflow_worker_log_port=int(_env("CCP_AIRFLOW_WORKER_LOG_PORT", "8793")),
        airflow_trigger_log_port=int(_env("CCP_AIRFLOW_TRIGGER_LOG_PORT", "8794")),
        triton_onnx_backend=_env("CCP_TRITON_ONNX_BACKEND", "python"),
        triton_instance_kind=_env("CCP_TRITON_INSTANCE_KIND", "KIND_CPU"),
    )


def load_fleet(runnable_only: bool = False) -> list[Pipeline]:
    """The pipelines of this process's settings (``CCP_PIPELINES``); ``runnable_only`` leaves out invalid ones."""
    settings = load_settings()
    pipelines = discover(settings.pipelines, settings.home)
    return [p for p in pipelines if p.config is not None] if runnable_only else pipelines
