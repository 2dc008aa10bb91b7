"""Champion–challenger cycle: ingest → validate → drift → train → shadow-evaluate → promote or hold.

Wiring only: every task calls one method of ``champion_challenger.pipeline.Pipeline``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

DAG_ID = "champion_challenger"
GPU_QUEUE = "gpu"  # Celery queue served by the GPU worker; ignored by the Local executor
GPU_POOL = "gpu"  # slots = GPUs, so concurrent trainings never oversubscribe a device

DOC_MD = """
### Champion–challenger cycle
Every six hours (or on **Trigger**) this DAG:
1. **ingest** claims new batch files from the landing folder (kept under `raw/<run_id>/`);
2. **validate** checks columns and values; bad files go to `quarantine/` and the run fails with the
   file, column and count of bad rows — the champion keeps serving;
3. **prepare** opens the cycle's MLflow run and splits the newest window into train and holdout by time;
4. **drift_report** compares the champion's training data with data it has not seen (Evidently, logged to MLflow);
5. **train_candidate** trains every Ludwig config in `configs/ludwig/` (or the trigger form's subset) in
   parallel on the `gpu` queue and pool, each a nested MLflow run; **register_challenger** registers the best
   by validation metric as a new version with alias `@challenger`;
6. **deploy_challenger** loads it into Triton beside the champion;
7. **shadow_evaluate** scores the holdout through Triton with both models;
8. **gate** compares both models on the same rows (paired bootstrap CI, guardrails, slices) and answers
   promote / hold / reject with a reason per check; **promote** moves `@champion` (old one → `@previous`) and Triton
   serves it, or **hold** keeps the champion;
9. **record_decision** writes both models' metrics and the reason into the cycle's MLflow run.
"""


def _pipeline():
    from champion_challenger.airflow.hooks import pipeline_from_connections

    return pipeline_from_connections()


def _mark_cycle_failed(context) -> None:
    """Task failure callback: the cycle's MLflow run shows FAILED and why (never raises)."""
    try:
        reason = f"{context['task_instance'].task_id}: {context.get('exception')}"
        _pipeline().fail_cycle(context["run_id"], reason)
    except Exception:  # noqa: BLE001 - a callback must not mask the task's own error
        logging.getLogger(__name__).exception("could not mark the cycle's MLflow run as failed")


@dag(
    dag_id=DAG_ID,
    schedule="0 */6 * * *",
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
        "primary_metric": Param(
            None, type=["null", "string"], title="Primary metric",
            enum=[None, "accuracy", "roc_auc", "f1", "precision", "recall", "log_loss", "brier"],
            description="Override the decision metric of configs/pipeline.yaml for this run.",
        ),
        "min_improvement": Param(
            None, type=["null", "number"], minimum=0, title="Minimum improvement",
            description="Override how much the challenger must beat the champion by on the primary metric.",
        ),
        "challenger_configs": Param(
            [], type="array", items={"type": "string"}, title="Challenger configs",
            description="Names of Ludwig configs in configs/ludwig/ (file names without .yaml) to train; empty = all.",
        ),
        "force_promote": Param(
            False, type="boolean", title="Force promote",
            description="Promote the challenger whatever the gate says (the reason records that it was forced).",
        ),
        "dry_run": Param(
            False, type="boolean", title="Dry run",
            description="Compute and log the decision but change nothing (wins over force_promote).",
        ),
    },
)
def champion_challenger():
    @task
    def check_config() -> dict:
        """Validate the pipeline and Ludwig configs and reach MLflow and Triton."""
        from champion_challenger.errors import ConfigError

        try:
            return _pipeline().check()
        except ConfigError as exc:  # a retry cannot fix a broken config; unreachable services may recover
            raise AirflowFailException(str(exc)) from None

    @task
    def ingest(run_id: str | None = None) -> list[str]:
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
    def prepare(accepted: list[str], run_id: str | None = None) -> dict:
        return _pipeline().prepare(run_id)

    @task
    def drift_report(prepared: dict, run_id: str | None = None) -> dict:
        return _pipeline().drift(run_id, prepared["cycle_run_id"])

    @task
    def select_candidates(drift: dict, params: dict | None = None) -> list[str]:
        from champion_challenger.errors import ConfigError

        try:
            return _pipeline().candidates(params.get("challenger_configs") or None)
        except ConfigError as exc:
            raise AirflowFailException(str(exc)) from None

    @task(queue=GPU_QUEUE, pool=GPU_POOL)
    def train_candidate(candidate: str, prepared: dict, run_id: str | None = None) -> dict:
        return _pipeline().train_candidate(run_id, prepared["cycle_run_id"], candidate)

    @task
    def register_challenger(prepared: dict, results: list[dict], run_id: str | None = None) -> int:
        return _pipeline().register_challenger(run_id, prepared["cycle_run_id"], list(results))

    @task
    def deploy_challenger(version: int) -> list[int]:
        return _pipeline().sync_serving()

    @task
    def shadow_evaluate(version: int, served: list[int], run_id: str | None = None) -> dict:
        return _pipeline().shadow_evaluate(run_id, version)

    @task
    def gate(evaluation: dict, params: dict | None = None) -> dict:
        from champion_challenger.config import DecisionConfig

        pipeline = _pipeline()
        overrides = {k: params[k] for k in ("primary_metric", "min_improvement") if params.get(k) is not None}
        rules = DecisionConfig.model_validate({**pipeline.config.decision.model_dump(), **overrides})
        decision = pipeline.decide(evaluation, rules).as_dict()
        if params.get("force_promote") and decision["action"] != "promote":
            decision.update(action="promote", reason=f"forced by the trigger form (gate said {decision['action']}: {decision['reason']})")
        if params.get("dry_run") and decision["action"] == "promote":
            decision.update(action="hold", reason="dry run: would promote; " + decision["reason"])
        return decision

    @task.branch
    def route(decision: dict) -> str:
        return "promote" if decision["action"] == "promote" else "hold"

    @task
    def promote(version: int, decision: dict, prepared: dict, run_id: str | None = None) -> dict:
        return _pipeline().promote(version, f"airflow:{run_id}", decision["reason"], prepared["cycle_run_id"])

    @task
    def hold(version: int) -> list[int]:
        return _pipeline().hold(version)

    @task(trigger_rule="none_failed_min_one_success")
    def record_decision(prepared: dict, evaluation: dict, decision: dict) -> None:
        _pipeline().record(prepared["cycle_run_id"], evaluation, decision)

    checked = check_config()
    files = ingest()
    checked >> files
    prepared = prepare(validate(files))
    candidates = select_candidates(drift_report(prepared))
    results = train_candidate.partial(prepared=prepared).expand(candidate=candidates)
    version = register_challenger(prepared, results)
    evaluation = shadow_evaluate(version, deploy_challenger(version))
    decision = gate(evaluation)
    branches = [promote(version, decision, prepared), hold(version)]
    route(decision) >> branches
    branches >> record_decision(prepared, evaluation, decision)


champion_challenger()
