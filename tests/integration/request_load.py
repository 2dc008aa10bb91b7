"""Test helper (not a test): client threads sending requests to Triton's router throughout a change or a fault."""

from __future__ import annotations

import threading
import time

import pandas as pd

from champion_challenger.config.ludwig_schema import ModelSchema


class RequestLoad:
    """Threads sending ``rows`` to ``model`` (no version named) until stopped, each over its own HTTP
    connection. Records every answer's time per thread and every failure with its time, so failures
    inside a known downtime (:meth:`down` / :meth:`up`) can be told from the others.

    Args:
        triton_url: Triton's HTTP endpoint.
        model: the router.
        rows: the request rows.
        schema: the model's columns.
        threads: concurrent clients.
        entity_keys: sent as ``entity_key`` when given (sticky routing, mirrored captures).
        timeout_s: per-request timeout.
    """

    def __init__(
        self,
        triton_url: str,
        model: str,
        rows: pd.DataFrame,
        schema: ModelSchema,
        threads: int = 3,
        entity_keys: pd.Series | None = None,
        timeout_s: float = 30,
    ) -> None:
        self.triton_url, self.model, self.rows, self.schema = triton_url, model, rows, schema
        self.entity_keys, self.timeout_s = entity_keys, timeout_s
        self.ok, self.failures, self._stop = 0, [], threading.Event()
        self.answered: list[list[float]] = [[] for _ in range(threads)]  # monotonic times, per thread
        self.downtime: list[list[float]] = []
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(threads)]

    @property
    def failed(self) -> list[str]:
        return [what for _, what in self.failures]

    def _loop(self, index: int) -> None:
        from champion_challenger.serving.triton_client import TritonModelClient

        client = TritonModelClient(self.triton_url, timeout_s=self.timeout_s)
        deadline = time.monotonic() + 900  # bounded even if never stopped
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                client.score(self.model, self.rows, self.schema, self.entity_keys)
                self.ok += 1
                self.answered[index].append(time.monotonic())
            except Exception as exc:  # noqa: BLE001 - every failure is recorded
                self.failures.append((time.monotonic(), repr(exc)[:300]))
            time.sleep(0.02)

    def down(self) -> None:
        """The server goes down now (a kill or a stop)."""
        self.downtime.append([time.monotonic(), float("inf")])

    def up(self) -> None:
        """The server answers again; requests in flight get 5 s of grace."""
        self.downtime[-1][1] = time.monotonic() + 5

    def outside_downtime(self) -> list[str]:
        """Failures at no time between a :meth:`down` and its :meth:`up`."""
        return [what for at, what in self.failures if not any(start <= at <= end for start, end in self.downtime)]

    def __enter__(self) -> RequestLoad:
        for t in self._threads:
            t.start()
        time.sleep(1)
        return self

    def __exit__(self, *exc) -> None:
        time.sleep(1)
        self._stop.set()
        for t in self._threads:
            t.join(timeout=60)
