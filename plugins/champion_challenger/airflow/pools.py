"""Airflow pools the DAGs use beyond the shared ``gpu`` training pool.

Each model of the fleet has a one-slot pool, ``champion_changes__<model>``
(:func:`champion_challenger.fleet.champion_pool`): the tasks that change its champion or what Triton
serves for it (recovery, challenger registration and deployment, promote, keep_champion, the watch)
queue in Airflow instead of waiting inside a worker slot for the model's champion lease
(:mod:`champion_challenger.registry.lease`, which also covers ``ccp`` commands run outside Airflow).
Two models never wait for each other. Created by ``ccp stack up``, the Celery topology and the compose
file's ``airflow-init``.
"""

from __future__ import annotations

from champion_challenger.fleet import champion_pool

CHAMPION_POOL_DESCRIPTION = "One champion change of {model} at a time (recover, deploy, promote, hold, watch)"
GPU_POOL = "gpu"
GPU_POOL_DESCRIPTION = "GPU training slots, shared by every model (one per GPU; 1 on CPU-only hosts)"


def fleet_pools(models: list[str], gpu_slots: int) -> list[tuple[str, int, str]]:
    """``(name, slots, description)`` of every pool the fleet's DAGs use."""
    return [(GPU_POOL, gpu_slots, GPU_POOL_DESCRIPTION)] + [
        (champion_pool(m), 1, CHAMPION_POOL_DESCRIPTION.format(model=m)) for m in models
    ]


def set_pools(models: list[str], gpu_slots: int, airflow: str = "airflow", env: dict[str, str] | None = None) -> None:
    """Create or resize the fleet's pools with ``airflow pools set`` (the metadata database directly: the
    compose file's ``airflow-init`` and the Celery topology, before any API server runs).

    Raises:
        RuntimeError: a command failed; the message holds its output.
    """
    from champion_challenger.stack.processes import run_checked

    for name, slots, description in fleet_pools(models, gpu_slots):
        run_checked([airflow, "pools", "set", name, str(slots), description], env)
