"""Start, health-check and stop the local stack's server processes.

Used by ``ccp stack up/down`` (``make up`` / ``make down``) and by the test fixtures, so the
servers the tests talk to are started exactly as the demo starts them.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from champion_challenger.errors import ServiceStartError


@dataclass
class ServiceProcess:
    """A long-running server started in the background with a pid file and a log file.

    Attributes:
        name: human name used in messages (``mlflow``, ``triton``, ``airflow``).
        command: argv to run.
        health_url: URL that answers 200 once the server is ready; None for a process without an
            HTTP endpoint (a Celery worker), which counts as ready while it runs.
        ports: TCP ports the server binds on 127.0.0.1 (checked free before start).
        state_dir: folder for ``<name>.pid`` and ``<name>.log``.
        env: extra environment variables.
    """

    name: str
    command: list[str]
    health_url: str | None
    ports: list[int]
    state_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    cwd: Path | None = None

    @property
    def pid_file(self) -> Path:
        return self.state_dir / f"{self.name}.pid"

    @property
    def log_file(self) -> Path:
        return self.state_dir / f"{self.name}.log"

    def pid(self) -> int | None:
        """Pid of the running server, or None when it is not running."""
        try:
            pid = int(self.pid_file.read_text().strip())
            os.kill(pid, 0)
        except (FileNotFoundError, ValueError, ProcessLookupError, PermissionError):
            return None
        return pid

    def running(self) -> bool:
        """True while the process runs (a process that exited is reaped and counts as stopped)."""
        pid = self.pid()
        return pid is not None and _alive(pid)

    def healthy(self) -> bool:
        if self.health_url is None:
            return self.running()
        try:
            return requests.get(self.health_url, timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def start(self, timeout_s: float = 180) -> bool:
        """Start the server unless it already runs, then wait until healthy.

        Returns:
            True if this call started it, False if it was already running and healthy.

        Raises:
            ServiceStartError: a port is taken by another program, the process exited, or it was
                not healthy within ``timeout_s``.
        """
        if self.pid() is not None:
            self.wait_healthy(timeout_s)
            return False
        busy = [p for p in self.ports if port_in_use(p)]
        if busy:
            raise ServiceStartError(
                f"{self.name}: port(s) {busy} already in use by another program; stop it or choose "
                f"other ports (see CCP_*_PORT in README)"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            proc = subprocess.Popen(
                self.command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **self.env},
                cwd=self.cwd,
                start_new_session=True,
            )
        self.pid_file.write_text(str(proc.pid))
        self.wait_healthy(timeout_s, proc)
        return True

    def wait_healthy(self, timeout_s: float, proc: subprocess.Popen | None = None) -> None:
        """Poll the health URL until it answers 200."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                raise ServiceStartError(
                    f"{self.name} exited with code {proc.returncode} while starting; "
                    f"last log lines from {self.log_file}:\n{tail(self.log_file)}"
                )
            if self.healthy():
                return
            time.sleep(1)
        raise ServiceStartError(
            f"{self.name} not healthy at {self.health_url} after {timeout_s:.0f}s; see {self.log_file}:\n{tail(self.log_file)}"
        )

    def stop(self, timeout_s: float = 30) -> bool:
        """Stop the server's whole process group: TERM, then KILL whatever is left after ``timeout_s``.

        The group is the one the server was started in (its id is the recorded pid), so children that
        outlive their leader (``airflow standalone``'s scheduler) are stopped too.

        Returns:
            True if any process of the group was running.
        """
        pgid = self._recorded_pid()
        if pgid is None or not _group_alive(pgid):
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.5)
        if _group_alive(pgid):
            _signal_group(pgid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def _recorded_pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _group_alive(pgid: int) -> bool:
    """True while any process of the group runs (the leader is reaped first if it is our exited child)."""
    _alive(pgid)
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # reap if it is our child
        return os.waitpid(pid, os.WNOHANG) == (0, 0)
    except ChildProcessError:
        return True


def run_checked(command: list[str], env: dict[str, str] | None = None, timeout_s: float = 600) -> None:
    """Run a one-off command (``airflow db migrate``, ``airflow pools import``) with ``env`` over this environment.

    Raises:
        RuntimeError: it exited non-zero; the message names it and holds the last 40 lines of its output.
    """
    done = subprocess.run(command, env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=timeout_s)
    if done.returncode != 0:
        output = "\n".join((done.stdout + done.stderr).splitlines()[-40:])
        raise RuntimeError(f"`{_shown(command)}` failed with code {done.returncode}:\n{output}")


def _shown(command: list[str]) -> str:
    """A command as a person would type it: ``airflow pools import`` for ``[python, -m, airflow, pools, import, f]``."""
    args = command[2:] if command[1:2] == ["-m"] else [Path(command[0]).name, *command[1:]]
    return " ".join(args[:3])


def venv_bin(name: str) -> str:
    """Path of a console script of this Python environment (``airflow``, ``mlflow``)."""
    return str(Path(sys.executable).parent / name)


def port_in_use(port: int, host: str = "127.0.0.1") -> bool:
    """True when something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def free_port() -> int:
    """An ephemeral port that is free right now (for tests)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 20) -> str:
    """Last lines of a log file, or a note that it is missing."""
    if not path.exists():
        return f"(no log at {path})"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
