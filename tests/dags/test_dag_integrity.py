"""DAG integrity: imports cleanly, follows the house rules, touches no connection at parse time."""

from __future__ import annotations

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(REPO / "dags"))


def test_no_import_errors(dagbag):
    assert dagbag.import_errors == {}
    assert {"champion_challenger", "champion_watch"} <= set(dagbag.dags)


@pytest.mark.parametrize("dag_id", ["champion_challenger", "champion_watch"])
def test_house_rules(dagbag, dag_id):
    dag = dagbag.dags[dag_id]
    assert dag.tags and dag.doc_md
    assert dag.catchup is False and dag.max_active_runs == 1
    for task in dag.tasks:
        assert task.owner == "mlops"
        assert task.retries >= 2


def test_cycle_runs_every_six_hours(dagbag):
    assert dagbag.dags["champion_challenger"].schedule == "0 */6 * * *"


def test_params_have_types_and_descriptions(dagbag):
    params = dagbag.dags["champion_challenger"].params
    for name in ("primary_metric", "min_improvement", "challenger_configs", "force_promote", "dry_run"):
        param = params.get_param(name)
        assert param.schema.get("type") and param.schema.get("title") and param.description, name


def test_task_order(dagbag):
    dag = dagbag.dags["champion_challenger"]
    assert dag.get_task("ingest").downstream_task_ids == {"validate"}
    assert dag.get_task("route").downstream_task_ids == {"promote", "hold"}
    assert dag.get_task("record_decision").trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("train_candidate").downstream_task_ids == {"register_challenger"}


def test_training_runs_on_the_gpu_queue_and_pool(dagbag):
    train = dagbag.dags["champion_challenger"].get_task("train_candidate")
    assert train.queue == "gpu" and train.pool == "gpu"


def test_parse_does_not_touch_connections(monkeypatch):
    """Parsing with unreachable endpoints and no connections must still succeed."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    monkeypatch.setenv("AIRFLOW_CONN_MLFLOW_DEFAULT", "http://127.0.0.1:9")
    bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}


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
