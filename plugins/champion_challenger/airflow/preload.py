"""Import the pipeline's task modules once, in the Airflow processes that fork task processes.

On Linux every Airflow task runs in a process forked from the scheduler (Local executor) or from a Celery
worker (Celery executor): what the parent has imported, the task starts with. Without a preload every
task of a cycle pays ~2 s importing MLflow, pandas and SciPy before its first line runs — about 30 s of a
16-task cycle. :func:`preload_task_modules` imports the cycle's step modules in those parents only; it is
called from ``plugins/airflow_local_settings.py``, which Airflow imports at the start of every command.

Never preloaded: torch, Ludwig and Evidently (the modules importing them do so inside the functions that
need them), so the scheduler stays small and forking stays safe (no thread is started by these imports).
``CCP_AIRFLOW_PRELOAD=0`` turns it off.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence

log = logging.getLogger(__name__)

PRELOAD_ENV = "CCP_AIRFLOW_PRELOAD"

#: ``airflow`` sub-commands whose process forks task processes.
FORKING_COMMANDS = (("scheduler",), ("celery", "worker"))

#: The cycle's step modules every task of the DAGs imports (with MLflow, pandas, SciPy, scikit-learn).
TASK_MODULES = (
    "champion_challenger.cycle.context",
    "champion_challenger.cycle.ingest",
    "champion_challenger.cycle.drift",
    "champion_challenger.cycle.training",
    "champion_challenger.cycle.evidence",
    "champion_challenger.cycle.serving_deployment",
    "champion_challenger.cycle.transitions",
    "champion_challenger.cycle.recording",
    "champion_challenger.cycle.watch",
    "champion_challenger.cycle.retention",
)


def forks_tasks(argv: Sequence[str]) -> bool:
    """Whether ``argv`` (an ``airflow`` command line) starts a process that forks task processes."""
    words = tuple(a for a in argv[1:] if not a.startswith("-"))
    return any(words[: len(command)] == command for command in FORKING_COMMANDS)


def preload_task_modules(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """Import :data:`TASK_MODULES` when ``argv`` (default ``sys.argv``) forks tasks and
    ``$CCP_AIRFLOW_PRELOAD`` is not ``0``; the modules imported. A module that fails to import is logged
    and skipped: the task that needs it reports the error itself."""
    environ = os.environ if environ is None else environ
    if environ.get(PRELOAD_ENV, "1") == "0" or not forks_tasks(sys.argv if argv is None else argv):
        return []
    started, loaded, before = time.perf_counter(), [], len(sys.modules)
    for name in TASK_MODULES:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception as exc:  # noqa: BLE001 - a broken module must not stop the scheduler
            log.warning("champion_challenger: %s not preloaded (%s: %s)", name, type(exc).__name__, exc)
    if len(sys.modules) > before:  # not when a forked task re-reads this module with its parent's imports
        log.info("champion_challenger: %d task modules preloaded in %.1f s", len(loaded), time.perf_counter() - started)
    return loaded
