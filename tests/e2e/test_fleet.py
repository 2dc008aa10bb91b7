"""Two pipelines on one stack at once: each promotes its own champion and touches nothing of the other's.

One real MLflow server, one real Triton server and one runtime folder (the session's stack); the two
pipelines' DAGs run ``dag.test()`` at the same time, each in a process of its own with its own copy
of the migrated Airflow database (SQLite takes one writer at a time; a shared scheduler is what the
Celery topology test covers).
"""

from __future__ import annotations

import json

import pytest

from champion_challenger import tags
from champion_challenger.cli import main as ccp
from champion_challenger.cycle.context import CycleContext
from champion_challenger.data.generate import write_batches
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving.routing import RoutingTable
from tests.conftest import write_fleet
from tests.e2e.dag_test_runner import dag_test_outcome, start_dag_test

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1800)]
MODELS = ("churn_eu", "churn_us")
ROWS = 800


@pytest.fixture(scope="module")
def fleet(stack_env, airflow_db, session_dir, tmp_path_factory):
    """Two pipelines (one candidate, two epochs each) in a folder of their own, batches landed for both."""
    folder = write_fleet(tmp_path_factory.mktemp("fleet-configs"), list(MODELS), epochs=2, candidates="mlp")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CCP_PIPELINES", str(folder))
        contexts = {m: CycleContext.from_env(model=m) for m in MODELS}
        for seed, ctx in enumerate(contexts.values(), 21):
            write_batches(ctx.store.landing, 4, seed=seed, rows=ROWS)
        yield folder, contexts


def test_two_pipelines_at_once_each_promote_their_own_champion_and_touch_nothing_of_the_other(fleet, session_dir):
    folder, contexts = fleet
    processes = {m: start_dag_test(f"champion_challenger__{m}", m, session_dir, folder) for m in MODELS}
    outcomes = {m: dag_test_outcome(p) for m, p in processes.items()}

    for model, ctx in contexts.items():
        outcome = outcomes[model]
        assert outcome["state"] == "success", outcome["tasks"]
        assert outcome["tasks"]["promote.promote[-1]"] == "success", outcome["tasks"]
        versions = ctx.client.search_model_versions(f"name = '{model}'")
        assert [int(v.version) for v in versions] == [1]  # each registered model holds only its own challenger
        assert registry.alias_version(ctx.client, model, registry.CHAMPION).version == "1"
        assert ctx.triton.ready_versions(ctx.versions_model) == [1]
        routing = RoutingTable.read(ctx.settings.triton_repository / model)
        assert routing.champion == 1 and routing.challenger is None
        # the cycle's MLflow run is in the model's own experiment, named after its own DAG run
        runs = ctx.client.search_runs([ctx.experiment_id], f"tags.`{tags.RUN_KIND}` = 'cycle'")
        assert [r.data.tags[tags.CYCLE_ID] for r in runs] == [outcome["run_id"]]
        # the captures and cycle workspaces are the model's own
        assert ctx.capture_dir.name == model and ctx.workspaces.name == model
        assert any(ctx.workspaces.iterdir())
    one, other = contexts.values()
    assert one.experiment_id != other.experiment_id
    assert one.store.root != other.store.root


def test_status_and_report_show_every_model_of_the_fleet(fleet, capsys):
    folder, contexts = fleet
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CCP_PIPELINES", str(folder))
        patch.delenv("CCP_MODEL", raising=False)
        assert ccp(["status", "--json"]) == 0
        rows = {r["model_name"]: r for r in json.loads(capsys.readouterr().out)["models"]}
        assert ccp(["report", "--json"]) == 0
        report = json.loads(capsys.readouterr().out)["models"]
        assert ccp(["status", "--model", "churn_us", "--json"]) == 0
        one = json.loads(capsys.readouterr().out)
        assert ccp(["status"]) == 0
        table = capsys.readouterr().out
    assert set(rows) == set(MODELS) == set(report)
    assert all(r["champion"] == 1 and r["triton_ready_versions"] == [1] for r in rows.values())
    assert all(r["last_decision"]["action"] == "promote" for r in rows.values())
    assert all(m["promotions"] == 1 for m in report.values())
    assert one["model_name"] == "churn_us" and one["champion"]["version"] == 1
    assert all(model in table for model in MODELS)
