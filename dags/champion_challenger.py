"""Champion–challenger cycle: ingest → drift → train → evaluate → promote or hold.

Wiring only: every task calls one method of ``champion_challenger.pipeline.Pipeline``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, TaskGroup, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from champion_challenger.airflow.assets import LANDING_BATCHES

DAG_ID = "champion_challenger"
GPU_QUEUE = "gpu"  # Celery queue served by the GPU worker; ignored by the Local executor
GPU_POOL = "gpu"  # slots = GPUs, so concurrent trainings never oversubscribe a device

DOC_MD = """
### Champion–challenger cycle
Runs every six hours **or** as soon as the `landing_watch` DAG announces new batch files (asset
`ccp_landing_batches`; unpause `landing_watch` to turn data-aware scheduling on), or on **Trigger**.

| group | what happens |
|---|---|
| **ingest** | check configs and reach MLflow/Triton (and finish any champion change a crash interrupted); claim new batch files from landing (kept under `raw/<run_id>/`); validate them — bad files go to `quarantine/` and the run fails naming file, column and bad-row count, while the champion keeps serving; open the cycle's MLflow run and split the newest window into train and holdout by time |
| **drift** | Evidently report (features, the champion's predictions, the label) between the champion's training reference and unseen data, logged to MLflow; **plan_training** decides: *train* (drift, scheduled retrain due, no champion, or **Force train**), *evaluate* the challenger already in its shadow window, or *skip* |
| **train** | every Ludwig config in `configs/ludwig/` (or the form's subset) trains in parallel on the `gpu` queue and pool, one nested MLflow run each; the best is registered as `@challenger` (not in a dry run) |
| **evaluate** | the challenger is loaded into Triton beside the champion and the router mirrors live traffic to it; both models score the newest holdout on the same rows, and live captures joined with late labels form the online evidence; the **gate** answers promote / hold / reject with a reason per check (paired bootstrap CI, guardrails, slices) |
| **promote** | promote moves `@champion` (old one → `@previous`) as one transaction with smoke tests, or hold keeps the champion; the decision, comparison table and plots go to the cycle's MLflow run |

Every task page links to its MLflow run or model version (**Extra links**). Trigger-form knobs are
described on the form; **Dry run** computes and logs the decision but changes nothing.
"""


def _pipeline():
    from champion_challenger.airflow.hooks import pipeline_from_connections

    return pipeline_from_connections()


def _links(run_id: str | None = None, version: int | None = None) -> None:
    from champion_challenger.airflow.links import push_links

    pipeline = _pipeline()
    push_links(pipeline.run_url(run_id) if run_id else None, pipeline.version_url(version) if version else None)


def _mark_cycle_failed(context) -> None:
    """Task failure callback: the cycle's MLflow run shows FAILED and why (never raises)."""
    try:
        reason = f"{context['task_instance'].task_id}: {context.get('exception')}"
        _pipeline().fail_cycle(context["run_id"], reason)
    except Exception:  # noqa: BLE001 - a callback must not mask the task's own error
        logging.getLogger(__name__).exception("could not mark the cycle's MLflow run as failed")


@dag(
    dag_id=DAG_ID,
    schedule=AssetOrTimeSchedule(timetable=CronTriggerTimetable("0 */6 * * *", timezone="UTC"), assets=[LANDING_BATCHES]),
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    doc_md=DOC_MD,
    tags=["mlops", "champion-challenger", "ludwig", "triton", "mlflow"],
    default_args={
        "owner": "mlops",
        "retries": 2,
        "retry_delay": timedelta(seconds=30),
        "on_failure_callback": _mark_cycle_failed,
    },
    params={
        "window_batches": Param(
            None, type=["null", "integer"], minimum=1, title="Data window (batches)",
            description="Newest accepted batches to train and evaluate on; empty = training.window_batches of configs/pipeline.yaml.",
        ),
        "challenger_configs": Param(
            [], type="array", items={"type": "string"}, title="Challenger configs",
            description="Names of Ludwig configs in configs/ludwig/ (file names without .yaml) to train; empty = all.",
        ),
        "force_train": Param(
            False, type="boolean", title="Force train",
            description="Train challengers even when no drift was found and the scheduled retrain is not due.",
        ),
        "shadow_fraction": Param(
            None, type=["null", "number"], minimum=0, maximum=1, title="Shadow fraction",
            description="Share of live entities the router mirrors to this cycle's challenger; empty = serving.shadow_fraction.",
        ),
        "primary_metric": Param(
            None, type=["null", "string"], title="Primary metric",
            enum=[None, "accuracy", "roc_auc", "f1", "precision", "recall", "log_loss", "brier", "ece"],
            description="Override the decision metric of configs/pipeline.yaml for this run.",
        ),
        "min_improvement": Param(
            None, type=["null", "number"], minimum=0, title="Minimum improvement",
            description="Override how much the challenger must beat the champion by on the primary metric.",
        ),
        "force_promote": Param(
            False, type="boolean", title="Force promote",
            description="Promote the challenger whatever the gate says (the reason records that it was forced).",
        ),
        "dry_run": Param(
            False, type="boolean", title="Dry run",
            description="Train and compute the decision, log it to MLflow, but register, deploy and promote nothing "
            "(wins over force_promote).",
        ),
    },
)
def champion_challenger():
    with TaskGroup("ingest", tooltip="configs, services, new batches, validation, train/holdout split"):

        @task
        def check_config() -> dict:
            """Validate the pipeline and Ludwig configs, reach MLflow and Triton, recover an interrupted change."""
            from champion_challenger.errors import ConfigError

            try:
                return _pipeline().check()
            except ConfigError as exc:  # a retry cannot fix a broken config; unreachable services may recover
                raise AirflowFailException(str(exc)) from None

        @task
        def claim_batches(run_id: str | None = None) -> list[str]:
            files = _pipeline().ingest(run_id)
            if not files:
                raise AirflowSkipException("no new batch files in the landing folder; nothing to do this cycle")
            return files

        @task
        def validate(files: list[str], run_id: str | None = None) -> list[str]:
            from champion_challenger.errors import DataValidationError

            try:
                return _pipeline().validate(run_id, files)
            except DataValidationError as exc:
                raise AirflowFailException(str(exc)) from None

        @task
        def prepare(accepted: list[str], run_id: str | None = None, params: dict | None = None) -> dict:
            prepared = _pipeline().prepare(run_id, params.get("window_batches"))
            _links(run_id=prepared["cycle_run_id"])
            return prepared

        files = claim_batches()
        check_config() >> files
        prepared = prepare(validate(files))

    with TaskGroup("drift", tooltip="Evidently drift report and the decision to train"):

        @task
        def drift_report(prepared: dict, run_id: str | None = None) -> dict:
            _links(run_id=prepared["cycle_run_id"])
            return _pipeline().drift(run_id, prepared["cycle_run_id"])

        @task
        def plan_training(drift: dict, prepared: dict, params: dict | None = None) -> dict:
            return _pipeline().plan_training(prepared["cycle_run_id"], drift, force=params.get("force_train", False))

        @task.branch
        def choose_path(plan: dict) -> str:
            return {"train": "train.select_candidates", "evaluate": "train.reuse_challenger"}.get(plan["action"], "skip_training")

        plan = plan_training(drift_report(prepared), prepared)
        path = choose_path(plan)

    with TaskGroup("train", tooltip="Ludwig challengers on the gpu queue, best one registered"):

        @task
        def select_candidates(params: dict | None = None) -> list[str]:
            from champion_challenger.errors import ConfigError

            try:
                return _pipeline().candidates(params.get("challenger_configs") or None)
            except ConfigError as exc:
                raise AirflowFailException(str(exc)) from None

        @task(queue=GPU_QUEUE, pool=GPU_POOL)
        def train_candidate(candidate: str, prepared: dict, run_id: str | None = None) -> dict:
            result = _pipeline().train_candidate(run_id, prepared["cycle_run_id"], candidate)
            _links(run_id=result["run_id"])
            return result

        @task
        def register_challenger(prepared: dict, results: list[dict], run_id: str | None = None, params: dict | None = None) -> dict:
            challenger = _pipeline().challenger_for_evaluation(run_id, prepared["cycle_run_id"], list(results), params["dry_run"])
            _links(run_id=prepared["cycle_run_id"], version=challenger["version"])
            return challenger

        @task
        def reuse_challenger(plan: dict) -> dict:
            """The challenger already in its shadow window is judged again; nothing is trained."""
            _links(version=plan["version"])
            return {"version": plan["version"], "model_uri": None, "candidate": None}

        candidates = select_candidates()
        results = train_candidate.partial(prepared=prepared).expand(candidate=candidates)
        trained = register_challenger(prepared, results)
        reused = reuse_challenger(plan)
        path >> [candidates, reused]

    @task
    def skip_training(plan: dict, prepared: dict) -> None:
        """No drift, no scheduled retrain: the cycle ends here, its MLflow run says why."""
        _pipeline().record_skip(prepared["cycle_run_id"], plan)

    path >> skip_training(plan, prepared)

    with TaskGroup("evaluate", tooltip="shadow deployment, offline replay and online evidence, the gate"):

        @task(trigger_rule="none_failed_min_one_success")
        def deploy_challenger(trained: dict | None = None, reused: dict | None = None, params: dict | None = None) -> dict:
            challenger = trained or reused
            _pipeline().deploy_challenger(challenger["version"], params.get("shadow_fraction"))
            return challenger

        @task
        def shadow_evaluate(challenger: dict, prepared: dict, run_id: str | None = None) -> dict:
            evaluation = _pipeline().shadow_evaluate(run_id, challenger["version"], challenger["model_uri"])
            return {**evaluation, "cycle_run_id": prepared["cycle_run_id"]}

        @task
        def gate(evaluation: dict, params: dict | None = None) -> dict:
            from champion_challenger.errors import ConfigError

            overrides = {k: params[k] for k in ("primary_metric", "min_improvement") if params.get(k) is not None}
            try:
                return _pipeline().gate(evaluation, overrides, params["force_promote"], params["dry_run"])
            except ConfigError as exc:
                raise AirflowFailException(str(exc)) from None

        challenger = deploy_challenger(trained, reused)
        evaluation = shadow_evaluate(challenger, prepared)
        decision = gate(evaluation)

    with TaskGroup("promote", tooltip="promote or hold, then record the evidence in MLflow"):

        @task.branch
        def route(decision: dict) -> str:
            return "promote.promote" if decision["action"] == "promote" else "promote.hold"

        @task
        def promote(challenger: dict, decision: dict, prepared: dict, run_id: str | None = None) -> dict:
            entry = _pipeline().promote(challenger["version"], f"airflow:{run_id}", decision["reason"], prepared["cycle_run_id"])
            _links(run_id=prepared["cycle_run_id"], version=challenger["version"])
            return entry

        @task
        def hold(challenger: dict, decision: dict) -> list[int]:
            return _pipeline().hold(challenger["version"], decision)

        @task(trigger_rule="none_failed_min_one_success")
        def record_decision(evaluation: dict, decision: dict) -> None:
            _pipeline().record(evaluation["cycle_run_id"], evaluation, decision)
            _links(run_id=evaluation["cycle_run_id"], version=evaluation["versions"]["challenger"])

        branches = [promote(challenger, decision, prepared), hold(challenger, decision)]
        route(decision) >> branches
        branches >> record_decision(evaluation, decision)


champion_challenger()
