"""Minimal client of Airflow 3's REST API (``/api/v2``): trigger and wait on DAG runs, answer approval tasks."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

TERMINAL = {"success", "failed"}


class AirflowApi:
    """Trigger and follow DAG runs on a running Airflow api-server.

    Args:
        base_url: e.g. ``http://127.0.0.1:8080``.
        username / password: a SimpleAuthManager (or FAB) user.
    """

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._session = requests.Session()
        response = self._session.post(
            f"{self.base_url}/auth/token", json={"username": username, "password": password}, timeout=30
        )
        response.raise_for_status()
        self._session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def _call(self, method: str, path: str, attempts: int = 5, **kwargs: Any) -> Any:
        """One API call; 5xx answers are retried (SQLite metadata DBs answer "locked" under load)."""
        for attempt in range(1, attempts + 1):
            response = self._session.request(method, f"{self.base_url}/api/v2{path}", timeout=30, **kwargs)
            if response.status_code < 500 or attempt == attempts:
                break
            time.sleep(2 * attempt)
        response.raise_for_status()
        return response.json()

    def wait_for_dag(self, dag_id: str, timeout_s: float = 180) -> None:
        """Wait until the dag-processor has parsed ``dag_id``; raise with its import errors if not."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                self._call("GET", f"/dags/{dag_id}")
                return
            except requests.HTTPError:
                time.sleep(2)
        errors = self._call("GET", "/importErrors").get("import_errors", [])
        raise TimeoutError(f"DAG {dag_id!r} not parsed after {timeout_s:.0f}s; import errors: {errors}")

    def ensure_pool(self, name: str, slots: int, description: str) -> None:
        """Create or resize a pool."""
        try:
            self._call("PATCH", f"/pools/{name}", json={"name": name, "slots": slots, "description": description})
        except requests.HTTPError as exc:
            if exc.response is None or exc.response.status_code != 404:
                raise
            self._call("POST", "/pools", json={"name": name, "slots": slots, "description": description})

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict | None = None) -> str:
        """Trigger a manual run now; returns its run id."""
        run = self._call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": None, "conf": conf or {}})
        return run["dag_run_id"]

    def run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """A DAG run (fields ``state``, ``start_date``, ``end_date``, ``conf``, ...)."""
        return self._call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def run_state(self, dag_id: str, run_id: str) -> str:
        return self.run(dag_id, run_id)["state"]

    def task_instances(self, dag_id: str, run_id: str, page_size: int = 100) -> list[dict[str, Any]]:
        """Every task instance of a run, mapped ones included (fields ``task_id``, ``map_index``,
        ``state``, ``queue``, ``pool``, ``hostname``, ...)."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances"
        items: list[dict[str, Any]] = []
        while True:
            page = self._call("GET", path, params={"limit": page_size, "offset": len(items)})
            items.extend(page["task_instances"])
            if not page["task_instances"] or len(items) >= page["total_entries"]:
                return items

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str]:
        """Task id → state (for a mapped task, the state of one of its instances)."""
        return {ti["task_id"]: ti["state"] for ti in self.task_instances(dag_id, run_id)}

    def active_runs(self, dag_id: str) -> list[str]:
        runs = self._call("GET", f"/dags/{dag_id}/dagRuns", params={"state": ["queued", "running"]})["dag_runs"]
        return [r["dag_run_id"] for r in runs]

    def wait_for_question(self, dag_id: str, run_id: str, task_id: str, timeout_s: float = 900) -> dict[str, Any]:
        """Wait until a human-in-the-loop task of the run asks its question; returns its details (subject,
        body, options, params). Raises TimeoutError if the run ends, or time runs out, first."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails"
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            response = self._session.get(f"{self.base_url}/api/v2{path}", timeout=30)
            if response.status_code == 200:
                return response.json()
            if self.run_state(dag_id, run_id) in TERMINAL:
                break
            time.sleep(3)
        raise TimeoutError(f"{task_id} of run {run_id} asked nothing: {self.task_states(dag_id, run_id)}")

    def respond(self, dag_id: str, run_id: str, task_id: str, option: str, params_input: dict | None = None) -> dict[str, Any]:
        """Answer a human-in-the-loop task (what its form in the Airflow UI does); returns the recorded response."""
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/-1/hitlDetails"
        return self._call("PATCH", path, json={"chosen_options": [option], "params_input": params_input or {}})

    def wait_run(self, dag_id: str, run_id: str, timeout_s: float = 900, on_poll: Callable[[], None] | None = None) -> str:
        """Wait for a run to finish, calling ``on_poll`` every few seconds meanwhile; returns ``success`` or ``failed``."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in TERMINAL:
                return state
            if on_poll is not None:
                on_poll()
            time.sleep(3)
        raise TimeoutError(f"run {run_id} of {dag_id} not finished after {timeout_s:.0f}s")
