"""DAG integrity: imports cleanly, follows the house rules, touches no connection at parse time."""

from __future__ import annotations

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


DAG_IDS = ["champion_challenger", "champion_watch", "landing_watch"]


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(DAG_IDS) <= set(dagbag.dags)


@pytest.mark.parametrize("dag_id", DAG_IDS)
def test_house_rules(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags and dag.doc_md
    assert dag.catchup is False and dag.max_active_runs == 1
    for task in dag.tasks:
        assert task.owner == "mlops", task.task_id
        assert task.retries >= 2, task.task_id


def test_cycle_runs_every_six_hours_or_when_batches_land(dagbag):
    schedule = dagbag.dags["champion_challenger"].schedule
    assert schedule.timetable.expression == "0 */6 * * *"
    assert [a.name for a in schedule.asset_condition.objects] == ["ccp_landing_batches"]


def test_landing_watch_announces_the_asset_and_starts_paused(dagbag):
    dag = dagbag.dags["landing_watch"]
    assert dag.is_paused_upon_creation is True
    (announce,) = dag.tasks
    assert [o.name for o in announce.outlets] == ["ccp_landing_batches"]


PARAMS = [
    "window_batches",
    "challenger_configs",
    "force_train",
    "shadow_fraction",
    "primary_metric",
    "min_improvement",
    "force_promote",
    "dry_run",
]


@pytest.mark.parametrize("name", PARAMS)
def test_params_have_types_titles_and_descriptions(dagbag, name):
    param = dagbag.dags["champion_challenger"].params.get_param(name)
    assert param.schema.get("type") and param.schema.get("title") and param.description, name


def test_every_param_is_documented(dagbag):
    assert set(dagbag.dags["champion_challenger"].params.keys()) == set(PARAMS)


def test_task_groups(dagbag):
    dag = dagbag.dags["champion_challenger"]
    groups = {t.task_id.split(".")[0] for t in dag.tasks if "." in t.task_id}
    assert groups == {"ingest", "drift", "train", "evaluate", "promote"}


def test_task_order(dagbag):
    dag = dagbag.dags["champion_challenger"]
    assert dag.get_task("ingest.claim_batches").downstream_task_ids == {"ingest.validate"}
    assert dag.get_task("drift.choose_path").downstream_task_ids == {
        "train.select_candidates",
        "train.reuse_challenger",
        "skip_training",
    }
    assert dag.get_task("promote.route").downstream_task_ids == {"promote.promote", "promote.keep_champion"}
    record = dag.get_task("promote.record_decision")
    assert record.trigger_rule == "none_failed_min_one_success"
    # only the evaluate/promote path feeds it, so a cycle that skipped training does not record a decision
    assert record.upstream_task_ids == {"evaluate.gather_evidence", "evaluate.gate", "promote.promote", "promote.keep_champion"}
    assert dag.get_task("evaluate.deploy_challenger").trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("train.train_candidate").downstream_task_ids == {"train.choose_challenger"}


def test_training_runs_on_the_gpu_queue_and_pool_and_nothing_else_does(dagbag):
    dag = dagbag.dags["champion_challenger"]
    assert {t.task_id for t in dag.tasks if t.queue == "gpu"} == {"train.train_candidate"}
    assert dag.get_task("train.train_candidate").pool == "gpu"


def test_tasks_that_change_the_champion_share_the_one_slot_champion_pool(dagbag):
    from champion_challenger.airflow.pools import CHAMPION_POOL

    cycle, watch = dagbag.dags["champion_challenger"], dagbag.dags["champion_watch"]
    changers = {t.task_id for t in cycle.tasks if t.pool == CHAMPION_POOL}
    assert changers == {
        "ingest.check_and_recover",
        "train.choose_challenger",
        "evaluate.deploy_challenger",
        "promote.promote",
        "promote.keep_champion",
    }
    assert watch.get_task("watch_champion").pool == CHAMPION_POOL
    assert watch.get_task("prune_stores").pool != CHAMPION_POOL  # pruning changes no champion


def test_extra_links_to_mlflow_are_registered():
    from airflow import plugins_manager

    names = {link.name for link in plugins_manager.get_global_operator_extra_links()}
    assert {"MLflow run", "MLflow model version"} <= names


def test_parse_does_not_touch_connections_or_variables(monkeypatch):
    """Parsing with unreachable endpoints, no connections and Variable access forbidden must succeed."""
    from airflow.dag_processing.dagbag import DagBag
    from airflow.sdk import Variable

    def forbidden(*args, **kwargs):
        raise AssertionError("a DAG read an Airflow Variable or Connection at parse time")

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", "http://127.0.0.1:9")
    monkeypatch.setattr(Variable, "get", forbidden)
    from airflow.sdk import BaseHook

    monkeypatch.setattr(BaseHook, "get_connection", forbidden)
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    assert set(DAG_IDS) <= set(bag.dags)


def test_hooks_read_airflow_connections(monkeypatch):
    from champion_challenger.airflow.hooks import MlflowHook, TritonHook

    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", "http://mlflow.internal:5001")
    monkeypatch.setenv("AIRFLOW_CONN_TRITON_DEFAULT", "http://triton.internal:8100")
    assert MlflowHook().get_conn() == "http://mlflow.internal:5001"
    assert TritonHook().get_conn() == "triton.internal:8100"


def test_hooks_fall_back_to_settings(monkeypatch):
    from champion_challenger.airflow.hooks import MlflowHook

    monkeypatch.delenv("AIRFLOW_CONN_MLFLOW_DEFAULT", raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert MlflowHook().get_conn() == "http://127.0.0.1:5999"
