"""The champion lease (one champion change at a time per model) against a REAL MLflow server."""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from mlflow import MlflowClient

from champion_challenger.errors import ChampionLeaseError
from champion_challenger.registry import lease

pytestmark = pytest.mark.integration


@pytest.fixture
def client(mlflow_server) -> MlflowClient:
    return MlflowClient(mlflow_server, mlflow_server)


@pytest.fixture
def model() -> str:
    return f"lease_{uuid.uuid4().hex[:8]}"


def hold(client, model, owner="alice", action="promote", seconds=30.0, wait=0.0):
    return lease.champion_lease(client, model, owner, action, seconds, wait, poll_seconds=0.1)


def elsewhere(fn):
    """Run ``fn`` in another thread (the lease is re-entrant within one) and return its result or exception."""
    out: list = []

    def run() -> None:
        try:
            out.append(fn())
        except Exception as exc:  # noqa: BLE001 - handed back to the test
            out.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(120)
    return out[0]


def try_hold(client, model, **kwargs):
    def take():
        with hold(client, model, **kwargs) as held:
            return held.holder

    return elsewhere(take)


def test_a_held_lease_is_a_tagged_registered_model_given_back_on_exit(client, model):
    with hold(client, model) as held:
        holder = lease.read_holder(client, model)
        assert holder == held.holder and holder.owner == "alice" and holder.action == "promote"
        assert client.get_registered_model(lease.lease_name(model)).tags[lease.LEASE_OF] == model
    assert lease.read_holder(client, model) is None


def test_a_second_changer_fails_naming_the_holder(client, model):
    with hold(client, model, owner="alice on build-7 (pid 42)", action="manual_promote"):
        refused = try_hold(client, model, owner="bob")
    assert isinstance(refused, ChampionLeaseError)
    assert "held by alice on build-7 (pid 42) (manual_promote, since " in str(refused)
    assert try_hold(client, model, owner="bob").owner == "bob"  # free again


def test_the_lease_is_reentrant_within_a_thread(client, model):
    with hold(client, model, action="promote") as outer, hold(client, model, action="recover") as inner:
        assert inner is outer
        assert lease.read_holder(client, model).action == "promote"
    assert lease.read_holder(client, model) is None


def test_a_waiting_changer_takes_the_lease_once_the_holder_gives_it_back(client, model):
    taken = threading.Event()

    def first() -> None:
        with hold(client, model, owner="alice"):
            taken.set()
            time.sleep(1.5)

    thread = threading.Thread(target=first)
    thread.start()
    assert taken.wait(30)
    began = time.monotonic()
    with hold(client, model, owner="bob", wait=30) as held:
        waited = time.monotonic() - began
        assert held.holder.owner == "bob"
    thread.join()
    assert 0.5 < waited < 30


def test_a_holder_that_stopped_renewing_loses_the_lease_after_it_expires(client, model):
    """A killed process stops renewing: after ``seconds`` the next changer takes over, and the old
    holder (were it only stalled) finds out at its next step and stops."""
    stalled = lease._acquire(client, model, "killed", "promote", 2.0, 0, 0.1)  # never renewed: as if killed
    assert "held by killed" in str(try_hold(client, model, owner="bob"))
    with hold(client, model, owner="bob", seconds=30, wait=10) as held:
        assert held.holder.owner == "bob"
        stalled.renew()
        assert stalled.lost and "taken over by bob" in stalled.lost
        with pytest.raises(ChampionLeaseError, match="lost the champion lease"):
            stalled.check()
        stalled.release()  # no longer ours: leaves bob's lease alone
        assert lease.read_holder(client, model).owner == "bob"


def test_a_live_holder_keeps_the_lease_past_its_duration_by_renewing(client, model):
    with hold(client, model, owner="alice", seconds=2.0) as held:
        time.sleep(3.5)
        assert not held.lost
        assert "held by alice" in str(try_hold(client, model, owner="bob"))


def test_of_eight_changers_racing_for_a_free_lease_exactly_one_wins(client, model):
    start, results = threading.Barrier(8), []

    def race(i: int) -> None:
        start.wait()
        try:
            with hold(client, model, owner=f"racer-{i}"):
                time.sleep(1.0)
                results.append(("won", i))
        except ChampionLeaseError as exc:
            results.append(("lost", str(exc)))

    threads = [threading.Thread(target=race, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [r[0] for r in results].count("won") == 1, results
    assert all("held by racer-" in r[1] for r in results if r[0] == "lost")
