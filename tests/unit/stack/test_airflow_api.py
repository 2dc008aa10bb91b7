"""How failures of Airflow's REST API reach a user: one sentence (what failed, Airflow's answer, what to do),
exit code 3, no traceback; reads that time out are retried with a notice first.

The server here is a few lines of ``http.server`` answering the way Airflow 3.3 answered in the field (its real
422 body for a PATCH of a pool without ``include_deferred``; a slow read). It tests our client's error handling
only; every behaviour of Airflow itself is tested against a real Airflow (tests/e2e/test_stack_lifecycle.py).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from champion_challenger.cli import EXIT_SERVICE_ERROR, main
from champion_challenger.config.settings import load_settings
from champion_challenger.stack import local
from champion_challenger.stack.airflow_api import AirflowApi, AirflowApiError
from champion_challenger.stack.processes import free_port
from tests.conftest import REPO

#: Airflow 3.3's answer to ``PATCH /api/v2/pools/gpu`` with ``{"name", "slots", "description"}``.
MISSING_FIELD = {"detail": [{"type": "missing", "loc": ["include_deferred"], "msg": "Field required", "input": None}]}


class _Handler(BaseHTTPRequestHandler):
    slow_s = 0.0
    seen: list[str] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def _answer(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append(f"POST {self.path}")
        if self.path == "/auth/token":
            return self._answer(201, {"access_token": "t"})
        time.sleep(self.slow_s)
        self._answer(201, {"dag_run_id": "r"})

    def do_PATCH(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.seen.append(f"PATCH {self.path}")
        self._answer(422, MISSING_FIELD)

    def do_GET(self) -> None:
        self.seen.append(f"GET {self.path}")
        if self.path.startswith("/api/v2/dags/"):
            return self._answer(403, {"detail": "Forbidden"})
        time.sleep(self.slow_s)
        self._answer(200, {"pools": [], "total_entries": 0})


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # a client that gave up (timed out) is expected
        pass


@pytest.fixture
def airflow_like() -> Iterator[type[_Handler]]:
    handler = type("Handler", (_Handler,), {"slow_s": 0.0, "seen": []})
    server = _QuietServer(("127.0.0.1", free_port()), handler)
    handler.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler
    server.shutdown()
    server.server_close()


def test_an_error_answer_is_one_sentence_with_airflows_own_words(airflow_like):
    api = AirflowApi(airflow_like.url, "admin", "pw")
    with pytest.raises(AirflowApiError) as caught:
        api._call("PATCH", "/pools/gpu", json={"name": "gpu", "slots": 1, "description": "d"})
    message = str(caught.value)
    assert caught.value.status == 422 and "\n" not in message
    assert message.startswith("Airflow's API answered PATCH /api/v2/pools/gpu with 422 Unprocessable Entity: ")
    assert "include_deferred: Field required" in message and "(`make setup`)" in message


def test_a_read_that_times_out_is_retried_with_a_notice_then_fails_with_what_to_do(airflow_like):
    airflow_like.slow_s = 1.0
    notices: list[str] = []
    api = AirflowApi(airflow_like.url, "admin", "pw", timeout_s=0.2, read_attempts=3, notify=notices.append)
    with pytest.raises(AirflowApiError, match=r"did not answer GET /api/v2/pools\?limit=100&offset=0 within 0.2 s, 3 times"):
        api._call("GET", "/pools?limit=100&offset=0")
    assert notices == [
        "Airflow's API did not answer GET /api/v2/pools?limit=100&offset=0 within 0.2 s; retrying (2 of 3)",
        "Airflow's API did not answer GET /api/v2/pools?limit=100&offset=0 within 0.2 s; retrying (3 of 3)",
    ]


def test_a_write_that_times_out_is_not_repeated(airflow_like):
    airflow_like.slow_s = 1.0
    api = AirflowApi(airflow_like.url, "admin", "pw", timeout_s=0.2, notify=pytest.fail)
    with pytest.raises(AirflowApiError, match="may or may not have done it: look in the Airflow UI"):
        api.trigger("some_dag")
    assert airflow_like.seen.count("POST /api/v2/dags/some_dag/dagRuns") == 1


def test_an_airflow_that_does_not_run_is_named_with_what_to_do():
    with pytest.raises(AirflowApiError, match=r"cannot reach Airflow's API at http://127.0.0.1:\d+ .*`make up` starts it"):
        AirflowApi(f"http://127.0.0.1:{free_port()}", "admin", "pw")


def test_ccp_trigger_turns_an_api_error_into_one_line_and_exit_code_3(airflow_like, tmp_path, monkeypatch, capsys):
    port = airflow_like.url.rsplit(":", 1)[1]
    monkeypatch.setenv("CCP_HOME", str(tmp_path))
    monkeypatch.setenv("CCP_AIRFLOW_PORT", port)
    monkeypatch.setenv("CCP_PIPELINES", str(REPO / "configs" / "pipelines" / "churn_classifier.yaml"))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"http://127.0.0.1:{free_port()}")
    local.ensure_airflow_password(load_settings())
    capsys.readouterr()

    assert main(["trigger"]) == EXIT_SERVICE_ERROR
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 1, err
    assert err.startswith(
        "error: Airflow's API answered GET /api/v2/dags/champion_challenger__churn_classifier with 403 Forbidden"
    )
