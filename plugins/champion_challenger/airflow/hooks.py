"""Airflow hooks, one per external system. Connections are resolved inside ``get_conn()``.

``mlflow_default`` and ``triton_default`` are HTTP connections (``AIRFLOW_CONN_MLFLOW_DEFAULT=
http://mlflow:5000``). Without them the embedded defaults from ``CCP_*`` settings apply.
"""

from __future__ import annotations

import logging

from airflow.sdk import BaseHook

from champion_challenger.settings import load_settings

log = logging.getLogger(__name__)


def _connection_url(conn_id: str, with_scheme: bool) -> str | None:
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - a missing connection means "use the embedded default"
        return None
    host = f"{conn.host}:{conn.port}" if conn.port else conn.host
    return f"{conn.schema or 'http'}://{host}" if with_scheme else host


class MlflowHook(BaseHook):
    """Resolves the MLflow tracking URI from a connection (default ``mlflow_default``)."""

    conn_name_attr = "mlflow_conn_id"
    default_conn_name = "mlflow_default"
    conn_type = "http"
    hook_name = "MLflow"

    def __init__(self, mlflow_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.mlflow_conn_id = mlflow_conn_id

    def get_conn(self) -> str:
        """The tracking URI, e.g. ``http://127.0.0.1:5000``."""
        url = _connection_url(self.mlflow_conn_id, with_scheme=True)
        if url is None:
            url = load_settings().mlflow_tracking_uri
            log.info("connection %s not set; using MLFLOW_TRACKING_URI %s", self.mlflow_conn_id, url)
        return url


class TritonHook(BaseHook):
    """Resolves the Triton HTTP endpoint from a connection (default ``triton_default``)."""

    conn_name_attr = "triton_conn_id"
    default_conn_name = "triton_default"
    conn_type = "http"
    hook_name = "Triton Inference Server"

    def __init__(self, triton_conn_id: str = default_conn_name) -> None:
        super().__init__()
        self.triton_conn_id = triton_conn_id

    def get_conn(self) -> str:
        """The endpoint as ``host:port`` (tritonclient's form)."""
        url = _connection_url(self.triton_conn_id, with_scheme=False)
        if url is None:
            url = load_settings().triton_url
            log.info("connection %s not set; using CCP_TRITON_URL %s", self.triton_conn_id, url)
        return url


def pipeline_from_connections():
    """A :class:`~champion_challenger.pipeline.Pipeline` wired to the Airflow connections."""
    from champion_challenger.pipeline import Pipeline

    return Pipeline.from_env(tracking_uri=MlflowHook().get_conn(), triton_url=TritonHook().get_conn())
