"""Run one DAG's ``dag.test()`` in a process of its own and print its outcome as the last stdout line (JSON).

Usage: ``python -m tests.e2e.dag_test_runner DAG_ID``. The environment names the Airflow home and
database, ``CCP_PIPELINES`` and the stack; two of these processes run two pipelines' cycles at once.
"""

from __future__ import annotations

import json
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


if __name__ == "__main__":
    main(sys.argv[1])
