"""Airflow pools the DAGs use beyond the shared ``gpu`` training pool.

Each model of the fleet has a one-slot pool, ``champion_changes__<model>``
(:func:`champion_challenger.config.fleet.champion_pool`): the tasks that change its champion or what Triton
serves for it (recovery, challenger registration and deployment, promote, keep_champion, the watch)
queue in Airflow instead of waiting inside a worker slot for the model's champion lease
(:mod:`champion_challenger.registry.lease`, which also covers ``ccp`` commands run outside Airflow).
Two models never wait for each other.

:func:`sync_pools` is the one place that creates and resizes them, on a new or an existing Airflow, through
either adapter of :class:`PoolStore`: :class:`ApiPools` (a running api-server's REST API: ``ccp stack up``,
``ccp stack pools`` on a running stack) or :class:`DatabasePools` (the metadata database through this Python
environment's ``airflow`` CLI, before any api-server runs: the compose file's ``airflow-init``, the Celery
topology, ``ccp stack pools`` on a stopped stack).
"""

from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal, Protocol

from champion_challenger.config.fleet import champion_pool
from champion_challenger.errors import ServiceUnavailableError
from champion_challenger.stack.airflow_api import AirflowApi
from champion_challenger.stack.processes import run_checked

CHAMPION_POOL_DESCRIPTION = "One champion change of {model} at a time (recover, deploy, promote, hold, watch)"
GPU_POOL = "gpu"
GPU_POOL_DESCRIPTION = "GPU training slots, shared by every model (one per GPU; 1 on CPU-only hosts)"


@dataclass(frozen=True)
class Pool:
    """An Airflow pool: ``include_deferred`` is Airflow's own setting, kept as it is on an existing pool."""

    name: str
    slots: int
    description: str
    include_deferred: bool = False


@dataclass(frozen=True)
class PoolChange:
    """What :func:`sync_pools` did to one pool: ``created``, ``updated`` (slots or description) or ``unchanged``;
    ``slots_before`` is None for a created pool."""

    pool: Pool
    action: Literal["created", "updated", "unchanged"]
    slots_before: int | None

    def as_dict(self) -> dict[str, object]:
        return {"name": self.pool.name, "slots": self.pool.slots, "action": self.action, "slots_before": self.slots_before}

    def describe(self) -> str:
        """``airflow pool 'gpu': 2 slot(s) (updated, was 1)``."""
        was = f", was {self.slots_before}" if self.action == "updated" and self.slots_before != self.pool.slots else ""
        return f"airflow pool '{self.pool.name}': {self.pool.slots} slot(s) ({self.action}{was})"


class PoolStore(Protocol):
    """Where an Airflow keeps its pools. ``where`` names it in messages."""

    where: str

    def pools(self) -> dict[str, Pool]:
        """Every pool, by name."""
        ...

    def create(self, pools: list[Pool]) -> None:
        """Create pools that do not exist."""
        ...

    def update(self, pools: list[Pool]) -> None:
        """Set slots and description of existing pools (``include_deferred`` as given)."""
        ...


def fleet_pools(models: list[str], gpu_slots: int) -> list[Pool]:
    """Every pool the fleet's DAGs use: the shared ``gpu`` pool and each model's one-slot champion pool."""
    return [Pool(GPU_POOL, gpu_slots, GPU_POOL_DESCRIPTION)] + [
        Pool(champion_pool(m), 1, CHAMPION_POOL_DESCRIPTION.format(model=m)) for m in models
    ]


def plan_pools(wanted: list[Pool], existing: dict[str, Pool]) -> list[PoolChange]:
    """What to do to reach ``wanted`` from ``existing``: create the missing pools, update those whose slots or
    description differ (keeping their ``include_deferred``), leave the rest. Pools not wanted stay untouched."""
    changes = []
    for pool in wanted:
        have = existing.get(pool.name)
        if have is None:
            changes.append(PoolChange(pool, "created", None))
            continue
        pool = replace(pool, include_deferred=have.include_deferred)
        same = (have.slots, have.description) == (pool.slots, pool.description)
        changes.append(PoolChange(pool, "unchanged" if same else "updated", have.slots))
    return changes


def sync_pools(store: PoolStore, wanted: list[Pool]) -> list[PoolChange]:
    """Create or resize ``wanted`` in ``store`` (idempotent: a second call changes nothing); returns what it did.

    Raises:
        ServiceUnavailableError: the store's Airflow could not be read or written (its message says why).
    """
    changes = plan_pools(wanted, store.pools())
    created = [c.pool for c in changes if c.action == "created"]
    updated = [c.pool for c in changes if c.action == "updated"]
    if created:
        store.create(created)
    if updated:
        store.update(updated)
    return changes


class ApiPools:
    """Pools through a running api-server's REST API."""

    def __init__(self, api: AirflowApi) -> None:
        self.api = api
        self.where = f"Airflow API at {api.base_url}"

    def pools(self) -> dict[str, Pool]:
        return {
            p["name"]: Pool(p["name"], p["slots"], p.get("description") or "", bool(p.get("include_deferred")))
            for p in self.api.pools()
        }

    def create(self, pools: list[Pool]) -> None:
        for pool in pools:
            self.api.create_pool(pool.name, pool.slots, pool.description, pool.include_deferred)

    def update(self, pools: list[Pool]) -> None:
        for pool in pools:
            self.api.update_pool(pool.name, pool.slots, pool.description, pool.include_deferred)


class DatabasePools:
    """Pools in the metadata database, through ``airflow pools export`` / ``import`` of this Python environment
    (``python -m airflow``: found whether or not its ``bin`` folder is on ``PATH``); one command to read, one to write.

    Args:
        env: the Airflow environment (``AIRFLOW_HOME``, ``AIRFLOW__DATABASE__SQL_ALCHEMY_CONN``, ...) over this
            process's; None: this process's own.
        where: names the database in messages.
    """

    def __init__(self, env: dict[str, str] | None = None, where: str = "Airflow metadata database") -> None:
        self.env = env
        self.where = where

    def pools(self) -> dict[str, Pool]:
        with tempfile.TemporaryDirectory(prefix="ccp-pools-") as folder:
            path = Path(folder) / "pools.json"
            self._airflow("export", path)
            exported = json.loads(path.read_text())
        return {
            name: Pool(name, int(p["slots"]), p.get("description") or "", bool(p.get("include_deferred")))
            for name, p in exported.items()
        }

    def create(self, pools: list[Pool]) -> None:
        self._import(pools)

    def update(self, pools: list[Pool]) -> None:
        self._import(pools)

    def _import(self, pools: list[Pool]) -> None:
        """``airflow pools import`` creates a pool, or overwrites one of the same name."""
        body = {p.name: {"slots": p.slots, "description": p.description, "include_deferred": p.include_deferred} for p in pools}
        with tempfile.TemporaryDirectory(prefix="ccp-pools-") as folder:
            path = Path(folder) / "pools.json"
            path.write_text(json.dumps(body))
            self._airflow("import", path)

    def _airflow(self, action: str, path: Path) -> None:
        try:
            run_checked([sys.executable, "-m", "airflow", "pools", action, str(path)], self.env)
        except RuntimeError as exc:
            raise ServiceUnavailableError(f"could not {action} the pools of the {self.where}: {exc}") from exc
