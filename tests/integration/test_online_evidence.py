"""Online evidence against REAL MLflow and Triton: live traffic mirrored by the router, captured,
joined with labels that land later, judged by the gate; and the post-promotion watch rolling back a
champion whose live predictions turn out wrong once labels arrive."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import yaml

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.cycle import transitions
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.evidence import decide, gather_evidence, online_evidence
from champion_challenger.cycle.ingest import prepare_window
from champion_challenger.cycle.recording import fail_cycle, record_decision
from champion_challenger.cycle.serving_deployment import deploy_challenger
from champion_challenger.cycle.training import train_challenger_in_process
from champion_challenger.cycle.watch import watch_champion
from champion_challenger.data.generate import write_batches
from champion_challenger.payloads import Challenger
from champion_challenger.registry import ledger
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving.capture import NO_CHALLENGER
from tests.conftest import write_test_configs
from tests.integration import shadow_traffic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]
MODEL = "online_test"
SEED = 4
ROWS = 600


@pytest.fixture(scope="module")
def pipe(stack_settings, mlflow_server, triton_server, tmp_path_factory) -> CycleContext:
    """v1 champion, v2 challenger deployed in shadow with every entity mirrored and logged."""
    config_path = write_test_configs(
        tmp_path_factory.mktemp("online-configs"), epochs=1, ludwig_configs=["ludwig/churn_mlp.yaml"]
    )
    data = yaml.safe_load(config_path.read_text())
    data.update(model_name=MODEL, experiment_name=f"{MODEL}-experiment")
    data["data"]["landing_dir"] = str(tmp_path_factory.mktemp("online-data") / "landing")  # its own batches
    data["serving"].update(shadow_fraction=1.0, prediction_log_fraction=1.0, capture_flush_seconds=0.5)
    data["decision"].update(
        min_samples=100,
        min_slice_samples=100,
        online={"test": "fixed_horizon", "min_duration_hours": 0.0001, "min_labelled_rows": 200, "max_latency_p99_ratio": 5.0},
    )
    data["watch"] = {"min_requests": 1_000_000, "min_labelled_rows": 200, "max_label_metric_drop": 0.05, "window_hours": 1}
    config_path.write_text(yaml.safe_dump(data))
    settings = dataclasses.replace(stack_settings, pipelines=config_path)
    pipe = CycleContext(PipelineConfig.from_yaml(config_path), settings, mlflow_server, triton_server)
    for cycle, start in (("online-1", 0), ("online-2", 2)):
        write_batches(pipe.store.landing, 2, start=start, seed=SEED, rows=800)
        if train_challenger_in_process(pipe, cycle) == 1:
            transitions.promote(pipe, 1, "test", "first champion")
    deploy_challenger(pipe, 2)
    assert registry.alias_state(pipe.client, MODEL) == registry.AliasState(champion=1, challenger=2, previous=None)
    return pipe


def live_traffic(pipe: CycleContext, batch_index: int) -> pd.DataFrame:
    return shadow_traffic.live_traffic(pipe, batch_index, ROWS, SEED)


def land_labels(pipe: CycleContext, batch_index: int, cycle: str, flip: bool = False) -> None:
    shadow_traffic.land_labels(pipe, batch_index, cycle, ROWS, SEED, flip)


def test_mirrored_traffic_joined_with_late_labels_is_judged_as_online_evidence(pipe):
    traffic = live_traffic(pipe, 10)
    assert (traffic["answered_by"] == 1).all()  # the champion answers; v2 only shadows
    captured = shadow_traffic.wait_for_captures(pipe, set(traffic["customer_id"]))
    assert set(captured["challenger_version"]) == {2} and len(captured) == ROWS

    early = online_evidence(pipe, "online-3", 1, 2)
    assert early.window.labelled_rows == 0 and not early.window.complete

    land_labels(pipe, 10, "online-3")
    prepared = prepare_window(pipe, "online-3")
    evidence = gather_evidence(pipe, prepared, Challenger(version=2))
    window = evidence.online.window
    assert window.complete and window.labelled_rows == ROWS == window.captured_entities
    paired = pd.read_parquet(evidence.online.paired_scores).set_index("entity_key")
    expected = traffic.set_index("customer_id").loc[paired.index]
    pd.testing.assert_series_equal(
        paired["champion"], expected["answered_probability"].astype(float), check_names=False, atol=1e-6
    )
    assert (paired["churned"] == expected["churned"]).all()

    decision = decide(pipe, evidence)
    names = {c.name for c in decision.checks}
    assert {"offline/primary:roc_auc", "online/primary:roc_auc", "online/guardrail:p99_latency"} <= names
    assert decision.reason.startswith("offline: ") and "; online: " in decision.reason
    record_decision(pipe, evidence, decision)
    run = pipe.client.get_run(prepared.cycle_run_id)
    assert run.data.metrics["online_labelled_rows"] == ROWS and "online_challenger_roc_auc" in run.data.metrics


def test_watch_rolls_back_a_champion_whose_live_predictions_turn_out_wrong(pipe):
    transitions.promote(pipe, 2, "test", "online evidence test")
    assert watch_champion(pipe)["action"] == "none"  # no labels yet
    traffic = live_traffic(pipe, 11)
    assert (traffic["answered_by"] == 2).all()
    logged = shadow_traffic.wait_for_captures(pipe, set(traffic["customer_id"]))
    assert set(logged["challenger_version"]) == {NO_CHALLENGER} and set(logged["champion_version"]) == {2}

    land_labels(pipe, 11, "online-4", flip=True)
    outcome = watch_champion(pipe, actor="watch")
    assert outcome["action"] == "auto_rollback", outcome
    assert "live roc_auc" in outcome["reason"] and outcome["labelled_predictions"] == ROWS
    assert registry.alias_state(pipe.client, MODEL).champion == 1
    assert int(pipe.triton.score(MODEL, traffic.head(3), pipe.schema)["version"].iloc[0]) == 1
    events = ledger.history(pipe.client, pipe.config.experiment_name, limit=2)
    assert [(e.action, e.to_version) for e in events] == [("auto_rollback", 1), ("promote", 2)]


def test_a_failed_cycle_is_marked_failed_in_mlflow_with_the_reason(pipe):
    from champion_challenger import tracking

    run_id = tracking.cycle_run(pipe.client, pipe.experiment_id, "online-failing")
    assert fail_cycle(pipe, "online-failing", "ingest.validate: bad batch") == run_id
    run = pipe.client.get_run(run_id)
    assert run.info.status == "FAILED" and run.data.tags["ccp.failure"] == "ingest.validate: bad batch"
    assert fail_cycle(pipe, "never-opened", "whatever") is None
