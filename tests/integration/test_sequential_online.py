"""The always-valid online test against REAL MLflow, Triton and Ludwig: live traffic mirrored by the
router, captured, joined with labels that land later. A clearly better challenger is promoted from
the online evidence long before the maximum duration, a clearly worse one is rejected early, and each
spends its share of the lifetime error budget."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from champion_challenger import tags
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.cycle import transitions
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.error_budget import read_budget
from champion_challenger.cycle.evidence import decide, gather_evidence
from champion_challenger.cycle.ingest import prepare_window
from champion_challenger.cycle.recording import record_decision
from champion_challenger.cycle.serving_deployment import deploy_challenger
from champion_challenger.cycle.training import train_challenger_in_process
from champion_challenger.data.generate import write_batches
from champion_challenger.payloads import Challenger
from champion_challenger.registry import model_registry as registry
from tests.conftest import write_test_configs
from tests.integration import shadow_traffic

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]
MODEL = "sequential_test"
SEED = 9
ROWS = 600
MAX_HOURS = 336


@pytest.fixture(scope="module")
def ctx(stack_settings, mlflow_server, triton_server, tmp_path_factory) -> CycleContext:
    """v1, trained on wrong labels, is champion: any model trained on the right ones is clearly better."""
    config_path = write_test_configs(tmp_path_factory.mktemp("seq-configs"), epochs=2, ludwig_configs=["ludwig/churn_mlp.yaml"])
    data = yaml.safe_load(config_path.read_text())
    data.update(model_name=MODEL, experiment_name=f"{MODEL}-experiment")
    data["data"]["landing_dir"] = str(tmp_path_factory.mktemp("seq-data") / "landing")
    data["training"]["window_batches"] = 2
    data["serving"].update(shadow_fraction=1.0, capture_flush_seconds=0.5)
    data["decision"].update(
        min_samples=100,
        slice_columns=[],
        guardrails={},
        online={
            "test": "sequential",
            "min_labelled_rows": 200,
            "planned_rows": 500,
            "max_duration_hours": MAX_HOURS,
            "max_latency_p99_ratio": 10.0,
        },  # fmt: skip
    )
    config_path.write_text(yaml.safe_dump(data))
    ctx = CycleContext(PipelineConfig.from_yaml(config_path), dataclasses.replace(stack_settings, pipelines=config_path),
                       mlflow_server, triton_server)  # fmt: skip
    shadow_traffic.flip_labels(write_batches(ctx.store.landing, 2, start=0, seed=SEED, rows=800))
    assert train_challenger_in_process(ctx, "seq-1") == 1
    transitions.promote(ctx, 1, "test", "a deliberately bad first champion")
    return ctx


def judge_online(ctx: CycleContext, version: int, traffic_batch: int, cycle: str):
    """Deploy ``version`` in shadow, send live traffic, land its labels, and decide."""
    deploy_challenger(ctx, version)
    traffic = shadow_traffic.live_traffic(ctx, traffic_batch, ROWS, SEED)
    captured = shadow_traffic.wait_for_captures(ctx, set(traffic["customer_id"]))
    assert set(captured["challenger_version"]) == {version} and captured["entity_key"].nunique() == ROWS
    shadow_traffic.land_labels(ctx, traffic_batch, cycle, ROWS, SEED)
    prepared = prepare_window(ctx, cycle)
    evidence = gather_evidence(ctx, prepared, Challenger(version=version))
    return evidence, decide(ctx, evidence)


def test_a_clearly_better_challenger_is_promoted_from_online_evidence_before_the_maximum_duration(ctx):
    write_batches(ctx.store.landing, 2, start=2, seed=SEED, rows=800)
    assert train_challenger_in_process(ctx, "seq-2") == 2
    evidence, decision = judge_online(ctx, 2, traffic_batch=10, cycle="seq-3")

    sequential = decision.sequential
    assert sequential is not None and sequential.action == "promote", decision.reason
    assert sequential.low > 0 and sequential.rows == ROWS and sequential.loss == "brier"
    assert evidence.online.window.duration_hours < MAX_HOURS / 100  # decided within minutes, not 14 days
    assert decision.action == "promote" and "online: promote (challenger better with confidence" in decision.reason, (
        decision.reason
    )
    online_check = next(c for c in decision.checks if c.name == "online/sequential:brier")
    assert online_check.passed and online_check.ci_low == sequential.low
    assert decision.budget.test == 1 and decision.budget.level == pytest.approx(0.025)

    transitions.promote(ctx, 2, "test", decision.reason, evidence.cycle_run_id)
    record_decision(ctx, evidence, decision)
    budget = read_budget(ctx)
    assert (budget.tests, budget.carry) == (1, pytest.approx(0.025))  # the promotion passes its level on
    version = ctx.client.get_model_version(MODEL, "2")
    assert version.tags[tags.BUDGET_TEST] == "1" and float(version.tags[tags.BUDGET_LEVEL]) == pytest.approx(0.025)
    run = ctx.client.get_run(evidence.cycle_run_id)
    assert run.data.metrics["online_sequential_rows"] == ROWS and run.data.metrics["budget_test"] == 1
    decision_md = ctx.client.download_artifacts(evidence.cycle_run_id, "comparison/decision.md")
    text = open(decision_md, encoding="utf-8").read()
    assert "## How sure is this decision?" in text and "this is test 1 of the pipeline's lifetime error budget" in text


def test_a_clearly_worse_challenger_is_rejected_early_and_loses_its_alias(ctx):
    assert registry.alias_state(ctx.client, MODEL).champion == 2
    shadow_traffic.flip_labels(write_batches(ctx.store.landing, 2, start=20, seed=SEED, rows=800))
    assert train_challenger_in_process(ctx, "seq-4") == 3
    evidence, decision = judge_online(ctx, 3, traffic_batch=30, cycle="seq-5")

    sequential = decision.sequential
    assert sequential is not None and sequential.action == "reject", decision.reason
    assert sequential.high < 0 and evidence.online.window.duration_hours < MAX_HOURS / 100
    assert decision.action == "reject"
    assert decision.budget.test == 2 and decision.budget.level == pytest.approx(0.05 / 6 + 0.025)

    transitions.keep_champion(ctx, 3, decision)
    record_decision(ctx, evidence, decision)
    assert registry.alias_state(ctx.client, MODEL) == registry.AliasState(champion=2, challenger=None, previous=1)
    budget = read_budget(ctx)
    assert (budget.tests, budget.carry) == (2, 0.0) and budget.remaining == pytest.approx(0.05 / 3)
