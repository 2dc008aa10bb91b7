from __future__ import annotations

import os
import socket
import sys
import time
from pathlib import Path

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


def _group_member(tmp_path, leader_script: str) -> tuple[ServiceProcess, Path]:
    """A service whose leader starts a TERM-ignoring ``sleep`` in its group; returns it and the sleep's pid file."""
    member_pid = tmp_path / "member.pid"
    member = f"(trap '' TERM; echo $BASHPID > {member_pid}; exec sleep 300) &"
    service = ServiceProcess("group", ["bash", "-c", member + leader_script], None, [], tmp_path / "state")
    service.start(timeout_s=10)
    _wait_for(member_pid.exists)
    return service, member_pid


def _wait_for(condition, timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in Path(f"/proc/{pid}/stat").read_text().split()[2]


def test_stop_kills_a_child_that_ignores_term_after_the_grace_period(tmp_path):
    service, member_pid = _group_member(tmp_path, " trap 'exit 0' TERM; while :; do sleep 0.1; done")
    pid = int(member_pid.read_text())
    assert service.stop(timeout_s=1) is True
    _wait_for(lambda: not _running(pid))


def test_stop_kills_a_child_that_outlived_its_leader(tmp_path):
    """``airflow standalone`` exiting while its scheduler keeps running must not leave the scheduler behind."""
    service, member_pid = _group_member(tmp_path, " sleep 0.5; exit 0")
    pid = int(member_pid.read_text())
    _wait_for(lambda: not service.running())
    assert _running(pid)
    assert service.stop(timeout_s=1) is True
    _wait_for(lambda: not _running(pid))
    assert service.stop(timeout_s=1) is False
