"""Progressive canary (``serving.canary_steps``) with real Airflow, MLflow, Triton and Ludwig.

A promotion starts a canary (what the cycle's ``promote`` task calls); ``champion_watch`` runs through
``dag.test()`` in a process of its own and widens the challenger's share when the step held, or returns it to
0 and records a rollback when the challenger fails its requests. The router's answers show which entities the
challenger answers at each step.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.request

import mlflow
import pandas as pd
import pytest
import tritonclient.http as httpclient
import yaml

from champion_challenger import tags
from champion_challenger.cli import main as ccp
from champion_challenger.cli.metrics_exporter import CachedReports, collect_fleet, metrics_server
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.cycle import transitions
from champion_challenger.cycle.canary import release
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.serving_deployment import sync_serving
from champion_challenger.cycle.training import train_challenger_in_process
from champion_challenger.cycle.watch import watch_champion
from champion_challenger.data.generate import write_batches
from champion_challenger.registry import canary as canaries
from champion_challenger.registry import ledger
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving.routing import RoutingTable
from tests.conftest import write_test_configs
from tests.e2e.dag_test_runner import dag_test_outcome, start_dag_test
from tests.integration.request_load import RequestLoad
from tests.integration.test_promotion import _undecodable_request

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1200)]
MODEL = "canary_test"
STEPS = [0.3, 0.6]


@pytest.fixture(scope="module")
def pipeline(stack_env, airflow_db, tmp_path_factory) -> CycleContext:
    """v1 champion; v2 and v3 (the same Ludwig model registered again) to put in canary."""
    path = write_test_configs(tmp_path_factory.mktemp("canary-configs"), epochs=1, ludwig_configs=["ludwig/churn_mlp.yaml"])
    data = yaml.safe_load(path.read_text())
    data.update(model_name=MODEL, experiment_name=f"{MODEL}-experiment")
    data["data"]["landing_dir"] = f"data/{MODEL}/landing"
    data["serving"].update(capture_dir=f"captures/{MODEL}", canary_steps=STEPS, canary_step_hours=0.0005)  # 1.8 s steps
    data["watch"] = {"min_requests": 10, "max_error_rate": 0.2, "window_hours": 1}
    path.write_text(yaml.safe_dump(data))
    settings = dataclasses.replace(stack_env, pipelines=path)
    pipe = CycleContext(PipelineConfig.from_yaml(path), settings, settings.mlflow_tracking_uri, settings.triton_url)
    write_batches(pipe.store.landing, 2, seed=7, rows=400)
    assert train_challenger_in_process(pipe, "canary-1") == 1
    transitions.promote(pipe, 1, "test", "first champion")
    first = pipe.client.get_model_version(MODEL, "1")
    for _ in (2, 3):
        mlflow.register_model(first.source, MODEL, tags=dict(first.tags))
    return pipe


def answered_by(pipe: CycleContext, frame: pd.DataFrame) -> pd.Series:
    """Which version answered each entity, asking the router as a client does (naming no version)."""
    keys = frame[pipe.schema.id_column].astype(str)
    answers = pipe.triton.score(MODEL, frame, pipe.schema, entity_keys=keys)
    return pd.Series(answers["version"].to_numpy(), index=keys.to_numpy())


def send_load(pipe: CycleContext, frame: pd.DataFrame, seconds: float) -> RequestLoad:
    """Clients sending ``frame`` (with its entity keys) to the router for ``seconds``."""
    keys = frame[pipe.schema.id_column].astype(str)
    with RequestLoad(pipe.triton_url, MODEL, frame, pipe.schema, threads=2, entity_keys=keys) as clients:
        time.sleep(seconds)
    return clients


def watch_dag(pipe: CycleContext, session_dir, name: str) -> dict:
    """One ``champion_watch`` run through Airflow's ``dag.test()``."""
    outcome = dag_test_outcome(start_dag_test("champion_watch", name, session_dir, pipe.settings.pipelines), timeout_s=600)
    assert outcome["state"] == "success", outcome["tasks"]
    assert outcome["tasks"][f"watch__{MODEL}.watch_champion[-1]"] == "success", outcome["tasks"]
    return outcome


def events(pipe: CycleContext, n: int) -> list[tuple[str, int | None, int]]:
    return [(e.action, e.from_version, e.to_version) for e in ledger.history(pipe.client, pipe.config.experiment_name, n)]


@pytest.fixture(scope="module")
def frame(pipeline) -> pd.DataFrame:
    """64 entities of the newest holdout."""
    return pd.read_parquet(pipeline.workspace("canary-1") / "holdout.parquet").head(64)


def test_the_watch_dag_widens_a_canary_that_holds_and_its_last_step_promotes(pipeline, frame, session_dir):
    registry.set_challenger(pipeline.client, MODEL, 2)
    sync_serving(pipeline)
    entry = release(pipeline, 2, "airflow:cycle-7", "better on the holdout", evidence_run_id="run-7")

    assert entry["action"] == "canary_start" and "answers 30% of entities first" in entry["reason"]
    assert registry.alias_state(pipeline.client, MODEL) == registry.AliasState(champion=1, challenger=2, previous=None)
    routing = RoutingTable.read(pipeline.settings.triton_repository / MODEL)
    assert (routing.champion, routing.challenger, routing.canary_fraction) == (1, 2, 0.3)
    first = answered_by(pipeline, frame)
    assert set(first.unique()) == {1, 2} and 0.1 < (first == 2).mean() < 0.5  # ~30% of the entities, v1 the rest
    assert send_load(pipeline, frame, 4).failed == []

    watch_dag(pipeline, session_dir, "watch-widen")

    canary = canaries.read(pipeline.client, MODEL)
    assert (canary.step, canary.fraction) == (1, 0.6)
    assert RoutingTable.read(pipeline.settings.triton_repository / MODEL).canary_fraction == 0.6
    second = answered_by(pipeline, frame)
    assert set(first[first == 2].index) <= set(second[second == 2].index)  # sticky: the first share stays
    assert (second == 2).mean() > (first == 2).mean()
    assert events(pipeline, 2) == [("canary_step", 1, 2), ("canary_start", 1, 2)]
    assert registry.alias_state(pipeline.client, MODEL).champion == 1  # still a canary

    assert send_load(pipeline, frame, 4).failed == []
    outcome = watch_champion(pipeline, actor="watch")

    assert outcome["action"] == "canary_complete", outcome
    assert registry.alias_state(pipeline.client, MODEL) == registry.AliasState(champion=2, challenger=None, previous=1)
    assert canaries.read(pipeline.client, MODEL) is None
    assert set(answered_by(pipeline, frame).unique()) == {2}
    promotion = ledger.history(pipeline.client, pipeline.config.experiment_name, 1)[0]
    assert (promotion.action, promotion.from_version, promotion.to_version) == ("promote", 1, 2)
    assert (promotion.actor, promotion.evidence_run_id) == ("airflow:cycle-7", "run-7")
    assert "every step (30%, 60%) held" in promotion.reason
    result = pipeline.client.get_model_version(MODEL, "2").tags[tags.CANARY_RESULT]
    assert result.startswith("completed")


def test_a_challenger_failing_its_canary_goes_back_to_zero_with_a_rollback_in_the_ledger(pipeline, frame, session_dir, capsys):
    champion = registry.alias_state(pipeline.client, MODEL).champion
    registry.set_challenger(pipeline.client, MODEL, 3)
    sync_serving(pipeline)
    assert release(pipeline, 3, "alice", "approved")["action"] == "canary_start"
    client = httpclient.InferenceServerClient(pipeline.triton_url)
    for _ in range(15):  # text features that are not UTF-8 fail inside version 3
        with pytest.raises(Exception, match="invalid request"):
            client.infer(pipeline.versions_model, _undecodable_request(client, pipeline.versions_model), model_version="3")

    watch_dag(pipeline, session_dir, "watch-breach")

    assert registry.alias_state(pipeline.client, MODEL).champion == champion
    assert registry.alias_state(pipeline.client, MODEL).challenger is None
    assert canaries.read(pipeline.client, MODEL) is None
    routing = RoutingTable.read(pipeline.settings.triton_repository / MODEL)
    assert (routing.challenger, routing.canary_fraction) == (None, 0.0)
    assert 3 not in pipeline.triton.ready_versions(pipeline.versions_model)
    assert set(answered_by(pipeline, frame).unique()) == {champion}
    rollback = ledger.history(pipeline.client, pipeline.config.experiment_name, 1)[0]
    assert (rollback.action, rollback.from_version, rollback.to_version) == ("canary_rollback", champion, 3)
    assert "error rate" in rollback.reason and "step 1/2 (30% of entities)" in rollback.reason
    assert pipeline.client.get_model_version(MODEL, "3").tags[tags.CANARY_RESULT].startswith("rolled back")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CCP_PIPELINES", str(pipeline.settings.pipelines))
        capsys.readouterr()  # MLflow printed "View run" lines for the ledger's runs
        assert ccp(["report", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)
        scraped = scrape_exporter()
    assert report["canary_rollbacks"] == 1 and report["change_failures"] == 0
    assert report["promotions"] == 2 and report["change_failure_rate"] == 0
    # what Prometheus scrapes from `ccp exporter` is the same figures
    assert f'ccp_deploy_canary_rollbacks{{model="{MODEL}"}} 1' in scraped
    assert f'ccp_deploy_promotions{{model="{MODEL}"}} 2' in scraped and f'ccp_deploy_up{{model="{MODEL}"}} 1' in scraped


def scrape_exporter() -> str:
    """One scrape of the exporter ``ccp exporter`` runs, over HTTP, reading the real MLflow."""
    server = metrics_server(CachedReports(collect_fleet), port=0)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.server_address[1]}/metrics", timeout=60) as answer:
            return answer.read().decode()
    finally:
        server.shutdown()
        server.server_close()


def test_the_router_keeps_answering_canary_load_while_the_versions_model_reloads(pipeline, frame):
    """Regression: with the router sending a custom-metric update per request, Triton 2.51 aborted (signal 6 or 11
    in the Python backend) as the versions model reloaded under canary load, in round 0 or 1 of this loop."""
    first = pipeline.client.get_model_version(MODEL, "1")
    version = int(mlflow.register_model(first.source, MODEL, tags=dict(first.tags)).version)
    registry.set_challenger(pipeline.client, MODEL, version)
    sync_serving(pipeline)
    assert release(pipeline, version, "alice", "approved")["action"] == "canary_start"
    answered = 0
    for _ in range(3):
        load = send_load(pipeline, frame, 4)
        assert load.failed == [], load.failed[:3]
        answered += load.ok
        pipeline.triton.load(pipeline.versions_model)  # what a deploy does: new instances, then the old ones unload
    assert answered > 0 and pipeline.triton.is_ready(MODEL, 1)
