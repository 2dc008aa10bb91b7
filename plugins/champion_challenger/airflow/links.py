"""Links from Airflow task instances to the MLflow run and registry version they produced.

A task pushes the URLs to XCom under the keys below (:func:`push_links`); the Airflow plugin in
``plugins/ccp_airflow_plugin.py`` registers one global extra link per key, so the task's page in the
Airflow UI shows "MLflow run" and "MLflow model version" buttons. Importing this module needs only
the Task SDK (it runs inside tasks).
"""

from __future__ import annotations

#: XCom key → button name of the extra link.
LINKS: dict[str, str] = {
    "ccp_mlflow_run_url": "MLflow run",
    "ccp_model_version_url": "MLflow model version",
}
RUN_KEY, VERSION_KEY = LINKS


def push_links(run_url: str | None = None, model_version_url: str | None = None) -> None:
    """Attach MLflow URLs to the running task instance (call from inside a task)."""
    from airflow.sdk import get_current_context

    ti = get_current_context()["ti"]
    for key, url in ((RUN_KEY, run_url), (VERSION_KEY, model_version_url)):
        if url:
            ti.xcom_push(key=key, value=url)


def link_mlflow(ctx, run_id: str | None = None, version: int | None = None) -> None:
    """Push the MLflow run and/or model version pages of ``ctx`` (a ``CycleContext``) as extra links."""
    push_links(ctx.run_url(run_id) if run_id else None, ctx.version_url(version) if version else None)
