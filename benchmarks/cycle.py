"""Cycle benchmark (`make bench-cycle`): whole cycles through Airflow at 10k, 100k and 1M rows in the window.

For each size, a stack of its own (``ccp stack up``: MLflow, Triton, Airflow standalone, free ports, a
temporary ``CCP_HOME``) runs three cycles of the sample churn data, triggered through Airflow's REST API:

  first      no champion yet: ingest, drift, train, register, deploy, gate, promote the first champion
  skip       new batches like the old ones: no drift, no retrain due, the cycle trains nothing
  challenge  drifted batches: train a challenger, deploy it beside the champion, replay the holdout
             through Triton, online evidence, gate, promote or hold

The window is ``training.window_batches`` (4) batches, so each batch holds a quarter of the size.
Every size trains ONE candidate (``churn_mlp``) for ONE epoch (``--epochs``), so the figures are about
the cycle's own overhead; the training share is reported beside it.

Per task: wall seconds (Airflow's start and end), and from the task process itself (the
``task_resources`` listener of ``ccp_airflow_plugin``) process seconds, execute seconds, CPU seconds and
peak RSS. Per cycle: wall seconds (the DAG run's start to end), training seconds, overhead (wall minus
training), the largest peak RSS of any task and the offline replay's rows per second through Triton.
Results: ``benchmarks/results/cycle.json`` (rewritten after each size).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from champion_challenger.airflow.task_resources import resources_path
from champion_challenger.cli.demo import wait_idle
from champion_challenger.config.fleet import dag_id
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.config.settings import REPO_ROOT, load_settings
from champion_challenger.data.generate import write_batches
from champion_challenger.stack.airflow_api import AirflowApi
from champion_challenger.stack.local import airflow_api
from champion_challenger.stack.processes import free_port, venv_bin

RESULTS = REPO_ROOT / "benchmarks" / "results" / "cycle.json"
DAG_ID = dag_id("churn_classifier")  # the shipped pipeline's model
SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}
WINDOW_BATCHES = 4
CANDIDATE = "churn_mlp"
#: (cycle, first batch, batches, first drifted batch or None)
CYCLES = [("first", 0, WINDOW_BATCHES, None), ("skip", WINDOW_BATCHES, 2, None), ("challenge", WINDOW_BATCHES + 2, 2, 0)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default=",".join(SIZES), help=f"comma-separated, of {', '.join(SIZES)}")
    parser.add_argument("--epochs", type=int, default=1, help="training epochs of the one candidate")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--label", default="", help="what this run measures (e.g. a commit), kept in the results")
    parser.add_argument("--keep", action="store_true", help="keep each size's runtime folder (printed)")
    args = parser.parse_args()
    results: dict[str, Any] = {"label": args.label, "machine": machine(), "epochs": args.epochs, "candidate": CANDIDATE}
    results["started"] = datetime.now(UTC).isoformat(timespec="seconds")
    results["sizes"] = {}
    for label in args.sizes.split(","):
        results["sizes"][label] = bench_size(SIZES[label], args.epochs, args.keep)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=2))
        print_size(label, results["sizes"][label])
    print(f"results: {args.out}")
    return 0


def machine() -> dict[str, Any]:
    """The machine the figures come from."""
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())  # fmt: skip
    memory_kb = next(
        int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
    )
    return {"cpu": cpu, "cores": os.cpu_count(), "memory_gib": round(memory_kb / 1024**2, 1), "python": platform.python_version()}


def bench_size(rows: int, epochs: int, keep: bool) -> dict[str, Any]:
    """Three cycles at ``rows`` rows in the window on a fresh stack; their per-task figures."""
    root = Path(tempfile.mkdtemp(prefix=f"ccp-bench-cycle-{rows}-"))
    env = stack_env(root, write_configs(root / "configs", epochs))
    os.environ.update(env)
    settings = load_settings()
    ccp = venv_bin("ccp")
    try:
        subprocess.run([ccp, "stack", "up"], env=env, check=True, stdin=subprocess.DEVNULL, timeout=900)
        api = airflow_api(settings)
        api.wait_for_dag(DAG_ID, timeout_s=300)
        time.sleep(5)  # a fresh stack's timetable fires a run at once (it finds no data and skips)
        wait_idle(api, DAG_ID, timeout_s=600)
        landing = PipelineConfig.from_yaml(settings.pipeline_config).landing_dir(settings.home)
        cycles = {}
        for name, start, batches, drift_at in CYCLES:
            write_batches(landing, batches, start=start, drift_at=None if drift_at is None else start + drift_at,
                          seed=17, rows=rows // WINDOW_BATCHES)  # fmt: skip
            run_id = api.trigger(DAG_ID)
            state = api.wait_run(DAG_ID, run_id, timeout_s=4 * 3600)
            cycles[name] = cycle_figures(api, run_id, state, resources_path(settings.home))
            cycles[name]["replay_rows_per_second"] = replay_rate(settings.mlflow_tracking_uri, settings.pipeline_config, run_id)
            print(f"  {rows} rows, cycle {name}: {state} in {cycles[name]['wall_seconds']} s", flush=True)
        return {"rows_in_window": rows, "rows_per_batch": rows // WINDOW_BATCHES, "cycles": cycles}
    finally:
        subprocess.run([ccp, "stack", "down"], env=env, stdin=subprocess.DEVNULL, timeout=300, capture_output=True)
        if keep:
            print(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def write_configs(dest: Path, epochs: int) -> Path:
    """The shipped pipeline config with one candidate (``epochs`` epochs) and a 4-batch window."""
    (dest / "ludwig").mkdir(parents=True)
    ludwig = yaml.safe_load((REPO_ROOT / "configs" / "ludwig" / f"{CANDIDATE}.yaml").read_text())
    ludwig["trainer"]["epochs"] = epochs
    (dest / "ludwig" / f"{CANDIDATE}.yaml").write_text(yaml.safe_dump(ludwig))
    pipeline = yaml.safe_load((REPO_ROOT / "configs" / "pipelines" / "churn_classifier.yaml").read_text())
    pipeline["training"].update(ludwig_configs=[f"ludwig/{CANDIDATE}.yaml"], window_batches=WINDOW_BATCHES)
    (dest / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    return dest / "pipeline.yaml"


#: Switches a caller may set to compare runs (the rest of CCP_*, MLFLOW_* and AIRFLOW* is this stack's own).
PASSED_SWITCHES = ("CCP_AIRFLOW_PRELOAD", "CCP_ROUTER_CHAMPION_IN_PROCESS")


def stack_env(root: Path, pipeline_config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k in PASSED_SWITCHES or not k.startswith(("CCP_", "MLFLOW_", "AIRFLOW"))}
    ports = {name: str(free_port()) for name in ("MLFLOW", "TRITON_HTTP", "TRITON_GRPC", "TRITON_METRICS", "AIRFLOW")}
    return {**env, "CCP_HOME": str(root / "home"), "CCP_PIPELINES": str(pipeline_config),
            **{f"CCP_{name}_PORT": port for name, port in ports.items()}}  # fmt: skip


def cycle_figures(api: AirflowApi, run_id: str, state: str, resources_file: Path) -> dict[str, Any]:
    """Per-task and whole-cycle figures of one DAG run."""
    run = api.run(DAG_ID, run_id)
    usage = {}
    for line in resources_file.read_text().splitlines() if resources_file.exists() else []:
        row = json.loads(line)
        if row["run_id"] == run_id:
            usage[(row["task_id"], row["map_index"])] = row  # the last try wins
    tasks = []
    for ti in sorted(api.task_instances(DAG_ID, run_id), key=lambda t: t["start_date"] or "~"):
        if ti["state"] != "success":
            continue
        measured = usage.get((ti["task_id"], ti["map_index"]), {})
        tasks.append({
            "task": ti["task_id"] + (f"[{ti['map_index']}]" if ti["map_index"] >= 0 else ""),
            "wall_seconds": round(_seconds(ti["start_date"], ti["end_date"]), 2),
            **{k: measured.get(k) for k in ("process_seconds", "execute_seconds", "cpu_seconds", "peak_rss_mb")},
        })  # fmt: skip
    wall = _seconds(run["start_date"], run["end_date"])
    training = sum(t["wall_seconds"] for t in tasks if t["task"].startswith("train.train_candidate"))
    rss = [t["peak_rss_mb"] for t in tasks if t["peak_rss_mb"] is not None]
    return {
        "run_id": run_id,
        "state": state,
        "path": "skip" if any(t["task"] == "skip_training" for t in tasks) else "train",
        "wall_seconds": round(wall, 1),
        "training_seconds": round(training, 1),
        "overhead_seconds": round(wall - training, 1),
        "task_seconds": round(sum(t["wall_seconds"] for t in tasks), 1),
        "peak_rss_mb": max(rss, default=None),
        "tasks": tasks,
    }


def replay_rate(tracking_uri: str, pipeline_config: Path, run_id: str) -> float | None:
    """Rows per second of the cycle's offline replay through Triton (its MLflow cycle run's metric)."""
    from mlflow import MlflowClient

    from champion_challenger.tracking import find_run

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name(PipelineConfig.from_yaml(pipeline_config).experiment_name)
    cycle_run = find_run(client, experiment.experiment_id, run_id, "cycle") if experiment else None
    metric = client.get_run(cycle_run).data.metrics.get("replay_rows_per_second") if cycle_run else None
    return None if metric is None else round(metric)


def _seconds(start: str | None, end: str | None) -> float:
    if not start or not end:
        return float("nan")
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()


def print_size(label: str, size: dict[str, Any]) -> None:
    print(f"\n{label} rows in the window ({size['rows_per_batch']} per batch)")
    _table(["cycle", "path", "wall_seconds", "training_seconds", "overhead_seconds", "peak_rss_mb", "replay_rows_per_second"],
           [{"cycle": name, **figures} for name, figures in size["cycles"].items()])  # fmt: skip
    print("challenge cycle, per task:")
    _table(["task", "wall_seconds", "process_seconds", "execute_seconds", "cpu_seconds", "peak_rss_mb"],
           size["cycles"]["challenge"]["tasks"])  # fmt: skip


def _table(columns: list[str], rows: list[dict[str, Any]]) -> None:
    print(" | ".join(columns))
    for row in rows:
        print(" | ".join(str(row.get(c)) for c in columns))


if __name__ == "__main__":
    sys.exit(main())
