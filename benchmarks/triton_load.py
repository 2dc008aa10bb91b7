"""Triton load benchmark: how long a fresh exported version takes from `load` to ready on the local Triton.

Trains one small Ludwig model (one epoch), exports it to ONNX with its parity check, starts a Triton of its own
(the embedded stack's command line, free ports, a temporary folder) and times, over gRPC as the pipeline does:
three fresh models of one exported version each, then a second version added to the first model (a config change:
Triton loads both versions again and swaps them in). Prints each figure and Triton's own log lines of the loads.

    .venv/bin/python benchmarks/triton_load.py
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from champion_challenger.config.settings import Settings
from champion_challenger.data.generate import BatchSpec, generate_batch
from champion_challenger.serving import triton_repository
from champion_challenger.serving.triton_client import TritonModelClient
from champion_challenger.stack.local import triton

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.conftest import settings_on_free_ports  # noqa: E402
from tests.integration.shadow_traffic import export_for_serving, train_task_model, with_task_targets  # noqa: E402


def main() -> int:
    home = Path(tempfile.mkdtemp(prefix="ccp-bench-load-"))
    try:
        fit = with_task_targets(pd.concat([generate_batch(BatchSpec(i, 400, 6, False)) for i in range(2)], ignore_index=True), 2)
        model_dir = train_task_model({"name": "churned", "type": "binary"}, fit, home / "model")
        exported = export_for_serving(model_dir, fit)
        settings = settings_on_free_ports(home / "home", home)
        service = triton(settings)
        service.start(timeout_s=180)
        try:
            measure(settings, model_dir, exported)
        finally:
            service.stop()
        log = (settings.home / "services" / "triton.log").read_text().splitlines()
        print("\n".join(line for line in log if "loading:" in line or "successfully" in line))
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return 0


def measure(settings: Settings, model_dir: Path, exported: Path) -> None:
    repository = settings.triton_repository
    client = TritonModelClient(settings.triton_url, control_url=f"127.0.0.1:{settings.triton_grpc_port}")
    for name in ("load_a_versions", "load_b_versions", "load_c_versions"):
        triton_repository.export_version(repository, name, 1, model_dir, exported)
        triton_repository.write_model_config(repository, name, [1])
        print(f"{name}: fresh exported version, load until ready {timed_load(client, name, [1]):.3f} s")
    triton_repository.export_version(repository, "load_a_versions", 2, model_dir, exported)
    triton_repository.write_model_config(repository, "load_a_versions", [1, 2])
    print(f"load_a_versions: v2 added beside v1, load until both ready {timed_load(client, 'load_a_versions', [1, 2]):.3f} s")


def timed_load(client: TritonModelClient, model: str, versions: list[int]) -> float:
    start = time.perf_counter()
    client.load(model)
    client.wait_ready(model, versions)
    return time.perf_counter() - start


if __name__ == "__main__":
    sys.exit(main())
