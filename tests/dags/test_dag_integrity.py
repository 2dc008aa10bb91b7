"""DAG integrity: imports cleanly, follows the house rules, touches no connection at parse time."""

from __future__ import annotations

import pytest

from tests.conftest import REPO


@pytest.fixture(scope="module")
def dagbag():
    """The DAGs of the shipped pipelines (whatever CCP_PIPELINES another module's stack left in the environment)."""
    from airflow.dag_processing.dagbag import DagBag

    with pytest.MonkeyPatch.context() as env:
        env.setenv("CCP_PIPELINES", str(REPO / "configs" / "pipelines"))
        return DagBag(dag_folder=str(REPO / "dags"))


CYCLE = "champion_challenger__churn_classifier"  # the shipped pipeline, configs/pipelines/churn_classifier.yaml
DAG_IDS = [CYCLE, "champion_watch", "landing_watch"]


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
    schedule = dagbag.dags[CYCLE].schedule
    assert schedule.timetable.expression == "0 */6 * * *"
    assert [a.name for a in schedule.asset_condition.objects] == ["ccp_landing_batches__churn_classifier"]


def test_landing_watch_announces_the_asset_and_starts_paused(dagbag):
    dag = dagbag.dags["landing_watch"]
    assert dag.is_paused_upon_creation is True
    (announce,) = dag.tasks
    assert announce.task_id == "announce__churn_classifier"
    assert [o.name for o in announce.outlets] == ["ccp_landing_batches__churn_classifier"]


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
    param = dagbag.dags[CYCLE].params.get_param(name)
    assert param.schema.get("type") and param.schema.get("title") and param.description, name


def test_every_param_is_documented(dagbag):
    assert set(dagbag.dags[CYCLE].params.keys()) == set(PARAMS)


def test_task_groups(dagbag):
    dag = dagbag.dags[CYCLE]
    groups = {t.task_id.split(".")[0] for t in dag.tasks if "." in t.task_id}
    assert groups == {"ingest", "drift", "train", "evaluate", "promote"}


def test_task_order(dagbag):
    dag = dagbag.dags[CYCLE]
    assert dag.get_task("ingest.claim_batches").downstream_task_ids == {"ingest.validate"}
    assert dag.get_task("drift.choose_path").downstream_task_ids == {
        "train.select_candidates",
        "train.reuse_challenger",
        "skip_training",
    }
    assert dag.get_task("promote.route").downstream_task_ids == {
        "promote.promote",
        "promote.keep_champion",
        "promote.request_approval",
    }
    approve = dag.get_task("promote.approve")
    assert approve.upstream_task_ids == {"promote.request_approval"}
    assert approve.options_mapping == {"Approve": "promote.promote_approved", "Reject": "promote.approval_refused"}
    record = dag.get_task("promote.record_decision")
    assert record.trigger_rule == "none_failed_min_one_success"
    # only the evaluate/promote path feeds it, so a cycle that skipped training does not record a decision
    assert record.upstream_task_ids == {
        "evaluate.gather_evidence",
        "evaluate.gate",
        "promote.promote",
        "promote.keep_champion",
        "promote.promote_approved",
        "promote.approval_refused",
    }
    assert dag.get_task("evaluate.deploy_challenger").trigger_rule == "none_failed_min_one_success"
    assert dag.get_task("train.train_candidate").downstream_task_ids == {"train.choose_challenger"}


def test_training_runs_on_the_gpu_queue_and_pool_and_nothing_else_does(dagbag):
    dag = dagbag.dags[CYCLE]
    assert {t.task_id for t in dag.tasks if t.queue == "gpu"} == {"train.train_candidate"}
    assert dag.get_task("train.train_candidate").pool == "gpu"


def test_tasks_that_change_the_champion_share_the_model_s_one_slot_champion_pool(dagbag):
    CHAMPION_POOL = "champion_changes__churn_classifier"
    cycle, watch = dagbag.dags[CYCLE], dagbag.dags["champion_watch"]
    changers = {t.task_id for t in cycle.tasks if t.pool == CHAMPION_POOL}
    assert changers == {
        "ingest.check_and_recover",
        "train.choose_challenger",
        "evaluate.deploy_challenger",
        "promote.promote",
        "promote.keep_champion",
        "promote.promote_approved",
        "promote.approval_refused",
    }
    assert watch.get_task("watch__churn_classifier.watch_champion").pool == CHAMPION_POOL
    assert watch.get_task("watch__churn_classifier.prune_stores").pool != CHAMPION_POOL  # pruning changes no champion


def test_approval_is_airflow_s_human_in_the_loop_asking_only_for_a_reason_and_rejecting_on_timeout(dagbag):
    from airflow.providers.standard.operators.hitl import HITLBranchOperator

    approve = dagbag.dags[CYCLE].get_task("promote.approve")
    assert isinstance(approve, HITLBranchOperator)
    assert approve.options == ["Approve", "Reject"] and approve.defaults == ["Reject"] and approve.multiple is False
    assert approve.response_timeout.total_seconds() == 24 * 3600  # decision.approval_timeout_hours' default
    assert set(approve.serialized_params) == {"reason"}  # the trigger form's params are not asked again


def test_the_candidates_param_names_the_pipeline_s_own_candidates(dagbag):
    description = dagbag.dags[CYCLE].params.get_param("challenger_configs").description
    assert "pipelines/churn_classifier.yaml" in description and "churn_ft_transformer, churn_mlp" in description
    assert "configs/ludwig/" not in description  # where candidates live is the pipeline's setting, not a fixed folder


@pytest.fixture(scope="module")
def fleet_bag(tmp_path_factory):
    """The DAGs of a fleet: two pipelines, one invalid YAML, one pipeline that reuses another's experiment."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import write_fleet

    folder = write_fleet(tmp_path_factory.mktemp("fleet"), ["churn_eu", "churn_us"])
    (folder / "broken.yaml").write_text("model_name: [not, a, name\n")
    clash = folder / "churn_zz.yaml"
    clash.write_text((folder / "churn_us.yaml").read_text().replace("model_name: churn_us", "model_name: churn_zz"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CCP_PIPELINES", str(folder))
        bag = DagBag(dag_folder=str(REPO / "dags"))
    assert bag.import_errors == {}
    return bag


def test_every_pipeline_of_the_fleet_gets_its_own_dag_pool_and_asset(fleet_bag):
    cycles = {d for d in fleet_bag.dags if d.startswith("champion_challenger__")}
    assert cycles == {f"champion_challenger__{m}" for m in ("broken", "churn_eu", "churn_us", "churn_zz")}
    for model in ("churn_eu", "churn_us"):
        dag = fleet_bag.dags[f"champion_challenger__{model}"]
        assert [a.name for a in dag.schedule.asset_condition.objects] == [f"ccp_landing_batches__{model}"]
        pools = {t.pool for t in dag.tasks} - {"default_pool"}
        assert pools == {"gpu", f"champion_changes__{model}"}  # the gpu pool is shared, the champion pool is not
    watch, landing = fleet_bag.dags["champion_watch"], fleet_bag.dags["landing_watch"]
    assert {t.task_id for t in watch.tasks} == {
        f"watch__{m}.{t}" for m in ("churn_eu", "churn_us") for t in ("watch_champion", "prune_stores")
    }
    assert {t.task_id for t in landing.tasks} == {"announce__churn_eu", "announce__churn_us"}


def test_an_invalid_or_clashing_pipeline_gets_a_dag_that_says_why_and_fails_at_once(fleet_bag):
    broken, clash = fleet_bag.dags["champion_challenger__broken"], fleet_bag.dags["champion_challenger__churn_zz"]
    assert "cannot run" in broken.doc_md and "broken.yaml" in broken.doc_md
    assert "experiment_name cc-churn_us is already used by" in clash.doc_md and "churn_us.yaml" in clash.doc_md


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
    monkeypatch.setenv("CCP_PIPELINES", str(REPO / "configs" / "pipelines"))
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
