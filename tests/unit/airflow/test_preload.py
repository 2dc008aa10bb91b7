"""The scheduler and Celery workers import the pipeline's task modules once; nothing heavy, nothing elsewhere."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from champion_challenger.airflow.preload import TASK_MODULES, forks_tasks, preload_task_modules
from tests.conftest import REPO


@pytest.mark.parametrize(
    ("argv", "forks"),
    [
        (["airflow", "scheduler"], True),
        (["/venv/bin/airflow", "--verbose", "scheduler", "-n", "3"], True),
        (["airflow", "celery", "worker", "--queues", "gpu"], True),
        (["airflow", "celery", "flower"], False),
        (["airflow", "api-server"], False),
        (["airflow", "dags", "test", "champion_challenger__churn_classifier"], False),
        (["pytest"], False),
    ],
)
def test_only_the_processes_that_fork_tasks_preload(argv, forks):
    assert forks_tasks(argv) is forks


def test_preload_is_off_when_the_command_forks_no_task_or_it_is_turned_off():
    assert preload_task_modules(["airflow", "api-server"], {}) == []
    assert preload_task_modules(["airflow", "scheduler"], {"CCP_AIRFLOW_PRELOAD": "0"}) == []


def test_a_scheduler_imports_every_task_module_but_neither_torch_ludwig_nor_evidently_and_starts_no_thread():
    """Run in a fresh interpreter, as the scheduler does at start: what a forked task inherits is safe to fork."""
    code = (
        "import json, sys, threading\n"
        "from champion_challenger.airflow.preload import preload_task_modules\n"
        "loaded = preload_task_modules(['airflow', 'scheduler'], {})\n"
        "heavy = [m for m in ('torch', 'ludwig', 'evidently', 'onnxruntime', 'tritonclient') if m in sys.modules]\n"
        "print(json.dumps({'loaded': loaded, 'heavy': heavy, 'threads': threading.active_count()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO, timeout=300).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"loaded": list(TASK_MODULES), "heavy": [], "threads": 1}
