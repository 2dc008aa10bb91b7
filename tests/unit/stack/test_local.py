"""The embedded stack's Airflow environment."""

from __future__ import annotations

from pathlib import Path

from champion_challenger.config.settings import Settings
from champion_challenger.stack.local import airflow_environment


def test_tasks_reach_the_execution_api_on_the_port_airflow_serves():
    """Found by the onboarding test: with CCP_AIRFLOW_PORT other than 8080 every task failed with
    "Connection refused", because Airflow's default execution API address is localhost:8080."""
    settings = Settings(Path("/tmp/ccp"), Path("p.yaml"), "http://127.0.0.1:5000", "127.0.0.1:8000", 8001, 8002, 18123, 5000)
    env = airflow_environment(settings)
    assert env["AIRFLOW__API__PORT"] == "18123"
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://127.0.0.1:18123/execution/"


def test_every_local_service_listens_on_loopback_only(tmp_path):
    from champion_challenger.stack.local import mlflow_service
    from champion_challenger.stack.triton_server import triton_service

    settings = Settings(tmp_path, Path("p.yaml"), "http://127.0.0.1:5000", "127.0.0.1:8000", 8001, 8002, 18123, 5000)
    mlflow = mlflow_service(settings).command
    assert mlflow[mlflow.index("--host") + 1] == "127.0.0.1"
    triton = triton_service(tmp_path, tmp_path / "repo", 8000, 8001, 8002).command
    assert {"--http-address=127.0.0.1", "--grpc-address=127.0.0.1", "--metrics-address=127.0.0.1"} <= set(triton)
    assert airflow_environment(settings)["AIRFLOW__API__HOST"] == "127.0.0.1"


def test_the_admin_password_is_written_before_airflow_starts_so_airflow_never_prints_one(tmp_path):
    import os
    import stat

    from champion_challenger.stack.local import airflow_password

    settings = Settings(tmp_path, Path("p.yaml"), "http://127.0.0.1:5000", "127.0.0.1:8000", 8001, 8002, 18123, 5000)
    airflow_environment(settings)
    password = airflow_password(settings)
    assert password and len(password) >= 12
    files = list((tmp_path / "airflow").glob("simple_auth_manager_passwords*"))
    assert [stat.S_IMODE(os.stat(f).st_mode) for f in files] == [0o600]
    airflow_environment(settings)
    assert airflow_password(settings) == password  # kept, not regenerated
