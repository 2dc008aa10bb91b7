"""Pools in a REAL Airflow metadata database (the tests' migrated SQLite), through ``airflow pools export/import``
of this Python environment: what the compose file's ``airflow-init``, the Celery topology and ``ccp stack pools``
on a stopped stack do. The same ``sync_pools`` creates, leaves alone and resizes them."""

from __future__ import annotations

import os

import pytest

from champion_challenger.stack.pools import DatabasePools, Pool, sync_pools

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_pools_are_created_then_kept_then_resized_keeping_airflows_include_deferred(airflow_db, monkeypatch):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")  # found through this Python, not PATH
    store = DatabasePools({"AIRFLOW_HOME": os.environ["AIRFLOW_HOME"]}, "test database")
    wanted = [Pool("ccp_test_gpu", 1, "test slots"), Pool("ccp_test_changes", 1, "one at a time")]

    assert [c.action for c in sync_pools(store, wanted)] == ["created", "created"]
    store.update([Pool("ccp_test_gpu", 1, "test slots", include_deferred=True)])  # as an operator might set it
    assert [c.action for c in sync_pools(store, wanted)] == ["unchanged", "unchanged"]

    changes = sync_pools(store, [Pool("ccp_test_gpu", 3, "test slots"), wanted[1]])
    assert [(c.action, c.slots_before) for c in changes] == [("updated", 1), ("unchanged", 1)]
    assert store.pools()["ccp_test_gpu"] == Pool("ccp_test_gpu", 3, "test slots", include_deferred=True)
