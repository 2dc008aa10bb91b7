"""Run a real Triton Inference Server from the ``nvidia-pytriton`` wheel, without Docker.

The wheel ships ``tritonserver`` and the Python backend; we assemble a backend folder with the
stub for this interpreter's Python version and start the server in explicit model-control mode.
See ``shared/STACK.md`` for the ``LD_LIBRARY_PATH`` and locale traps this module handles.
"""

from __future__ import annotations

import os
import shutil
import site
import sys
import sysconfig
from pathlib import Path

from champion_challenger.config.settings import REPO_ROOT
from champion_challenger.stack.processes import ServiceProcess


def pytriton_root() -> Path:
    """Folder of the server shipped inside the ``nvidia-pytriton`` wheel."""
    import pytriton

    return Path(pytriton.__file__).parent / "tritonserver"


def assemble_backend_dir(dest: Path) -> Path:
    """Create ``dest/python`` with the Python backend and this Python's stub. Idempotent."""
    root = pytriton_root()
    python_dir = dest / "python"
    python_dir.mkdir(parents=True, exist_ok=True)
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    sources = [
        root / "backends" / "python" / "libtriton_python.so",
        root / "backends" / "python" / "triton_python_backend_utils.py",
        root / "python_backend_stubs" / version / "triton_python_backend_stub",
    ]
    for src in sources:
        target = python_dir / src.name
        if not target.exists() or target.stat().st_size != src.stat().st_size:
            shutil.copy2(src, target)
    return dest


def triton_environment() -> dict[str, str]:
    """Environment for the server and its Python stubs.

    The copied stub needs libpython and the CUDA runtime the wheel bundles (its RPATH points
    into the wheel), and the stub's interpreter must see this environment's packages.
    """
    libdirs = [
        sysconfig.get_config_var("LIBDIR") or "",
        str(pytriton_root().parent.parent / "nvidia_pytriton.libs"),
        os.environ.get("LD_LIBRARY_PATH", ""),
    ]
    paths = [*site.getsitepackages(), str(REPO_ROOT / "plugins")]
    return {
        "LD_LIBRARY_PATH": ":".join(p for p in libdirs if p),
        # The stub's embedded interpreter ignores PYTHONPATH; model.py reads this one.
        "CCP_TRITON_PYTHONPATH": ":".join(paths),
        "LC_ALL": "C.UTF-8",
    }


def triton_service(
    state_dir: Path, repository: Path, http_port: int, grpc_port: int, metrics_port: int, address: str = "127.0.0.1"
) -> ServiceProcess:
    """Describe the Triton server process serving ``repository`` on the given ports of ``address``
    (loopback by default: the embedded stack is reachable from this machine only).

    Models found in the repository are loaded at start, so the champion serves again after a
    restart; new versions are loaded explicitly by the pipeline.
    """
    backend_dir = assemble_backend_dir(state_dir / "triton-backends")
    repository.mkdir(parents=True, exist_ok=True)
    command = [
        str(pytriton_root() / "bin" / "tritonserver"),
        f"--model-repository={repository}",
        f"--backend-directory={backend_dir}",
        "--model-control-mode=explicit",
        f"--http-address={address}",
        f"--http-port={http_port}",
        f"--grpc-address={address}",
        f"--grpc-port={grpc_port}",
        f"--metrics-address={address}",
        f"--metrics-port={metrics_port}",
        "--allow-metrics=true",
        "--metrics-config=summary_latencies=true",
        "--log-verbose=0",
        "--exit-on-error=false",
        "--exit-timeout-secs=10",
        "--strict-readiness=false",
        # Every config.pbtxt is written in full by the pipeline. Auto-complete would start a throw-away Python stub
        # per model load just to ask model.py for a config (1.3 s of each 1.6 s load, measured).
        "--disable-auto-complete-config",
    ]
    if any((p / "config.pbtxt").exists() for p in repository.iterdir()):
        command.append("--load-model=*")
    return ServiceProcess(
        name="triton",
        command=command,
        health_url=f"http://127.0.0.1:{http_port}/v2/health/ready",
        ports=[http_port, grpc_port, metrics_port],
        state_dir=state_dir,
        env=triton_environment(),
    )
