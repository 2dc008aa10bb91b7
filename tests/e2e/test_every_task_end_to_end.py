"""Multiclass and regression pipelines, whole cycles with ``dag.test()`` against the REAL MLflow and Triton.

Each task runs the shipped example (configs/examples/<task>/, fewer epochs) on its generated data: the
first cycle trains both candidates, registers the best, deploys it, replays the holdout through Triton,
gates and promotes the first champion; the second, after drift, trains the MLP candidate alone (the trigger
form's ``challenger_configs``) and replays the same holdout rows through the champion and the challenger in
Triton before the gate decides. ``ccp predict``
then returns class probabilities (multiclass) or values (regression).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from champion_challenger.cycle.context import CycleContext
from champion_challenger.data.generate import write_batches
from champion_challenger.registry import model_registry as registry
from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
ROWS = 800
TRAIN = "train.train_candidate"
#: Comparison artifacts every cycle that evaluated a challenger logs, per task (besides the table and decision.md).
TASK_PLOTS = {
    "multiclass": {"comparison/confusion_matrices.png", "comparison/class_metrics.png"},
    "regression": {"comparison/predicted_vs_actual.png", "comparison/residuals.png"},
}


def write_example_configs(task: str, dest: Path, epochs: int = 2) -> Path:
    """Copy the shipped example of ``task`` with fewer epochs and a four-batch window."""
    source = REPO / "configs" / "examples" / task
    (dest / "ludwig").mkdir(parents=True, exist_ok=True)
    for path in sorted((source / "ludwig").glob("*.yaml")):
        ludwig = yaml.safe_load(path.read_text())
        ludwig.setdefault("trainer", {})["epochs"] = epochs
        (dest / "ludwig" / path.name).write_text(yaml.safe_dump(ludwig))
    pipeline = yaml.safe_load((source / "pipeline.yaml").read_text())
    pipeline["training"]["window_batches"] = 4
    pipeline["data"]["stable_seconds"] = 0  # whole files land at once
    (dest / "pipeline.yaml").write_text(yaml.safe_dump(pipeline))
    return dest / "pipeline.yaml"


@pytest.fixture(scope="module", params=["multiclass", "regression"])
def task_pipeline(request, stack_env, airflow_db, session_dir):
    """The example pipeline of one task, pointed at the shared test stack for this module's tests."""
    task = request.param
    config = write_example_configs(task, session_dir / f"configs-{task}")
    old = os.environ.get("CCP_PIPELINES")
    os.environ["CCP_PIPELINES"] = str(config)
    yield task, CycleContext.from_env()
    os.environ["CCP_PIPELINES"] = old or ""


def _run(**conf):
    """One cycle with ``dag.test()`` on a freshly parsed DAG (``run_conf`` sticks to a parsed DAG's params)."""
    from airflow.dag_processing.dagbag import DagBag

    from champion_challenger.config.settings import load_fleet

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    (pipeline,) = load_fleet()  # CCP_PIPELINES names this module's one example pipeline
    run = bag.dags[pipeline.dag_id].test(run_conf=conf or None)
    instances = run.get_task_instances()
    states = {ti.task_id: ti.state for ti in instances}
    states[TRAIN] = sorted(ti.state for ti in instances if ti.task_id == TRAIN)
    return run, states


def _cycle_run(ctx: CycleContext, run):
    from champion_challenger import tracking

    return ctx.client.get_run(tracking.find_run(ctx.client, ctx.experiment_id, run.run_id, "cycle"))


def _served_default_version(ctx: CycleContext) -> int:
    """The version answering a client that names no version (the router's ``version`` output)."""
    rows = pd.read_parquet(ctx.store.accepted_files()[-1]).head(4)
    versions = ctx.triton.score(ctx.model_name, rows, ctx.schema)["version"]
    assert versions.nunique() == 1
    return int(versions.iloc[0])


def _artifacts(ctx: CycleContext, run_id: str, folder: str) -> set[str]:
    return {a.path for a in ctx.client.list_artifacts(run_id, folder)}


def test_first_cycle_trains_both_candidates_and_promotes_a_first_champion(task_pipeline):
    task, ctx = task_pipeline
    assert ctx.task == task
    write_batches(ctx.store.landing, 4, seed=5, rows=ROWS, task=task)
    run, states = _run()
    assert run.state == "success", states
    assert states[TRAIN] == ["success", "success"]
    assert states["promote.promote"] == "success"
    state = registry.alias_state(ctx.client, ctx.model_name)
    assert state.champion is not None and _served_default_version(ctx) == state.champion
    cycle = _cycle_run(ctx, run)
    assert cycle.data.tags["ccp.decision.action"] == "promote"
    primary = ctx.config.decision.primary_metric
    assert f"challenger_{primary}" in cycle.data.metrics
    expected = {"comparison/comparison_table.json", "comparison/decision.md", *TASK_PLOTS[task]}
    assert expected <= _artifacts(ctx, cycle.info.run_id, "comparison")
    champion = ctx.client.get_model_version(ctx.model_name, str(state.champion))
    assert f"ccp.metric.{primary}" in champion.tags


def test_after_drift_both_models_replay_the_holdout_through_triton_and_the_gate_decides(task_pipeline):
    task, ctx = task_pipeline
    champion_before = registry.alias_state(ctx.client, ctx.model_name).champion
    write_batches(ctx.store.landing, 2, start=4, drift_at=4, seed=5, rows=ROWS, task=task)
    (mlp,) = [name for name in ctx.ludwig_configs if name.endswith("_mlp")]
    run, states = _run(force_train=True, challenger_configs=[mlp])
    assert run.state == "success", states
    assert states[TRAIN] == ["success"]  # the form's subset, not every candidate
    assert {states["promote.promote"], states["promote.keep_champion"]} == {"success", "skipped"}
    cycle = _cycle_run(ctx, run)
    decision = json.loads(Path(ctx.client.download_artifacts(cycle.info.run_id, "decision.json")).read_text())
    evidence = decision["evidence"]
    assert evidence["champion_version"] == champion_before and evidence["challenger_version"] > champion_before
    primary = ctx.config.decision.primary_metric
    assert evidence["champion"][primary] is not None and evidence["challenger"][primary] is not None
    assert any(c["name"] == f"primary:{primary}" for c in decision["decision"]["checks"])
    if task == "multiclass":
        assert any(c["name"].startswith("guardrail:class_recall=") for c in decision["decision"]["checks"])
    assert TASK_PLOTS[task] <= _artifacts(ctx, cycle.info.run_id, "comparison")
    state = registry.alias_state(ctx.client, ctx.model_name)
    assert _served_default_version(ctx) == state.champion
    assert state.champion == (evidence["challenger_version"] if decision["decision"]["action"] == "promote" else champion_before)


def test_ccp_predict_returns_the_task_s_outputs(task_pipeline, tmp_path, capsys):
    from champion_challenger.cli import main

    task, ctx = task_pipeline
    rows = write_batches(tmp_path, 1, start=9, seed=6, rows=300, task=task)[0]
    out = tmp_path / "scored.csv"
    assert main(["predict", str(rows), "--out", str(out), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["rows"] == 300
    scored = pd.read_csv(out)
    assert len(scored) == 300 and ctx.schema.id_column in scored.columns
    if task == "multiclass":
        probabilities = scored[[f"probability_{c}" for c in ctx.classes]]
        assert (probabilities.sum(axis=1) - 1).abs().max() < 1e-4
        assert set(scored["prediction"]) <= set(ctx.classes)
    else:
        assert pd.api.types.is_float_dtype(scored["prediction"]) and scored["prediction"].notna().all()
