"""Creating and resizing the fleet's Airflow pools: the plan (pure), its application through our own in-process
store (a fake of our ``PoolStore`` port, never of Airflow), and which Airflow ``ccp stack pools`` picks.

Both real adapters run against real Airflow elsewhere: ``DatabasePools`` in
``tests/integration/test_pools_database.py``, ``ApiPools`` (new and existing pools, resized both ways) in
``tests/e2e/test_stack_lifecycle.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from champion_challenger.config.settings import Settings
from champion_challenger.errors import ServiceUnavailableError
from champion_challenger.stack import local
from champion_challenger.stack.pools import (
    GPU_POOL,
    DatabasePools,
    Pool,
    PoolChange,
    fleet_pools,
    plan_pools,
    sync_pools,
)

GPU = Pool("gpu", 1, "GPU slots")


class InMemoryPools:
    """Our ``PoolStore`` port in memory: records what was created and updated."""

    where = "memory"

    def __init__(self, pools: list[Pool] = ()) -> None:
        self.state = {p.name: p for p in pools}
        self.calls: list[tuple[str, list[str]]] = []

    def pools(self) -> dict[str, Pool]:
        return dict(self.state)

    def create(self, pools: list[Pool]) -> None:
        assert not [p for p in pools if p.name in self.state], "created a pool that exists"
        self.calls.append(("create", [p.name for p in pools]))
        self.state.update({p.name: p for p in pools})

    def update(self, pools: list[Pool]) -> None:
        assert all(p.name in self.state for p in pools), "updated a pool that does not exist"
        self.calls.append(("update", [p.name for p in pools]))
        self.state.update({p.name: p for p in pools})


@pytest.mark.parametrize(
    ("existing", "action", "slots_before"),
    [
        pytest.param({}, "created", None, id="missing pool is created"),
        pytest.param({"gpu": GPU}, "unchanged", 1, id="same pool is left alone"),
        pytest.param({"gpu": Pool("gpu", 3, "GPU slots")}, "updated", 3, id="other slots are resized"),
        pytest.param({"gpu": Pool("gpu", 1, "old words")}, "updated", 1, id="other description is rewritten"),
    ],
)
def test_plan_creates_missing_pools_and_updates_differing_ones(existing, action, slots_before):
    assert plan_pools([GPU], existing) == [PoolChange(GPU, action, slots_before)]


def test_plan_keeps_airflows_include_deferred_of_an_existing_pool():
    [change] = plan_pools([GPU], {"gpu": Pool("gpu", 2, "GPU slots", include_deferred=True)})
    assert change.action == "updated" and change.pool == Pool("gpu", 1, "GPU slots", include_deferred=True)


def test_sync_creates_on_a_new_airflow_then_changes_nothing_then_resizes_on_an_existing_one():
    store = InMemoryPools([Pool("default_pool", 128, "Default pool")])
    wanted = fleet_pools(["churn", "rentals"], gpu_slots=1)
    assert {c.action for c in sync_pools(store, wanted)} == {"created"}
    assert store.calls == [("create", ["gpu", "champion_changes__churn", "champion_changes__rentals"])]

    assert {c.action for c in sync_pools(store, wanted)} == {"unchanged"}
    assert len(store.calls) == 1  # idempotent: no write

    changes = sync_pools(store, fleet_pools(["churn", "rentals"], gpu_slots=2))
    assert [(c.pool.name, c.action, c.slots_before) for c in changes if c.action != "unchanged"] == [("gpu", "updated", 1)]
    assert store.calls[-1] == ("update", ["gpu"])
    assert store.state["gpu"].slots == 2 and store.state["default_pool"].slots == 128  # others untouched


def test_fleet_pools_are_the_shared_gpu_pool_and_one_single_slot_pool_per_model():
    pools = fleet_pools(["churn"], gpu_slots=4)
    assert [(p.name, p.slots) for p in pools] == [(GPU_POOL, 4), ("champion_changes__churn", 1)]
    assert "churn" in pools[1].description


@pytest.mark.parametrize(
    ("change", "text"),
    [
        pytest.param(PoolChange(GPU, "created", None), "airflow pool 'gpu': 1 slot(s) (created)", id="created"),
        pytest.param(PoolChange(GPU, "updated", 2), "airflow pool 'gpu': 1 slot(s) (updated, was 2)", id="resized"),
        pytest.param(PoolChange(GPU, "unchanged", 1), "airflow pool 'gpu': 1 slot(s) (unchanged)", id="unchanged"),
    ],
)
def test_each_change_is_one_line_for_the_user(change, text):
    assert change.describe() == text


def _settings(home: Path) -> Settings:
    return Settings(home, Path("p.yaml"), "http://127.0.0.1:5000", "127.0.0.1:8000", 8001, 8002, 18123, 5000)


def test_ccp_stack_pools_uses_the_stopped_stacks_own_database_whatever_the_environment_names(tmp_path, monkeypatch):
    """Found by a new user: `ccp stack pools` ran whichever `airflow` was on PATH, on ~/airflow's empty database."""
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path / "elsewhere"))
    (tmp_path / "airflow").mkdir()
    (tmp_path / "airflow" / "airflow.db").touch()
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "airflow.pid").write_text("999999999")  # a stack that is not running
    store = local.pool_store(_settings(tmp_path))
    assert isinstance(store, DatabasePools)
    assert store.env is not None and store.env["AIRFLOW_HOME"] == str(tmp_path / "airflow")
    assert store.env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] == f"sqlite:///{tmp_path / 'airflow' / 'airflow.db'}"


def test_without_a_stack_ccp_stack_pools_uses_the_airflow_the_environment_names(tmp_path, monkeypatch):
    """The compose file's airflow-init: Postgres named by AIRFLOW__DATABASE__SQL_ALCHEMY_CONN, no local stack."""
    monkeypatch.delenv("AIRFLOW_HOME", raising=False)
    monkeypatch.setenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2://airflow@postgres/airflow")
    store = local.pool_store(_settings(tmp_path))
    assert isinstance(store, DatabasePools) and store.env is None
    assert "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in store.where


def test_without_any_airflow_ccp_stack_pools_says_to_start_the_stack(tmp_path, monkeypatch):
    for name in local.AIRFLOW_LOCATION_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ServiceUnavailableError, match=r"has never started \(`make up` starts it"):
        local.pool_store(_settings(tmp_path))
