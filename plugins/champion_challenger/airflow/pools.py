"""Airflow pools the DAGs use beyond the ``gpu`` training pool.

``champion_changes`` has one slot: the tasks that change the champion or what Triton serves (recovery,
challenger registration and deployment, promote, keep_champion, the watch) queue in Airflow instead
of waiting inside a worker slot for the model's champion lease (:mod:`champion_challenger.registry.lease`,
which also covers ``ccp`` commands run outside Airflow). Created by ``ccp up``, the Celery topology and
the compose file's ``airflow-init``. One stack serves one model today; a fleet gets one pool per model.
"""

from __future__ import annotations

CHAMPION_POOL = "champion_changes"
CHAMPION_POOL_DESCRIPTION = "One champion change at a time (recover, deploy, promote, hold, watch)"
