from __future__ import annotations

import socket
import sys

import pytest

from champion_challenger.errors import ServiceStartError
from champion_challenger.stack.processes import ServiceProcess, free_port


def test_port_in_use_is_reported_clearly(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        service = ServiceProcess("mlflow", [sys.executable, "-c", "pass"], f"http://127.0.0.1:{port}/health", [port], tmp_path)
        with pytest.raises(ServiceStartError, match=rf"mlflow: port\(s\) \[{port}\] already in use"):
            service.start(timeout_s=5)


def test_process_that_exits_is_reported_with_its_log(tmp_path):
    port = free_port()
    command = [sys.executable, "-c", "import sys; print('boom: bad flag'); sys.exit(3)"]
    service = ServiceProcess("triton", command, f"http://127.0.0.1:{port}/", [port], tmp_path)
    with pytest.raises(ServiceStartError, match=r"triton exited with code 3(.|\n)*boom: bad flag"):
        service.start(timeout_s=20)
    assert service.pid() is None or not service.stop()


def test_server_lifecycle(tmp_path):
    port = free_port()
    command = [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(tmp_path)]
    service = ServiceProcess("web", command, f"http://127.0.0.1:{port}/", [port], tmp_path / "state")
    assert service.start(timeout_s=20) is True
    assert service.start(timeout_s=20) is False  # idempotent
    assert service.healthy()
    assert service.stop() is True
    assert service.pid() is None and not service.healthy()
