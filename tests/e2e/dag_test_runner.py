"""Run one DAG's ``dag.test()`` in a process of its own and print its outcome as the last stdout line (JSON).

Usage: ``python -m tests.e2e.dag_test_runner DAG_ID``. The environment names the Airflow home and
database, ``CCP_PIPELINES`` and the stack; two of these processes run two pipelines' cycles at once.
Tests start one with :func:`start_dag_test` and read its outcome with :func:`dag_test_outcome`.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]  # not from tests.conftest: importing it re-points Airflow at a new database


def main(dag_id: str) -> None:
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    if bag.import_errors:
        raise SystemExit(f"import errors: {bag.import_errors}")
    run = bag.dags[dag_id].test()
    states = {f"{ti.task_id}[{ti.map_index}]": str(ti.state) for ti in run.get_task_instances()}
    print(json.dumps({"dag_id": dag_id, "run_id": run.run_id, "state": str(run.state), "tasks": states}), flush=True)


def start_dag_test(dag_id: str, name: str, session_dir: Path, pipelines: Path) -> subprocess.Popen:
    """``dag.test()`` of ``dag_id`` in its own process, on its own copy of the session's migrated Airflow database
    (``<session_dir>/airflow-<name>``), with ``CCP_PIPELINES=pipelines``."""
    home = session_dir / f"airflow-{name}"
    home.mkdir(exist_ok=True)
    with sqlite3.connect(session_dir / "airflow" / "airflow.db") as source, sqlite3.connect(home / "airflow.db") as copy:
        source.backup(copy)  # a consistent copy, whatever the write-ahead log still holds
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "CCP_PIPELINES": str(pipelines),
        "PYTHONPATH": str(REPO),
    }
    command = [sys.executable, "-m", "tests.e2e.dag_test_runner", dag_id]
    return subprocess.Popen(command, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def dag_test_outcome(process: subprocess.Popen, timeout_s: float = 1500) -> dict:
    """The run's ``dag_id``, ``run_id``, ``state`` and task states (the process must exit 0)."""
    output, _ = process.communicate(timeout=timeout_s)
    assert process.returncode == 0, output[-6000:]
    return json.loads(output.strip().splitlines()[-1])


if __name__ == "__main__":
    main(sys.argv[1])
