"""The ingest and drift tasks never load torch or Ludwig: an Airflow task process pays for what it imports
(torch and Ludwig take seconds), and these tasks neither train nor load a Ludwig model.

Checked in a fresh interpreter, twice: importing the step modules the DAG's ingest and drift tasks call,
every module they import inside their functions (their lazy imports) and the hook the tasks build their
context with; and running the steps (claim, validate, the Evidently drift report) as a task does once
``check_and_recover`` has checked the Ludwig configs.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PLUGINS = Path(__file__).resolve().parents[2] / "plugins"
HEAVY = ("torch", "ludwig")


def _lazy_imports(module: str) -> set[str]:
    """Modules ``module`` imports anywhere in its source (top level and inside functions)."""
    source = (PLUGINS / (module.replace(".", "/") + ".py")).read_text()
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


@pytest.mark.parametrize("step_module", ["champion_challenger.cycle.ingest", "champion_challenger.cycle.drift"])
def test_the_task_loads_neither_torch_nor_ludwig(step_module):
    modules = sorted({step_module, "champion_challenger.airflow.hooks", *_lazy_imports(step_module)})
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded == [], f"importing {step_module} and its lazy imports loads {loaded[:10]}"


RUN_INGEST_AND_DRIFT = """
import json, sys
from pathlib import Path
import pandas as pd
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.ingest import accept_batches, claim_batches
from champion_challenger.data.generate import write_batches
from champion_challenger.drift.evidently_report import drift_report
from champion_challenger.config.settings import load_settings

settings = load_settings()
ctx = CycleContext(PipelineConfig.from_yaml(settings.pipeline_config), settings, "http://127.0.0.1:9", "127.0.0.1:9")
write_batches(ctx.store.landing, 2, seed=3, rows=300, drift_at=1)
accepted = accept_batches(ctx, "run-1", claim_batches(ctx, "run-1"))
reference, current = (pd.read_parquet(path) for path in sorted(accepted))
drift_report(reference, current, ctx.schema, Path(sys.argv[1]), 20000, 0.5)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "ludwig"))))
"""


def test_ingest_and_the_drift_report_run_without_torch_or_ludwig(tmp_path):
    """At run time, as the tasks run once ``check_and_recover`` has checked the configs: claim and
    validate two batches, then the Evidently drift report between them, in a fresh interpreter."""
    from champion_challenger.config.ludwig_schema import load_candidate_configs
    from champion_challenger.config.pipeline import PipelineConfig
    from tests.conftest import write_test_configs

    config_path = write_test_configs(tmp_path / "configs")
    home = tmp_path / "home"
    load_candidate_configs(PipelineConfig.from_yaml(config_path), home / "cache" / "ludwig-config-checks")  # check_and_recover
    env = {**os.environ, "CCP_HOME": str(home), "CCP_PIPELINES": str(config_path)}
    done = subprocess.run([sys.executable, "-c", RUN_INGEST_AND_DRIFT, str(tmp_path / "drift")], capture_output=True,
                          text=True, timeout=600, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert (tmp_path / "drift" / "drift_report.html").exists()
