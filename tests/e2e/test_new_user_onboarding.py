"""A new user's first hour, as the README tells it: ``ccp init`` on their own CSV, ``make up`` with that
pipeline, one triggered cycle → a first champion that Triton serves.

The CSV is nobody's sample data: daily bike rentals per station, a date-only timestamp, no id column, a
numeric target (regression). Everything runs for real through the same commands a user types: the ``ccp``
entry point, ``make up`` (MLflow, Triton, Airflow standalone on SQLite, on free ports in a temporary
runtime folder) and Airflow's scheduler running the DAG's tasks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(3000)]
CCP = str(Path(sys.executable).parent / "ccp")
#: Variables the shared test stack sets for other modules; this user's stack must not inherit them.
SHARED_STACK_VARIABLES = ("MLFLOW_TRACKING_URI", "CCP_TRITON_URL", "AIRFLOW_CONN_MLFLOW_DEFAULT", "AIRFLOW_CONN_TRITON_DEFAULT")


def bike_rentals(path: Path, days: int = 120, stations: int = 14, seed: int = 3) -> Path:
    """Rentals per station and day: weather, weekday and season drive them; no id column."""
    rng = np.random.default_rng(seed)
    day = np.repeat(pd.date_range("2025-05-01", periods=days, freq="D"), stations)
    n = len(day)
    temperature = np.round(18 + 8 * np.sin(np.arange(n) / (stations * 58)) + rng.normal(0, 3, n), 1)
    humidity = np.round(np.clip(rng.normal(60, 15, n), 10, 100), 0)
    weekday = day.day_name()
    station_type = rng.choice(["downtown", "campus", "park", "suburb"], n, p=[0.4, 0.2, 0.2, 0.2])
    busy = {"downtown": 40, "campus": 30, "park": 20, "suburb": 10}
    rentals = (
        np.vectorize(busy.get)(station_type)
        + 2.2 * temperature
        - 0.3 * humidity
        + np.where(np.isin(weekday, ["Saturday", "Sunday"]), 15, 0)
        + rng.normal(0, 6, n)
    )
    frame = pd.DataFrame(
        {
            "day": day.strftime("%Y-%m-%d"),
            "station_type": station_type,
            "weekday": weekday,
            "temperature_c": temperature,
            "humidity_pct": humidity,
            "rentals": np.round(np.clip(rentals, 0, None), 0),
        }
    )
    frame.to_csv(path, index=False)
    return path


@pytest.fixture(scope="module")
def user_env(tmp_path_factory):
    """A fresh runtime folder and free ports, as a user's shell would have them."""
    from champion_challenger.stack.processes import free_port

    home = tmp_path_factory.mktemp("new-user")
    env = {k: v for k, v in os.environ.items() if k not in SHARED_STACK_VARIABLES and not k.startswith("AIRFLOW__")}
    env.update(
        {
            "CCP_HOME": str(home / ".ccp"),
            "CCP_MLFLOW_PORT": str(free_port()),
            "CCP_TRITON_HTTP_PORT": str(free_port()),
            "CCP_TRITON_GRPC_PORT": str(free_port()),
            "CCP_TRITON_METRICS_PORT": str(free_port()),
            "CCP_AIRFLOW_PORT": str(free_port()),
            "CCP_AIRFLOW_WORKER_LOG_PORT": str(free_port()),
            "CCP_AIRFLOW_TRIGGER_LOG_PORT": str(free_port()),
        }
    )
    env.pop("CCP_PIPELINES", None)
    yield home, env
    subprocess.run(["make", "-C", str(REPO), "down"], env=env, capture_output=True, timeout=300)


def _run(command: list[str], env: dict, timeout: float) -> subprocess.CompletedProcess:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done


def test_ccp_init_then_make_up_and_one_triggered_cycle_promotes_a_first_champion(user_env):
    home, env = user_env
    data = bike_rentals(home / "bike_rentals.csv")
    config_dir = home / "configs" / "bikes"

    init = json.loads(_run([CCP, "init", "--data", str(data), "--target", "rentals", "--out", str(config_dir), "--json"],
                           env, 120).stdout)  # fmt: skip
    assert init["task"] == "regression" and init["id_column"] is None and init["timestamp_column"] == "day"
    env["CCP_PIPELINES"] = str(config_dir / "pipeline.yaml")

    _run(["make", "-C", str(REPO), "up"], env, 900)
    cycle = json.loads(_run([CCP, "trigger", "--json", "--timeout", "2400"], env, 2700).stdout)
    assert cycle["state"] == "success", cycle
    assert cycle["decision"] == "promote", cycle

    status = json.loads(_run([CCP, "status", "--json"], env, 300).stdout)
    assert status["task"] == "regression"
    assert status["champion"]["served_by_triton"] is True
    assert status["router"]["ready"] is True and status["router"]["champion"] == status["champion"]["version"]
    scored = home / "scored.csv"
    _run([CCP, "predict", str(data), "--out", str(scored), "--json"], env, 300)
    predictions = pd.read_csv(scored)
    assert len(predictions) == len(pd.read_csv(data)) and predictions["prediction"].notna().all()

    password = json.loads((Path(env["CCP_HOME"]) / "airflow" / "simple_auth_manager_passwords.json.generated").read_text())
    logs = [p for p in Path(env["CCP_HOME"]).rglob("*.log") if p.is_file()]
    assert logs and not [str(p) for p in logs if password["admin"] in p.read_text(errors="replace")]  # no secret in logs
