"""What each Airflow task process costs: an Airflow listener (registered by ``ccp_airflow_plugin``).

When a task instance finishes (success, failure or retry) the listener, running inside the task
process, records one JSON line: the task, its state, ``process_seconds`` (from the task process's
start: Airflow's start-up, the DAG file's imports, the task itself), ``execute_seconds`` (from the
RUNNING callback to the end: the task body), ``cpu_seconds`` and ``peak_rss_mb`` (the process's
maximum resident set, which includes the pages it shares with the supervisor it was forked from).

Lines go to the task log and to ``$CCP_HOME/metrics/task_resources.jsonl`` (appended; each line is
written with one ``write``), which ``make bench-cycle`` reads. A listener error never fails a task.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import time
from pathlib import Path
from typing import Any

from airflow.listeners import hookimpl

log = logging.getLogger(__name__)
#: File under ``$CCP_HOME/metrics`` the records are appended to.
RESOURCES_FILE = "task_resources.jsonl"
_running_since: dict[str, float] = {}


def resources_path(home: Path) -> Path:
    """Where the task records of the stack in ``home`` go."""
    return home / "metrics" / RESOURCES_FILE


def process_usage(running_since: float | None = None) -> dict[str, float | None]:
    """Seconds, CPU seconds and peak RSS of this process so far."""
    import psutil

    usage = resource.getrusage(resource.RUSAGE_SELF)
    now = time.time()
    return {
        "process_seconds": round(now - psutil.Process().create_time(), 2),
        "execute_seconds": round(now - running_since, 2) if running_since else None,
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
    }


def _key(task_instance: Any) -> str:
    return f"{task_instance.dag_id}/{task_instance.run_id}/{task_instance.task_id}/{getattr(task_instance, 'map_index', -1)}"


def _record(task_instance: Any, state: str) -> None:
    try:
        row = {
            "dag_id": task_instance.dag_id,
            "run_id": task_instance.run_id,
            "task_id": task_instance.task_id,
            "map_index": getattr(task_instance, "map_index", -1),
            "try_number": getattr(task_instance, "try_number", None),
            "state": state,
            **process_usage(_running_since.pop(_key(task_instance), None)),
        }
        line = json.dumps(row)
        log.info("task resources: %s", line)
        home = os.environ.get("CCP_HOME")
        if home:
            path = resources_path(Path(home))
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a", encoding="utf-8") as out:
                out.write(line + "\n")
    except Exception:  # noqa: BLE001 - measuring must never fail a task
        log.warning("could not record the task's resource use", exc_info=True)


@hookimpl
def on_task_instance_running(previous_state, task_instance) -> None:
    _running_since[_key(task_instance)] = time.time()


@hookimpl
def on_task_instance_success(previous_state, task_instance) -> None:
    _record(task_instance, "success")


@hookimpl
def on_task_instance_failed(previous_state, task_instance, error) -> None:
    _record(task_instance, "failed")
