"""Airflow hooks, one per external system. Connections are resolved inside ``get_conn()``.

``mlflow_default`` and ``triton_default`` are HTTP connections (``AIRFLOW_CONN_MLFLOW_DEFAULT=
http://mlflow:5000``). Without them the embedded defaults from ``CCP_*`` settings apply.
"""

from __future__ import annotations

import logging

from airflow.sdk import BaseHook

from champion_challenger.config.settings import load_settings

log = logging.getLogger(__name__)


def _connection_url(conn_id: str, with_scheme: bool) -> str | None:
    try:
        conn = BaseHook.get_connection(conn_id)
    except Exception:  # noqa: BLE001 - a missing connection means "use the embedded default"
        return None
    host = f"{conn.host}:{conn.port}" if conn.port else conn.host
    return f"{conn.schema or 'http'}://{host}" if with_scheme else host


class _EndpointHook(BaseHook):
    """Base of the hooks below: an endpoint from a connection, else from the embedded settings."""

    conn_type = "http"
    with_scheme: bool = True

    def __init__(self, conn_id: str | None = None) -> None:
        super().__init__()
        self.conn_id = conn_id or self.default_conn_name

    def _fallback(self) -> str:
        raise NotImplementedError

    def get_conn(self) -> str:
        """The endpoint from the connection, or the embedded default when the connection is unset."""
        url = _connection_url(self.conn_id, with_scheme=self.with_scheme)
        if url is None:
            url = self._fallback()
            log.info("connection %s not set; using the embedded default %s", self.conn_id, url)
        return url


class MlflowHook(_EndpointHook):
    """The MLflow tracking URI (``http://host:port``) from connection ``mlflow_default``."""

    conn_name_attr = "conn_id"
    default_conn_name = "mlflow_default"
    hook_name = "MLflow"

    def _fallback(self) -> str:
        return load_settings().mlflow_tracking_uri


class TritonHook(_EndpointHook):
    """The Triton HTTP endpoint (``host:port``, tritonclient's form) from connection ``triton_default``."""

    conn_name_attr = "conn_id"
    default_conn_name = "triton_default"
    hook_name = "Triton Inference Server"
    with_scheme = False

    def _fallback(self) -> str:
        return load_settings().triton_url


def context_from_connections(model: str | None = None):
    """A :class:`~champion_challenger.cycle.context.CycleContext` of pipeline ``model`` wired to the Airflow connections."""
    from champion_challenger.cycle.context import CycleContext

    return CycleContext.from_env(tracking_uri=MlflowHook().get_conn(), triton_url=TritonHook().get_conn(), model=model)
