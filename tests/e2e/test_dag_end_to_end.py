"""The whole DAG with ``dag.test()`` against the REAL MLflow and Triton servers, on small data."""

from __future__ import annotations

import pandas as pd
import pytest

from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.training import select_candidates
from champion_challenger.data.generate import write_batches
from champion_challenger.registry import model_registry as registry
from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
ROWS = 800


@pytest.fixture(scope="module")
def dag(stack_env, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag.dags["champion_challenger__churn_classifier"]  # the test pipeline is the shipped one, fewer epochs


@pytest.fixture(scope="module")
def pipeline(stack_env) -> CycleContext:
    return CycleContext.from_env()


TRAIN = "train.train_candidate"
COMPARISON = {
    "comparison/comparison_table.json",
    "comparison/comparison_table.csv",
    "comparison/roc_curves.png",
    "comparison/pr_curves.png",
    "comparison/confusion_matrices.png",
    "comparison/calibration.png",
    "comparison/slice_metrics.png",
    "comparison/decision.md",
}


def _run(dag, **conf):
    """One cycle with ``dag.test()``; a freshly parsed DAG each time, because ``dag.test(run_conf=...)``
    leaves the conf in the DAG object's params for later runs."""
    from airflow.dag_processing.dagbag import DagBag

    dag = DagBag(dag_folder=str(REPO / "dags")).dags[dag.dag_id]
    run = dag.test(run_conf=conf or None)
    instances = run.get_task_instances()
    states = {ti.task_id: ti.state for ti in instances}
    states[TRAIN] = sorted(ti.state for ti in instances if ti.task_id == TRAIN)
    return run, states


def _cycle(pipeline: CycleContext, run):
    """The MLflow cycle run of an Airflow DAG run."""
    from champion_challenger import tracking

    return pipeline.client.get_run(tracking.find_run(pipeline.client, pipeline.experiment_id, run.run_id, "cycle"))


def _artifacts(pipeline: CycleContext, run_id: str, folder: str) -> set[str]:
    return {a.path for a in pipeline.client.list_artifacts(run_id, folder)}


def _served_default_version(pipeline: CycleContext) -> int:
    """The version answering a client that names no version: the router's ``version`` output."""
    rows = pd.read_parquet(pipeline.store.accepted_files()[-1]).head(4)
    versions = pipeline.triton.score(pipeline.model_name, rows, pipeline.schema)["version"]
    assert versions.nunique() == 1
    return int(versions.iloc[0])


def test_first_cycle_promotes_a_champion_that_triton_serves(dag, pipeline):
    write_batches(pipeline.store.landing, 4, seed=11, rows=ROWS)
    run, states = _run(dag)
    assert run.state == "success", states
    assert states["promote.promote"] == "success" and states["promote.keep_champion"] == "skipped"
    assert states[TRAIN] == ["success"] * len(select_candidates(pipeline))
    state = registry.alias_state(pipeline.client, pipeline.model_name)
    assert state.champion is not None and state.challenger is None
    assert pipeline.triton.is_ready(pipeline.versions_model, state.champion)
    assert _served_default_version(pipeline) == state.champion
    champion = pipeline.client.get_model_version(pipeline.model_name, str(state.champion))
    assert champion.current_stage == "None"  # aliases are the truth; stages are mirrored only with changes.mirror_stages
    assert float(champion.tags["ccp.metric.roc_auc"]) > 0.55
    cycle = pipeline.client.get_run(champion.tags["ccp.evidence_run_id"])
    assert cycle.data.tags["ccp.decision.action"] == "promote"
    assert cycle.data.tags["ccp.training_plan_reason"] == "no champion yet"
    assert "challenger_roc_auc" in cycle.data.metrics
    assert COMPARISON <= _artifacts(pipeline, cycle.info.run_id, "comparison")
    assert "promoted as the first champion" in champion.description and cycle.info.run_id in champion.description


def test_bad_batches_are_quarantined_and_the_champion_keeps_serving(dag, pipeline):
    before = registry.alias_state(pipeline.client, pipeline.model_name)
    missing, text = write_batches(pipeline.store.landing, 2, start=4, seed=11, rows=ROWS)
    pd.read_csv(missing).drop(columns=["tenure_months"]).to_csv(missing, index=False)
    frame = pd.read_csv(text, dtype=str)
    frame.loc[:9, "support_calls"] = "lots"
    frame.to_csv(text, index=False)

    run, states = _run(dag)
    assert run.state == "failed"
    assert states["ingest.validate"] == "failed"
    assert states["train.choose_challenger"] == "upstream_failed" and states["promote.promote"] == "upstream_failed"
    quarantined = sorted(p.name for p in pipeline.store.quarantine.glob("*.csv"))
    assert quarantined == sorted([missing.name, text.name])
    reason = (pipeline.store.quarantine / f"{text.name}.reason.json").read_text()
    assert '"column": "support_calls"' in reason and '"bad_rows": 10' in reason
    assert registry.alias_state(pipeline.client, pipeline.model_name) == before
    assert _served_default_version(pipeline) == before.champion


def test_a_cycle_without_drift_or_due_retrain_skips_training(dag, pipeline):
    before = registry.alias_state(pipeline.client, pipeline.model_name)
    versions_before = len(pipeline.client.search_model_versions(f"name = '{pipeline.model_name}'"))
    write_batches(pipeline.store.landing, 1, start=6, seed=11, rows=ROWS)
    run, states = _run(dag)
    assert run.state == "success", states
    assert states["drift.drift_report"] == "success" and states["skip_training"] == "success"
    assert set(states[TRAIN]) <= {"skipped"} and states["train.select_candidates"] == "skipped"
    assert states["evaluate.deploy_challenger"] == "skipped" and states["promote.promote"] == "skipped"
    cycle = _cycle(pipeline, run)
    assert cycle.data.tags["ccp.training_plan"] == "skip" and cycle.data.tags["ccp.decision.action"] == "skip"
    assert "scheduled retrain is not due" in cycle.data.tags["ccp.decision.reason"]
    from champion_challenger.cli.status import collect_status, format_status

    at = cycle.data.tags["ccp.decision.at"]
    status = collect_status(pipeline)
    assert at.startswith("20") and f"last decision: skip at {at}: " in format_status(status)
    # the champion was exported at training and Triton serves its ONNX graph
    assert status["champion"]["serving_format"] == "onnx" and status["champion"]["serving_fallback_reason"] is None
    served = pipeline.settings.triton_repository / pipeline.versions_model / str(status["champion"]["version"])
    assert (served / "model.onnx").exists() and not (served / "ludwig_model").exists()
    summary = pipeline.client.download_artifacts(cycle.info.run_id, "drift/drift_summary.json")
    assert '"dataset_drift": false' in open(summary).read()
    assert registry.alias_state(pipeline.client, pipeline.model_name) == before
    assert len(pipeline.client.search_model_versions(f"name = '{pipeline.model_name}'")) == versions_before


def test_a_dry_run_decides_and_logs_but_changes_nothing(dag, pipeline):
    before = registry.alias_state(pipeline.client, pipeline.model_name)
    versions_before = len(pipeline.client.search_model_versions(f"name = '{pipeline.model_name}'"))
    served_before = pipeline.triton.ready_versions(pipeline.versions_model)
    write_batches(pipeline.store.landing, 1, start=7, seed=11, rows=ROWS)
    run, states = _run(dag, dry_run=True, force_train=True, force_promote=True, challenger_configs=["churn_mlp"])
    assert run.state == "success", states
    assert states[TRAIN] == ["success"] and states["promote.keep_champion"] == "success"  # the form's one candidate
    cycle = _cycle(pipeline, run)
    assert cycle.data.tags["ccp.decision.action"] == "hold"
    assert cycle.data.tags["ccp.decision.reason"].startswith("dry run, nothing changed: would promote")
    assert COMPARISON <= _artifacts(pipeline, cycle.info.run_id, "comparison")
    assert registry.alias_state(pipeline.client, pipeline.model_name) == before
    assert len(pipeline.client.search_model_versions(f"name = '{pipeline.model_name}'")) == versions_before
    assert pipeline.triton.ready_versions(pipeline.versions_model) == served_before


def test_drift_triggers_training_and_serving_matches_the_registry(dag, pipeline):
    write_batches(pipeline.store.landing, 2, start=8, drift_at=8, seed=11, rows=ROWS)
    run, states = _run(dag, challenger_configs=["churn_mlp"])  # every candidate trained in the first cycle
    assert run.state == "success", states
    assert states["drift.drift_report"] == "success" and states["skip_training"] == "skipped"
    assert states[TRAIN] == ["success"]
    assert {states["promote.promote"], states["promote.keep_champion"]} == {"success", "skipped"}
    state = registry.alias_state(pipeline.client, pipeline.model_name)
    assert _served_default_version(pipeline) == state.champion
    cycle = _cycle(pipeline, run)
    assert cycle.data.tags["ccp.training_plan_reason"].startswith("drift detected")
    assert {"drift/drift_report.html", "drift/drift_report.json", "drift/drift_summary.json"} <= _artifacts(
        pipeline, cycle.info.run_id, "drift"
    )
    assert COMPARISON <= _artifacts(pipeline, cycle.info.run_id, "comparison")


def test_status_json_reports_the_served_champion(pipeline):
    from champion_challenger.cli.status import collect_status

    status = collect_status(pipeline)
    champion = registry.alias_version(pipeline.client, pipeline.model_name, registry.CHAMPION)
    assert status["champion"]["version"] == int(champion.version)
    assert status["champion"]["served_by_triton"] is True
    assert status["router"]["ready"] is True and status["router"]["champion"] == int(champion.version)
    assert status["last_decision"]["action"] in {"promote", "hold"}
    assert status["mlflow_tracking_uri"] == pipeline.tracking_uri


def test_report_equals_a_hand_count_of_the_ledger_and_the_cycle_runs(pipeline):
    """`ccp report --json` against what MLflow holds after the cycles above, counted here by hand."""
    import json
    import os
    import statistics
    import subprocess
    import sys
    from datetime import datetime
    from pathlib import Path

    ccp = Path(sys.executable).parent / "ccp"
    done = subprocess.run([str(ccp), "report", "--json"], capture_output=True, text=True, env=os.environ.copy(), timeout=300)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)

    client, prefix = pipeline.client, "ccp.ledger."
    cycles = client.search_runs([pipeline.experiment_id], "tags.`ccp.run_kind` = 'cycle'", max_results=1000)
    actions = [run.data.tags.get("ccp.decision.action") for run in cycles]
    ledger_id = client.get_experiment_by_name(f"{pipeline.config.experiment_name}-ledger").experiment_id
    runs = client.search_runs([ledger_id])
    entries = [{k.removeprefix(prefix): v for k, v in r.data.tags.items() if k.startswith(prefix)} for r in runs]
    ledger = sorted(entries, key=lambda e: e["at"])
    promotions = [e for e in ledger if e["action"] in ("promote", "manual_promote")]
    decided = sum(a in ("promote", "hold", "reject", "skip") for a in actions)
    assert report["cycles"] == len(cycles) >= 4
    assert report["outcomes"] == {a: actions.count(a) for a in ("promote", "hold", "reject", "skip")}
    assert report["promotion_rate"] == pytest.approx(actions.count("promote") / decided)
    assert report["skip_rate"] == pytest.approx(actions.count("skip") / decided)
    assert report["failed_cycle_rate"] == pytest.approx((len(cycles) - decided) / len(cycles))
    assert report["promotions"] == len(promotions) >= 1
    by_run = {run.info.run_id: run for run in cycles}
    leads = []
    for promotion in (e for e in promotions if e["action"] == "promote" and e.get("evidence_run_id") in by_run):
        run = by_run[promotion["evidence_run_id"]]
        start = datetime.fromisoformat(run.data.tags["ccp.data_landed_at"]).timestamp()  # every cycle here claimed batches
        leads.append(max(0.0, datetime.fromisoformat(promotion["at"]).timestamp() - start))
    assert report["lead_times"] == len(leads) >= 1
    assert report["lead_time_seconds_median"] == pytest.approx(statistics.median(leads))
    newest = max(cycles, key=lambda run: run.info.start_time)
    if newest.data.tags.get("ccp.decision.action"):
        assert newest.data.metrics["deploy_cycles"] >= 1 and "deploy_promotion_rate" in newest.data.metrics
