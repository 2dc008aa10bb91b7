"""One champion change at a time: a lease on the registered model.

Every process that changes what the champion is or what Triton serves (a cycle's promote, hold or
challenger deployment, the watch's rollback, ``ccp promote/rollback/recover/serve``) holds the lease
of the model first. The lease is a registered model of its own, ``<model>.champion-lease``: MLflow
creates a registered model name at most once (a unique key in its database), which makes taking the
lease atomic across machines without any store besides the one every changer already reaches.
Its tags name the holder (owner, action, token) and when it expires; a background thread renews it
while the change runs. A holder that dies stops renewing, so its lease expires after
``changes.lease_seconds`` and the next changer takes it over; the journal entry the dead holder left
is recovered under the new lease (:func:`champion_challenger.cycle.transitions.recover`), never while
its owner is still alive.

Leases are re-entrant per thread: a promotion that recovers first, or the watch that rolls back,
takes the lease once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from champion_challenger.errors import ChampionLeaseError

log = logging.getLogger(__name__)

LEASE_SUFFIX = ".champion-lease"
#: Tags of the lease model; ``ccp.lease_of`` lets registry listings leave lease models out.
LEASE_OF, OWNER, ACTION, TOKEN, ACQUIRED_AT, EXPIRES_AT = (
    "ccp.lease_of",
    "ccp.lease.owner",
    "ccp.lease.action",
    "ccp.lease.token",
    "ccp.lease.acquired_at",
    "ccp.lease.expires_at",
)

_held = threading.local()


def lease_name(model_name: str) -> str:
    """The registered model that is the lease of ``model_name``."""
    return f"{model_name}{LEASE_SUFFIX}"


def default_owner(actor: str) -> str:
    """``actor`` with where it runs: ``alice@host (pid 123)``."""
    return f"{actor} on {socket.gethostname()} (pid {os.getpid()})"


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a model's lease, read from the lease model's tags."""

    owner: str
    action: str
    token: str
    acquired_at: str
    expires_at: str

    def expired(self, now: datetime | None = None) -> bool:
        """True once the holder stopped renewing for longer than the lease lasts."""
        return datetime.fromisoformat(self.expires_at) <= (now or datetime.now(UTC))

    def describe(self) -> str:
        return f"{self.owner} ({self.action}, since {self.acquired_at}, lease expires {self.expires_at} unless renewed)"


class ChampionLease:
    """A held lease; renewed by a daemon thread until :meth:`release`.

    Args:
        client: the MLflow client.
        model_name: the registered model whose champion changes.
        holder: this holder's tags.
        seconds: how long the lease lasts without renewal.
    """

    def __init__(self, client: MlflowClient, model_name: str, holder: LeaseHolder, seconds: float) -> None:
        self.client, self.model_name, self.holder, self.seconds = client, model_name, holder, seconds
        self.lost: str | None = None
        self._stop = threading.Event()
        self._renewer = threading.Thread(target=self._renew_loop, name=f"lease-{model_name}", daemon=True)

    def start(self) -> ChampionLease:
        self._renewer.start()
        return self

    def check(self) -> None:
        """Raise when the lease was lost (a renewal found another holder): stop changing the champion.

        Raises:
            ChampionLeaseError: the lease is no longer ours.
        """
        if self.lost:
            raise ChampionLeaseError(f"lost the champion lease of {self.model_name}: {self.lost}; stopping this change")

    def renew(self) -> None:
        """Push the expiry forward, unless another holder took the lease meanwhile (then :attr:`lost`)."""
        current = read_holder(self.client, self.model_name)
        if current is None or current.token != self.holder.token:
            self.lost = "taken over by " + current.describe() if current else "the lease was deleted"
            log.error("champion lease of %s: %s", self.model_name, self.lost)
            return
        expires = _iso(datetime.now(UTC) + timedelta(seconds=self.seconds))
        self.client.set_registered_model_tag(lease_name(self.model_name), EXPIRES_AT, expires)

    def release(self) -> None:
        """Stop renewing and give the lease back (only if it is still ours). Best effort: when MLflow
        cannot be reached the lease simply expires after its duration."""
        self._stop.set()
        if self._renewer.is_alive():
            self._renewer.join(timeout=10)
        try:
            current = read_holder(self.client, self.model_name)
            if current is not None and current.token == self.holder.token:
                _delete(self.client, self.model_name)
        except Exception:  # noqa: BLE001 - never hide the change's own outcome; expiry frees the lease
            log.warning("could not give back the champion lease of %s; it expires by itself", self.model_name, exc_info=True)

    def _renew_loop(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self.renew()
            except Exception:  # noqa: BLE001 - a failed renewal is retried; expiry is the safety net
                log.warning("could not renew the champion lease of %s", self.model_name, exc_info=True)
            if self.lost:
                return


def read_holder(client: MlflowClient, model_name: str) -> LeaseHolder | None:
    """The holder of ``model_name``'s lease, or None when nobody holds it."""
    try:
        found = client.get_registered_model(lease_name(model_name)).tags
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST":
            return None
        raise
    if TOKEN not in found:  # created a moment ago by a concurrent taker, tags not visible yet
        return LeaseHolder("unknown", "unknown", "", "", _iso(datetime.now(UTC) + timedelta(seconds=5)))
    return LeaseHolder(
        found.get(OWNER, "?"), found.get(ACTION, "?"), found[TOKEN], found.get(ACQUIRED_AT, "?"), found[EXPIRES_AT]
    )


@contextmanager
def champion_lease(
    client: MlflowClient, model_name: str, owner: str, action: str, seconds: float, wait_seconds: float, poll_seconds: float = 1.0
) -> Iterator[ChampionLease]:
    """Hold the lease of ``model_name`` for the body; re-entrant within a thread.

    Args:
        owner: who changes the champion (shown to anyone who waits).
        action: what the change is (``promote``, ``rollback``, ``watch`` ...).
        seconds: lease duration without renewal (renewed every third of it).
        wait_seconds: how long to wait for another holder before failing.

    Raises:
        ChampionLeaseError: another holder kept the lease for ``wait_seconds``; the message names it.
    """
    held: dict[str, ChampionLease] = _held.__dict__.setdefault("leases", {})
    if model_name in held:
        yield held[model_name]
        return
    lease = _acquire(client, model_name, owner, action, seconds, wait_seconds, poll_seconds).start()
    held[model_name] = lease
    try:
        yield lease
    finally:
        del held[model_name]
        lease.release()


def _acquire(
    client: MlflowClient, model_name: str, owner: str, action: str, seconds: float, wait_seconds: float, poll_seconds: float
) -> ChampionLease:
    deadline = time.monotonic() + wait_seconds
    waited_for: LeaseHolder | None = None
    while True:
        now = datetime.now(UTC)
        holder = LeaseHolder(owner, action, uuid.uuid4().hex, _iso(now), _iso(now + timedelta(seconds=seconds)))
        if _create(client, model_name, holder):
            if waited_for:
                log.info("took the champion lease of %s after %s", model_name, waited_for.describe())
            return ChampionLease(client, model_name, holder, seconds)
        current = read_holder(client, model_name)
        if current is None:
            continue
        if current.token and current.expired():
            log.warning("champion lease of %s expired (%s stopped renewing): taking it over", model_name, current.describe())
            _break(client, model_name, current)
            continue
        if time.monotonic() >= deadline:
            raise ChampionLeaseError(
                f"another champion change of {model_name} is running: held by {current.describe()}; waited "
                f"{wait_seconds:g}s. Wait for it to finish and retry; if that process is gone, its lease expires by itself"
            )
        if waited_for is None or waited_for.token != current.token:
            log.info("waiting for the champion lease of %s, held by %s", model_name, current.describe())
            waited_for = current
        time.sleep(poll_seconds)


def _create(client: MlflowClient, model_name: str, holder: LeaseHolder) -> bool:
    """Create the lease model with ``holder``'s tags; False when it exists already."""
    tags = {
        LEASE_OF: model_name,
        OWNER: holder.owner,
        ACTION: holder.action,
        TOKEN: holder.token,
        ACQUIRED_AT: holder.acquired_at,
        EXPIRES_AT: holder.expires_at,
    }
    try:
        client.create_registered_model(
            lease_name(model_name), tags=tags, description=f"Lease: one champion change of {model_name} at a time (ccp)."
        )
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_ALREADY_EXISTS":
            return False
        raise
    return True


def _break(client: MlflowClient, model_name: str, expired: LeaseHolder) -> None:
    """Delete an expired lease, unless it changed hands since it was read."""
    current = read_holder(client, model_name)
    if current is not None and current.token == expired.token:
        _delete(client, model_name)


def _delete(client: MlflowClient, model_name: str) -> None:
    try:
        client.delete_registered_model(lease_name(model_name))
    except MlflowException as exc:
        if exc.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")
