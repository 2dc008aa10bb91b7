"""Minimal client of Airflow 3's REST API (``/api/v2``): trigger and wait on DAG runs, answer approval tasks, pools.

Every failure reaches the caller as one :class:`AirflowApiError` (a :class:`ServiceUnavailableError`: ``ccp`` exits 3)
whose message is one sentence: what failed, Airflow's answer, what to do. Reads that time out are retried, saying
so on stderr, before giving up; writes are not (a trigger that timed out may have started a run).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import Any

import requests

from champion_challenger.errors import ServiceUnavailableError

TERMINAL = {"success", "failed"}
#: What to do about an answer of this status (the message also names the call and Airflow's own words).
_STATUS_HINTS = {
    401: "the sign-in was refused: the stack's admin password no longer matches the running Airflow; restart it "
    "(`make down && make up`)",
    403: "the user ccp signs in as may not do this",
    404: "it does not exist (yet)",
    409: "it already exists",
}


class AirflowApiError(ServiceUnavailableError):
    """Airflow's API could not be reached, timed out, or refused a call; the message says which and what to do.

    Attributes:
        status: the HTTP status Airflow answered, None when it did not answer.
    """

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class AirflowApi:
    """Trigger and follow DAG runs on a running Airflow api-server.

    Args:
        base_url: e.g. ``http://127.0.0.1:8080``.
        username / password: a SimpleAuthManager (or FAB) user.
        timeout_s: seconds to wait for each answer.
        read_attempts: tries of a read (GET) that times out, the first included.
        help_text: what to look at when Airflow fails, ending each 5xx/timeout message (e.g. its log file).
        notify: where "retrying" notices go (stderr).
    """

    def __init__(
        self,
        base_url: str,
        username: str,
        password: str,
        timeout_s: float = 30,
        read_attempts: int = 3,
        help_text: str = "see Airflow's log",
        notify: Callable[[str], None] = _say,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.read_attempts = read_attempts
        self.help_text = help_text
        self._notify = notify
        self._session = requests.Session()
        credentials = {"username": username, "password": password}
        response = self._send("POST", "/auth/token", retry_timeouts=True, json=credentials)
        self._raise_for_status("POST", "/auth/token", response)
        self._session.headers["Authorization"] = f"Bearer {response.json()['access_token']}"

    def _send(self, method: str, path: str, retry_timeouts: bool = False, **kwargs: Any) -> requests.Response:
        """One request to ``base_url + path``; a read (or a call marked ``retry_timeouts``: safe to repeat) that
        times out is retried, with a notice; anything else that gets no answer raises :class:`AirflowApiError`."""
        retried = method == "GET" or retry_timeouts
        attempts = self.read_attempts if retried else 1
        for attempt in range(1, attempts + 1):
            try:
                return self._session.request(method, f"{self.base_url}{path}", timeout=self.timeout_s, **kwargs)
            except requests.Timeout as exc:
                if attempt < attempts:
                    self._notify(
                        f"Airflow's API did not answer {method} {path} within {self.timeout_s:g} s; "
                        f"retrying ({attempt + 1} of {attempts})"
                    )
                    continue
                if not retried:
                    raise AirflowApiError(
                        f"Airflow's API at {self.base_url} did not answer {method} {path} within {self.timeout_s:g} s, so it "
                        f"may or may not have done it: look in the Airflow UI before trying again ({self.help_text})"
                    ) from exc
                raise AirflowApiError(
                    f"Airflow's API at {self.base_url} did not answer {method} {path} within {self.timeout_s:g} s, "
                    f"{attempts} times: it is overloaded or stuck; {self.help_text}, then try again"
                ) from exc
            except requests.ConnectionError as exc:
                raise AirflowApiError(
                    f"cannot reach Airflow's API at {self.base_url} ({method} {path}): is the stack running? "
                    "(`make up` starts it; `ccp status` shows what runs)"
                ) from exc
            except requests.RequestException as exc:
                raise AirflowApiError(f"{method} {path} to Airflow's API at {self.base_url} failed: {exc}") from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _raise_for_status(self, method: str, path: str, response: requests.Response) -> None:
        if response.status_code < 400:
            return
        hint = _STATUS_HINTS.get(response.status_code, self.help_text)
        if response.status_code in (400, 422):
            hint = "Airflow refused what ccp sent: run ccp with the Airflow it was installed with (`make setup`)"
        raise AirflowApiError(
            f"Airflow's API answered {method} {path} with {response.status_code} {response.reason}: {_detail(response)}; {hint}",
            response.status_code,
        )

    def _call(self, method: str, path: str, attempts: int = 5, **kwargs: Any) -> Any:
        """One API call under ``/api/v2``; 5xx answers are retried (SQLite metadata DBs answer "locked" under load).

        Raises:
            AirflowApiError: no answer, or an error status after the retries.
        """
        for attempt in range(1, attempts + 1):
            response = self._send(method, f"/api/v2{path}", **kwargs)
            if response.status_code < 500 or attempt == attempts:
                break
            time.sleep(2 * attempt)
        self._raise_for_status(method, f"/api/v2{path}", response)
        return response.json() if response.content else None

    def wait_for_dag(self, dag_id: str, timeout_s: float = 180) -> None:
        """Wait until the dag-processor has parsed ``dag_id``; raise with its import errors if not."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                self._call("GET", f"/dags/{dag_id}")
                return
            except AirflowApiError as exc:
                if exc.status != 404:
                    raise
                time.sleep(2)
        errors = self._call("GET", "/importErrors").get("import_errors", [])
        raise TimeoutError(f"DAG {dag_id!r} not parsed after {timeout_s:.0f}s; import errors: {errors}")

    def pools(self, page_size: int = 100) -> list[dict[str, Any]]:
        """Every pool (fields ``name``, ``slots``, ``description``, ``include_deferred``, ``occupied_slots``, ...)."""
        items: list[dict[str, Any]] = []
        while True:
            page = self._call("GET", "/pools", params={"limit": page_size, "offset": len(items)})
            items.extend(page["pools"])
            if not page["pools"] or len(items) >= page["total_entries"]:
                return items

    def create_pool(self, name: str, slots: int, description: str, include_deferred: bool = False) -> None:
        self._call(
            "POST",
            "/pools",
            json={"name": name, "slots": slots, "description": description, "include_deferred": include_deferred},
        )

    def update_pool(self, name: str, slots: int, description: str, include_deferred: bool = False) -> None:
        """Resize an existing pool and set its description. Airflow 3.3 validates a PATCH body as a whole pool
        (``include_deferred`` too: pass the pool's current value); ``update_mask`` limits what changes."""
        self._call(
            "PATCH",
            f"/pools/{name}",
            params={"update_mask": ["slots", "description"]},
            json={"name": name, "slots": slots, "description": description, "include_deferred": include_deferred},
        )

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
            response = self._send("GET", f"/api/v2{path}")
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


def _detail(response: requests.Response) -> str:
    """Airflow's own words from an error answer: FastAPI's ``detail`` (a text, or validation errors by field)."""
    try:
        body = response.json()
    except ValueError:
        return " ".join(response.text.split())[:300] or "(no detail)"
    detail = body.get("detail", body) if isinstance(body, dict) else body
    if isinstance(detail, list):
        return "; ".join(_field_error(e) for e in detail)
    return str(detail)


def _field_error(error: Any) -> str:
    if not isinstance(error, dict):
        return str(error)
    loc = [str(part) for part in error.get("loc", [])]
    if loc and loc[0] in ("body", "query", "path"):
        loc = loc[1:]
    return f"{'.'.join(loc) or 'request'}: {error.get('msg', error)}"
