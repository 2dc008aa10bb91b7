"""The README's lifecycle of the local stack, in order, on one stack, as a user runs it: ``make up`` (fresh) → a
triggered cycle → ``make down`` → ``make up`` (existing) → ``ccp status`` shows the same champion served → a second
cycle → ``make wipe``.

Found by a new user: the second ``make up`` failed (Airflow 3.3 answered 422 to resizing an existing pool), and
``ccp stack pools`` ran whichever ``airflow`` was on ``PATH``. So ``ccp stack pools`` runs here with the venv off
``PATH`` (``env -i PATH=/usr/bin:/bin``) on the running stack (through its API) and on the stopped stack (its own
database), and the second ``make up`` runs with the venv off ``PATH`` too; between them the ``gpu`` pool is resized
both ways on the real Airflow. Everything runs for real: the Makefile's targets (with this venv, without
reinstalling it), the ``ccp`` entry point, MLflow, Triton and Airflow standalone on free ports in a temporary runtime
folder, one Ludwig candidate trained for one epoch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from champion_challenger.stack.processes import free_port, port_in_use
from tests.conftest import REPO, write_test_configs

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(2400)]
VENV = Path(sys.executable).parent.parent
CCP = str(VENV / "bin" / "ccp")
MODEL = "churn_classifier"
#: The Makefile's targets with this venv, not reinstalling it (its stamp may be older than a pyproject.toml edit).
MAKE = ["make", "-C", str(REPO), f"VENV={VENV}", "-o", f"{VENV}/.installed"]
PORTS = (
    "CCP_MLFLOW_PORT",
    "CCP_TRITON_HTTP_PORT",
    "CCP_TRITON_GRPC_PORT",
    "CCP_TRITON_METRICS_PORT",
    "CCP_AIRFLOW_PORT",
    "CCP_AIRFLOW_WORKER_LOG_PORT",
    "CCP_AIRFLOW_TRIGGER_LOG_PORT",
)
#: Variables of the shared test stack and of the tests' own Airflow; a user's shell has none of them.
NOT_A_USERS = ("MLFLOW_TRACKING_URI", "CCP_TRITON_URL", "CCP_PIPELINES", "CCP_MODEL")


@pytest.fixture(scope="module")
def user(tmp_path_factory):
    """A runtime folder of its own, free ports, one candidate for one epoch; the stack is stopped at the end."""
    home = tmp_path_factory.mktemp("lifecycle")
    pipeline = write_test_configs(home / "configs", epochs=1, ludwig_configs=["ludwig/churn_mlp.yaml"])
    env = {k: v for k, v in os.environ.items() if k not in NOT_A_USERS and not k.startswith("AIRFLOW")}
    env.update({name: str(free_port()) for name in PORTS})
    env.update({"CCP_HOME": str(home / ".ccp"), "CCP_PIPELINES": str(pipeline)})
    yield env
    subprocess.run([*MAKE, "down"], env=env, capture_output=True, timeout=300)


def _bare(env: dict[str, str]) -> dict[str, str]:
    """``env -i PATH=/usr/bin:/bin HOME=$HOME`` plus the stack's location: no venv on PATH, no AIRFLOW_* at all."""
    return {"PATH": "/usr/bin:/bin", "HOME": env["HOME"], **{k: v for k, v in env.items() if k.startswith("CCP_")}}


def _run(command: list[str], env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, f"{' '.join(command)} exited {done.returncode}\n{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def _pools(output: str) -> dict[str, tuple[int, str]]:
    return {p["name"]: (p["slots"], p["action"]) for p in json.loads(output)["airflow_pools"]}


def test_up_cycle_down_up_status_cycle_wipe_on_one_stack(user):
    env, seconds = user, {}

    def step(name: str, command: list[str], timeout: float, step_env: dict[str, str] | None = None) -> str:
        started = time.monotonic()
        output = _run(command, step_env or env, timeout)
        seconds[name] = round(time.monotonic() - started, 1)
        return output

    up = step("make up (fresh)", [*MAKE, "up"], 900)
    assert "airflow pool 'gpu': 1 slot(s) (created)" in up
    assert f"airflow pool 'champion_changes__{MODEL}': 1 slot(s) (created)" in up

    step("generate 4 batches", [CCP, "generate-data", "--batches", "4", "--rows", "1000"], 120)
    first = json.loads(step("cycle 1", [CCP, "trigger", "--json", "--timeout", "1500"], 1800))
    assert (first["state"], first["decision"]) == ("success", "promote"), first
    before = json.loads(step("status", [CCP, "status", "--json"], 300))["champion"]
    assert before["served_by_triton"] is True, before

    # The acceptance command (plus this stack's location), on the running stack: its API, nothing to change.
    pools = step("stack pools (running)", [CCP, "stack", "pools", "--json"], 300, _bare(env))
    assert "Airflow API" in json.loads(pools)["airflow"]
    assert _pools(pools) == {"gpu": (1, "unchanged"), f"champion_changes__{MODEL}": (1, "unchanged")}
    resized = step("resize via API", [CCP, "stack", "pools", "--gpu-slots", "2", "--json"], 300, _bare(env))
    assert _pools(resized)["gpu"] == (2, "updated")  # PATCH of an existing pool on Airflow 3.3

    down = step("make down", [*MAKE, "down"], 300)
    assert "airflow: stopped" in down and "mlflow: stopped" in down
    assert not [name for name in PORTS if port_in_use(int(env[name]))]

    stopped = step("resize via database", [CCP, "stack", "pools", "--gpu-slots", "3", "--json"], 300, _bare(env))
    assert "stopped stack's Airflow database" in json.loads(stopped)["airflow"]
    assert _pools(stopped)["gpu"] == (3, "updated")

    again = step("make up (existing)", [*MAKE, "up"], 900, _bare(env))
    assert "airflow pool 'gpu': 1 slot(s) (updated, was 3)" in again  # resized back through the API
    after = json.loads(step("status after restart", [CCP, "status", "--json"], 300))["champion"]
    assert after["version"] == before["version"] and after["served_by_triton"] is True, (before, after)

    step("generate 1 batch", [CCP, "generate-data", "--batches", "1", "--start", "4", "--rows", "1000"], 120)
    second = json.loads(step("cycle 2", [CCP, "trigger", "--json", "--timeout", "1500"], 1800))
    assert second["state"] == "success", second

    step("make wipe", [*MAKE, "wipe"], 300)
    assert not Path(env["CCP_HOME"]).exists()
    assert not [name for name in PORTS if port_in_use(int(env[name]))]
    print("\nlifecycle step seconds:", json.dumps(seconds))
