"""The whole DAG with ``dag.test()`` against the REAL MLflow and Triton servers, on small data."""

from __future__ import annotations

import pandas as pd
import pytest

from champion_challenger.data.generate import write_batches
from champion_challenger.pipeline import Pipeline
from champion_challenger.registry import model_registry as registry
from tests.conftest import REPO

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
ROWS = 800


@pytest.fixture(scope="module")
def dag(stack_env, airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag.dags["champion_challenger"]


@pytest.fixture(scope="module")
def pipeline(stack_env) -> Pipeline:
    return Pipeline.from_env()


def _run(dag):
    run = dag.test()
    instances = run.get_task_instances()
    states = {ti.task_id: ti.state for ti in instances}
    states["train_candidate"] = sorted(ti.state for ti in instances if ti.task_id == "train_candidate")
    return run, states


def _served_default_version(pipeline: Pipeline) -> int:
    """The version a client that names no version gets: Triton's highest READY version."""
    return max(pipeline.triton.ready_versions(pipeline.model_name))


def test_first_cycle_promotes_a_champion_that_triton_serves(dag, pipeline):
    write_batches(pipeline.store.landing, 4, seed=11, rows=ROWS)
    run, states = _run(dag)
    assert run.state == "success", states
    assert states["promote"] == "success" and states["hold"] == "skipped"
    assert states["train_candidate"] == ["success"] * len(pipeline.candidates())
    state = registry.alias_state(pipeline.client, pipeline.model_name)
    assert state.champion is not None and state.challenger is None
    assert pipeline.triton.is_ready(pipeline.model_name, state.champion)
    assert _served_default_version(pipeline) == state.champion
    champion = pipeline.client.get_model_version(pipeline.model_name, str(state.champion))
    assert champion.current_stage == "Production"
    assert float(champion.tags["ccp.metric.roc_auc"]) > 0.55
    cycle = pipeline.client.get_run(champion.tags["ccp.evidence_run_id"])
    assert cycle.data.tags["ccp.decision.action"] == "promote"
    assert "challenger_roc_auc" in cycle.data.metrics


def test_bad_batches_are_quarantined_and_the_champion_keeps_serving(dag, pipeline):
    before = registry.alias_state(pipeline.client, pipeline.model_name)
    missing, text = write_batches(pipeline.store.landing, 2, start=4, seed=11, rows=ROWS)
    pd.read_csv(missing).drop(columns=["tenure_months"]).to_csv(missing, index=False)
    frame = pd.read_csv(text, dtype=str)
    frame.loc[:9, "support_calls"] = "lots"
    frame.to_csv(text, index=False)

    run, states = _run(dag)
    assert run.state == "failed"
    assert states["validate"] == "failed"
    assert states["register_challenger"] == "upstream_failed" and states["promote"] == "upstream_failed"
    quarantined = sorted(p.name for p in pipeline.store.quarantine.glob("*.csv"))
    assert quarantined == sorted([missing.name, text.name])
    reason = (pipeline.store.quarantine / f"{text.name}.reason.json").read_text()
    assert '"column": "support_calls"' in reason and '"bad_rows": 10' in reason
    assert registry.alias_state(pipeline.client, pipeline.model_name) == before
    assert _served_default_version(pipeline) == before.champion


def test_later_cycle_with_drift_decides_and_serving_matches_the_registry(dag, pipeline):
    write_batches(pipeline.store.landing, 2, start=6, drift_at=6, seed=11, rows=ROWS)
    run, states = _run(dag)
    assert run.state == "success", states
    assert states["drift_report"] == "success"
    assert {states["promote"], states["hold"]} == {"success", "skipped"}
    state = registry.alias_state(pipeline.client, pipeline.model_name)
    assert _served_default_version(pipeline) == state.champion
    experiment = pipeline.client.get_experiment_by_name(pipeline.config.experiment_name)
    runs = pipeline.client.search_runs([experiment.experiment_id], "tags.`ccp.run_kind` = 'cycle'", order_by=["attributes.start_time DESC"])
    artifacts = {a.path for a in pipeline.client.list_artifacts(runs[0].info.run_id, "drift")}
    assert {"drift/drift_report.html", "drift/drift_report.json", "drift/drift_summary.json"} <= artifacts


def test_status_json_reports_the_served_champion(pipeline):
    from champion_challenger.status import collect_status

    status = collect_status(pipeline)
    champion = registry.alias_version(pipeline.client, pipeline.model_name, registry.CHAMPION)
    assert status["champion"]["version"] == int(champion.version)
    assert status["champion"]["served_by_triton"] is True
    assert status["last_decision"]["action"] in {"promote", "hold"}
    assert status["mlflow_tracking_uri"] == pipeline.tracking_uri
