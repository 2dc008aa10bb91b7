"""What every cycle step works with: the validated config, the settings and the clients.

One :class:`CycleContext` is built per Airflow task (or per CLI command). Clients are created on
first use, or injected (tests pass clients pointed at their own servers).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from champion_challenger import tracking
from champion_challenger.config.ludwig_schema import ModelSchema, load_candidate_configs, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.config.sections import ServingConfig
from champion_challenger.config.settings import Settings, load_settings, triton_endpoint, triton_metrics_url
from champion_challenger.data.store import DataStore, safe_name
from champion_challenger.errors import ServiceUnavailableError
from champion_challenger.task import TaskKind

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from champion_challenger.registry.lease import ChampionLease
    from champion_challenger.serving.triton_client import TritonModelClient


@dataclass
class CycleContext:
    """Config, settings and clients of one pipeline.

    Args:
        config: the validated pipeline config.
        settings: runtime folder and default endpoints.
        tracking_uri: MLflow tracking server (Airflow's ``mlflow_default`` connection in DAGs).
        triton_url: Triton HTTP endpoint (Airflow's ``triton_default`` connection in DAGs).
        mlflow_client / triton_client: injected clients (default: built from the endpoints).
    """

    config: PipelineConfig
    settings: Settings
    tracking_uri: str
    triton_url: str
    mlflow_client: MlflowClient | None = field(default=None, repr=False)
    triton_client: TritonModelClient | None = field(default=None, repr=False)

    @classmethod
    def from_env(cls, tracking_uri: str | None = None, triton_url: str | None = None, model: str | None = None) -> CycleContext:
        """Build from ``CCP_*`` settings; explicit endpoints override them, ``model`` picks the fleet's pipeline.

        Raises:
            ConfigError: the pipeline config is invalid, or the fleet has several and none was picked.
        """
        settings = load_settings()
        if model:
            settings = replace(settings, model=model)
        return cls(
            config=PipelineConfig.from_yaml(settings.pipeline_config),
            settings=settings,
            tracking_uri=tracking_uri or settings.mlflow_tracking_uri,
            triton_url=triton_url or settings.triton_url,
        )

    def with_serving(self, **overrides: Any) -> CycleContext:
        """A context whose ``serving:`` settings differ for this call only (e.g. the form's shadow fraction)."""
        serving = ServingConfig.model_validate({**self.config.serving.model_dump(), **overrides})
        return replace(
            self, config=self.config.model_copy(update={"serving": serving}), mlflow_client=self.client, triton_client=self.triton
        )

    def champion_change(self, action: str, actor: str = "ccp") -> AbstractContextManager[ChampionLease]:
        """Hold the model's champion lease while changing the champion or what Triton serves
        (re-entrant within a thread; ``changes:`` in the pipeline YAML sets its duration and the wait).

        Raises:
            ChampionLeaseError: another holder kept it for ``changes.wait_seconds``; the message names it.
        """
        from champion_challenger.registry.lease import champion_lease, default_owner

        changes = self.config.changes
        owner = default_owner(actor)
        return champion_lease(self.client, self.model_name, owner, action, changes.lease_seconds, changes.wait_seconds)

    # ---- clients -----------------------------------------------------------------------------
    @cached_property
    def client(self) -> MlflowClient:
        """The MLflow client (tracking and registry)."""
        if self.mlflow_client is not None:
            return self.mlflow_client
        import mlflow
        from mlflow import MlflowClient

        mlflow.set_tracking_uri(self.tracking_uri)
        return MlflowClient(self.tracking_uri, self.tracking_uri)

    @cached_property
    def triton(self) -> TritonModelClient:
        """Triton client; models load over gRPC so a load never holds back HTTP clients."""
        if self.triton_client is not None:
            return self.triton_client
        from champion_challenger.serving.triton_client import TritonModelClient

        return TritonModelClient(self.triton_url, control_url=triton_endpoint(self.triton_url, self.settings.triton_grpc_port))

    # ---- what the config implies ------------------------------------------------------------------
    @cached_property
    def ludwig_configs(self) -> dict[str, dict[str, Any]]:
        """Candidate name → validated Ludwig config (Ludwig's schema check remembered under ``<home>/cache``)."""
        return load_candidate_configs(self.config, self.settings.home / "cache" / "ludwig-config-checks")

    @cached_property
    def schema(self) -> ModelSchema:
        """The columns every batch must carry."""
        return model_schema(self.config, self.ludwig_configs)

    @property
    def task(self) -> TaskKind:
        """``binary``, ``multiclass`` or ``regression``: what the candidates' output feature trains."""
        return self.config.task

    @property
    def classes(self) -> tuple[str, ...]:
        """Multiclass: the known classes, the column order of every probability matrix the pipeline
        compares (``data.classes``, else the classes of the accepted labels); empty for other tasks."""
        return self.store.known_classes(self.config.data.classes) if self.task == "multiclass" else ()

    @cached_property
    def store(self) -> DataStore:
        """The landing / raw / accepted / quarantine folders."""
        return DataStore(self.config.landing_dir(self.settings.home))

    @cached_property
    def experiment_id(self) -> str:
        """The pipeline's MLflow experiment (created on first use)."""
        return tracking.experiment_id(self.client, self.config.experiment_name)

    @property
    def model_name(self) -> str:
        """Registered model in MLflow, and the router (public entry point) in Triton."""
        return self.config.model_name

    @property
    def versions_model(self) -> str:
        """Triton model holding the registry versions (called by the router, or with a version)."""
        from champion_challenger.serving.triton_repository import versions_model_name

        return versions_model_name(self.config.model_name)

    @property
    def capture_dir(self) -> Path:
        """Where the router writes capture records."""
        return self.config.capture_dir(self.settings.home)

    @property
    def triton_metrics_url(self) -> str:
        """Triton's Prometheus endpoint."""
        return triton_metrics_url(self.triton_url, self.settings.triton_metrics_port)

    @property
    def workspaces(self) -> Path:
        """The folder of this model's cycle workspaces (``<home>/runs/<model>/``)."""
        return self.settings.home / "runs" / self.model_name

    def workspace(self, cycle_id: str) -> Path:
        """This cycle's working folder (train/holdout splits, reports, the trained model)."""
        path = self.workspaces / safe_name(cycle_id)
        path.mkdir(parents=True, exist_ok=True)
        return path

    # ---- links ---------------------------------------------------------------------------------
    def run_url(self, run_id: str) -> str:
        """The MLflow UI page of a run."""
        from champion_challenger.evaluation.comparison import run_url

        return run_url(self._ui, self.client.get_run(run_id).info.experiment_id, run_id)

    def version_url(self, version: int) -> str:
        """The MLflow UI page of a registered model version."""
        return f"{self._ui}/#/models/{self.model_name}/versions/{version}"

    @property
    def _ui(self) -> str:
        return (self.settings.mlflow_ui_url or self.tracking_uri).rstrip("/")


def check_mlflow(tracking_uri: str, timeout_s: float = 10) -> None:
    """Fail fast, with what to do, when an HTTP tracking server does not answer its health check.

    The MLflow client itself retries with back-off for minutes before giving up.

    Raises:
        ServiceUnavailableError: the server did not answer 200 on ``/health``.
    """
    if not tracking_uri.startswith(("http://", "https://")):
        return
    try:
        ok = requests.get(f"{tracking_uri.rstrip('/')}/health", timeout=timeout_s).status_code == 200
    except requests.RequestException as exc:
        ok, detail = False, type(exc).__name__
    else:
        detail = "health check did not return 200"
    if not ok:
        raise ServiceUnavailableError(
            f"MLflow at {tracking_uri} is unreachable ({detail}); start it with `make up` or set MLFLOW_TRACKING_URI"
        )
