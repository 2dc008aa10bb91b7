"""Champion–challenger cycle, one DAG per pipeline of the fleet: ingest → drift → train → evaluate → promote or hold.

Every pipeline YAML in ``CCP_PIPELINES`` (default ``configs/pipelines/``) becomes the DAG
``champion_challenger__<model_name>`` (:mod:`champion_challenger.config.fleet`). Wiring only: one ``@task_group``
per stage; every task calls one step function of ``champion_challenger.cycle`` with the model's
``CycleContext`` built from the Airflow connections, and the steps hand each other the frozen
dataclasses of ``champion_challenger.payloads``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import partial

from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, XComArg, dag, task, task_group
from airflow.sdk.exceptions import AirflowSkipException

from champion_challenger.airflow.approval import RESPONSE_KEY, PromotionApprovalOperator
from champion_challenger.airflow.assets import landing_batches
from champion_challenger.airflow.failures import fail_fast_on_user_errors
from champion_challenger.airflow.params import cycle_params
from champion_challenger.config.fleet import Pipeline, champion_pool
from champion_challenger.config.settings import load_fleet
from champion_challenger.payloads import (
    CandidateResult,
    Challenger,
    Decision,
    DriftOutcome,
    Evidence,
    PreparedWindow,
    TrainingPlan,
)
from champion_challenger.stack.pools import GPU_POOL

GPU_QUEUE = "gpu"  # Celery queue served by the GPU worker; ignored by the Local executor
# GPU_POOL: slots = GPUs, shared by every model, so concurrent trainings never oversubscribe a device

DOC_MD = """
### Champion–challenger cycle
Pipeline `{path}`: model **{model}** ({task}), MLflow experiment `{experiment}`.
Runs every six hours **or** as soon as the `landing_watch` DAG announces new batch files in this model's
landing folder (asset `ccp_landing_batches__{model}`; unpause `landing_watch` to turn data-aware scheduling
on), or on **Trigger**. Champion changes queue in the one-slot pool `champion_changes__{model}`; training
shares the `gpu` pool and queue with the other models.

| group | what happens |
|---|---|
| **ingest** | check configs and reach MLflow/Triton, then finish or undo any champion change a crash interrupted; claim new batch files from landing (kept under `raw/<run_id>/`); validate them — bad files go to `quarantine/` and the run fails naming file, column and bad-row count, while the champion keeps serving; open the cycle's MLflow run and split the newest window into train and holdout by time |
| **drift** | Evidently report (features, the champion's predictions, the label) between the champion's training reference and unseen data, logged to MLflow; **plan_training** decides: *train* (drift, scheduled retrain due, no champion, or **Force train**), *evaluate* the challenger already in its shadow window, or *skip* (also while a canary is in progress) |
| **train** | every candidate Ludwig config of the pipeline (`training.ludwig_configs`: {candidates}; or the form's subset) trains in parallel on the `gpu` queue and pool, one nested MLflow run each; the best is chosen and registered as `@challenger` (not in a dry run) |
| **evaluate** | the challenger is loaded into Triton beside the champion and the router mirrors live traffic to it; both models score the newest holdout on the same rows, and live captures joined with late labels form the online evidence; the **gate** answers promote / hold / reject with a reason per check (paired bootstrap CI, guardrails, slices) |
| **promote** | with `decision.approval: required` (this pipeline: **{approval}**), a promote first waits in **promote.approve** (Airflow's human-in-the-loop: *Required actions*) for a person's Approve, with the evidence linked; Reject or no answer within `decision.approval_timeout_hours` holds, recording who and why; promote moves `@champion` (old one → `@previous`) as one transaction with smoke tests — or, with `serving.canary_steps` (this pipeline: **{canary}**), starts a progressive canary that `champion_watch` widens step by step and completes or rolls back — or keep_champion keeps it (a rejected challenger leaves); the decision, comparison table and plots go to the cycle's MLflow run |

Every task page links to its MLflow run or model version (**Extra links**). Trigger-form knobs are
described on the form; **Dry run** computes and logs the decision but changes nothing.
"""


def _ctx(model: str):
    from champion_challenger.airflow.hooks import context_from_connections

    return context_from_connections(model)


def _link(ctx, run_id: str | None = None, version: int | None = None) -> None:
    from champion_challenger.airflow.links import link_mlflow

    link_mlflow(ctx, run_id, version)


def _mark_cycle_failed(model: str, context) -> None:
    """Task failure callback: the cycle's MLflow run shows FAILED and why (never raises)."""
    from champion_challenger.cycle.recording import fail_cycle

    try:
        fail_cycle(_ctx(model), context["run_id"], f"{context['task_instance'].task_id}: {context.get('exception')}")
    except Exception:
        logging.getLogger(__name__).exception("could not mark the cycle's MLflow run as failed")


@task_group(tooltip="configs, services, new batches, validation, train/holdout split")
def ingest(model: str) -> PreparedWindow:
    @task(pool=champion_pool(model))
    @fail_fast_on_user_errors
    def check_and_recover() -> dict:
        """Validate the configs, reach MLflow and Triton, then finish or undo an interrupted champion change."""
        from champion_challenger.cycle import ingest as step
        from champion_challenger.cycle.transitions import recover

        ctx = _ctx(model)
        return {**step.check_configs_and_services(ctx), "recovered": recover(ctx)}

    @task
    def claim_batches(run_id: str | None = None) -> list[str]:
        from champion_challenger.cycle.ingest import claim_batches as claim

        files = claim(_ctx(model), run_id)
        if not files:
            raise AirflowSkipException("no new batch files in the landing folder; nothing to do this cycle")
        return files

    @task
    @fail_fast_on_user_errors
    def validate(files: list[str], run_id: str | None = None) -> list[str]:
        from champion_challenger.cycle.ingest import accept_batches

        return accept_batches(_ctx(model), run_id, files)

    @task
    @fail_fast_on_user_errors
    def prepare_window(accepted: list[str], run_id: str | None = None, params: dict | None = None) -> PreparedWindow:
        from champion_challenger.cycle.ingest import prepare_window as prepare

        ctx = _ctx(model)
        prepared = prepare(ctx, run_id, params.get("window_batches"))
        _link(ctx, run_id=prepared.cycle_run_id)
        return prepared

    files = claim_batches()
    check_and_recover() >> files
    return prepare_window(validate(files))


@task_group(tooltip="Evidently drift report and the decision to train")
def drift(model: str, prepared: PreparedWindow):
    @task
    def drift_report(prepared: PreparedWindow) -> DriftOutcome:
        from champion_challenger.cycle.drift import detect_drift

        ctx = _ctx(model)
        _link(ctx, run_id=prepared.cycle_run_id)
        return detect_drift(ctx, prepared)

    @task
    def plan_training(drift: DriftOutcome, prepared: PreparedWindow, params: dict | None = None) -> TrainingPlan:
        from champion_challenger.cycle.training import decide_training

        return decide_training(_ctx(model), prepared, drift, force=params.get("force_train", False))

    @task.branch
    def choose_path(plan: TrainingPlan) -> str:
        return {"train": "train.select_candidates", "evaluate": "train.reuse_challenger"}.get(plan.action, "skip_training")

    plan = plan_training(drift_report(prepared), prepared)
    return plan, choose_path(plan)


@task_group(tooltip="Ludwig challengers on the gpu queue, the best one chosen and registered")
def train(model: str, prepared: PreparedWindow, plan: TrainingPlan, path):
    @task
    @fail_fast_on_user_errors
    def select_candidates(params: dict | None = None) -> list[str]:
        from champion_challenger.cycle.training import select_candidates as select

        return select(_ctx(model), params.get("challenger_configs") or None)

    @task(queue=GPU_QUEUE, pool=GPU_POOL)
    @fail_fast_on_user_errors
    def train_candidate(candidate: str, prepared: PreparedWindow) -> CandidateResult:
        from champion_challenger.cycle.training import train_candidate as train_one

        ctx = _ctx(model)
        result = train_one(ctx, prepared, candidate)
        _link(ctx, run_id=result.run_id)
        return result

    @task(pool=champion_pool(model))
    def choose_challenger(prepared: PreparedWindow, results: list[CandidateResult], params: dict | None = None) -> Challenger:
        """The best candidate, registered as @challenger (only chosen in a dry run)."""
        from champion_challenger.cycle.training import choose_challenger as choose

        ctx = _ctx(model)
        challenger = choose(ctx, prepared, list(results), params["dry_run"])
        _link(ctx, run_id=prepared.cycle_run_id, version=challenger.version)
        return challenger

    @task
    def reuse_challenger(plan: TrainingPlan) -> Challenger:
        """The challenger already in its shadow window is judged again; nothing is trained."""
        _link(_ctx(model), version=plan.version)
        return Challenger(version=plan.version)

    candidates = select_candidates()
    results = train_candidate.partial(prepared=prepared).expand(candidate=candidates)
    reused = reuse_challenger(plan)
    path >> [candidates, reused]
    return choose_challenger(prepared, results), reused


@task_group(tooltip="shadow deployment, offline replay and online evidence, the gate")
def evaluate(model: str, prepared: PreparedWindow, trained: Challenger, reused: Challenger):
    @task(trigger_rule="none_failed_min_one_success", pool=champion_pool(model))
    def deploy_challenger(
        trained: Challenger | None = None, reused: Challenger | None = None, params: dict | None = None
    ) -> Challenger:
        """Load a registered challenger beside the champion; the router mirrors traffic to it."""
        from champion_challenger.cycle.serving_deployment import deploy_challenger as deploy

        challenger = trained or reused
        if challenger.registered:
            deploy(_ctx(model), challenger.version, params.get("shadow_fraction"))
        return challenger

    @task
    def gather_evidence(challenger: Challenger, prepared: PreparedWindow) -> Evidence:
        from champion_challenger.cycle.evidence import gather_evidence as gather

        return gather(_ctx(model), prepared, challenger)

    @task
    @fail_fast_on_user_errors
    def gate(evidence: Evidence, params: dict | None = None) -> Decision:
        from champion_challenger.cycle.evidence import decide
        from champion_challenger.policy.decision import form_overrides

        return decide(_ctx(model), evidence, form_overrides(params), params["force_promote"], params["dry_run"])

    challenger = deploy_challenger(trained, reused)
    evidence = gather_evidence(challenger, prepared)
    return challenger, evidence, gate(evidence)


def _promote_or_keep(model: str, prepared: PreparedWindow, challenger: Challenger, decision: Decision) -> list:
    """The two branches that need no person: promote at once, or keep the champion."""

    @task(pool=champion_pool(model))
    def promote(challenger: Challenger, decision: Decision, prepared: PreparedWindow, run_id: str | None = None) -> dict:
        """The promotion transaction, or the first canary step (``serving.canary_steps``)."""
        from champion_challenger.cycle.canary import release

        ctx = _ctx(model)
        entry = release(ctx, challenger.version, f"airflow:{run_id}", decision.reason, prepared.cycle_run_id)
        _link(ctx, run_id=prepared.cycle_run_id, version=challenger.version)
        return entry

    @task(pool=champion_pool(model))
    def keep_champion(challenger: Challenger, decision: Decision) -> list[int]:
        """Hold or reject: the champion keeps serving; a rejected challenger leaves Triton and @challenger."""
        from champion_challenger.cycle.transitions import keep_champion as keep

        return keep(_ctx(model), challenger.version, decision)

    return [promote(challenger, decision, prepared), keep_champion(challenger, decision)]


def _approval(
    model: str,
    approval_timeout_hours: float,
    prepared: PreparedWindow,
    challenger: Challenger,
    evidence: Evidence,
    decision: Decision,
):
    """Ask a person (``decision.approval: required``); returns the request, approved and refused tasks."""

    @task
    def request_approval(evidence: Evidence, decision: Decision) -> dict:
        """The evidence report goes to MLflow first, then the request the approval task shows links to it."""
        from champion_challenger.cycle.approval import approval_request
        from champion_challenger.cycle.recording import write_report

        ctx = _ctx(model)
        write_report(ctx, evidence, decision)
        _link(ctx, run_id=evidence.cycle_run_id, version=evidence.challenger_version)
        return approval_request(ctx, evidence, decision)

    approve = PromotionApprovalOperator(
        task_id="approve",
        subject="{{ ti.xcom_pull(task_ids='promote.request_approval')['subject'] }}",
        body="{{ ti.xcom_pull(task_ids='promote.request_approval')['body'] }}",
        approve_task="promote.promote_approved",
        refuse_task="promote.approval_refused",
        timeout_hours=approval_timeout_hours,
    )

    @task(pool=champion_pool(model))
    def promote_approved(challenger: Challenger, decision: Decision, prepared: PreparedWindow, response: dict) -> dict:
        """Approved: the promotion transaction, the approver and their reason in the ledger and on the version."""
        from champion_challenger.cycle import approval

        ctx = _ctx(model)
        answer = approval.ApprovalResponse(**response)
        entry = approval.promote_approved(ctx, challenger.version, decision, answer, prepared.cycle_run_id)
        _link(ctx, run_id=prepared.cycle_run_id, version=challenger.version)
        return entry

    @task(pool=champion_pool(model))
    def approval_refused(challenger: Challenger, decision: Decision, evidence: Evidence, response: dict) -> Decision:
        """Rejected or unanswered: the challenger is held, who and why go to the ledger and the version."""
        from champion_challenger.cycle.approval import ApprovalResponse, refuse

        return refuse(_ctx(model), challenger.version, decision, ApprovalResponse(**response), evidence.cycle_run_id)

    request = request_approval(evidence, decision)
    request >> approve
    response = XComArg(approve, key=RESPONSE_KEY)
    return (
        request,
        promote_approved(challenger, decision, prepared, response),
        approval_refused(challenger, decision, evidence, response),
    )


@task_group(tooltip="ask for approval where required, promote or keep the champion, then record the evidence in MLflow")
def promote(
    model: str,
    approval_timeout_hours: float,
    prepared: PreparedWindow,
    challenger: Challenger,
    evidence: Evidence,
    decision: Decision,
):
    @task.branch
    def route(decision: Decision) -> str:
        """Hold / reject → keep_champion; promote → promote, or request_approval (``decision.approval: required``)."""
        if decision.action != "promote":
            return "promote.keep_champion"
        from champion_challenger.cycle.approval import needs_approval

        return "promote.request_approval" if needs_approval(_ctx(model), decision) else "promote.promote"

    @task(trigger_rule="none_failed_min_one_success")
    def record_decision(evidence: Evidence, decision: Decision, refused: Decision | None = None) -> None:
        from champion_challenger.cycle.recording import record_decision as record

        ctx = _ctx(model)
        record(ctx, evidence, refused or decision)
        _link(ctx, run_id=evidence.cycle_run_id, version=evidence.challenger_version)

    request, approved, refused = _approval(model, approval_timeout_hours, prepared, challenger, evidence, decision)
    branches = _promote_or_keep(model, prepared, challenger, decision)
    route(decision) >> [*branches, request]
    [*branches, approved, refused] >> record_decision(evidence, decision, refused)


def skip_training(model: str, plan: TrainingPlan, prepared: PreparedWindow):
    @task(task_id="skip_training")
    def record_skip(plan: TrainingPlan, prepared: PreparedWindow) -> None:
        """No drift, no scheduled retrain: the cycle ends here, its MLflow run says why."""
        from champion_challenger.cycle.recording import record_skip as record

        record(_ctx(model), prepared, plan)

    return record_skip(plan, prepared)


def _doc(pipeline: Pipeline) -> str:
    config = pipeline.config
    if config is None:
        return f"### Champion–challenger cycle\n**This pipeline cannot run**: {pipeline.error}"
    return DOC_MD.format(
        path=pipeline.path,
        model=pipeline.name,
        task=config.task,
        experiment=config.experiment_name,
        candidates=", ".join(config.ludwig_config_paths()),
        approval=config.decision.approval,
        canary=" → ".join(f"{share:.0%}" for share in config.serving.canary_steps) or "none, promote at once",
    )


def cycle_dag(pipeline: Pipeline):
    """The cycle DAG of one pipeline (``champion_challenger__<model>``)."""
    model = pipeline.name
    approval_timeout_hours = pipeline.config.decision.approval_timeout_hours if pipeline.config else 24

    @dag(
        dag_id=pipeline.dag_id,
        schedule=AssetOrTimeSchedule(
            timetable=CronTriggerTimetable("0 */6 * * *", timezone="UTC"), assets=[landing_batches(model)]
        ),
        start_date=datetime(2026, 1, 1),
        catchup=False,
        max_active_runs=1,
        doc_md=_doc(pipeline),
        tags=["mlops", "champion-challenger", "ludwig", "triton", "mlflow", f"model:{model}"],
        default_args={
            "owner": "mlops",
            "retries": 2,
            "retry_delay": timedelta(seconds=30),
            "on_failure_callback": partial(_mark_cycle_failed, model),
        },
        params=cycle_params(pipeline),
    )
    def champion_challenger():
        prepared = ingest(model)
        plan, path = drift(model, prepared)
        trained, reused = train(model, prepared, plan, path)
        path >> skip_training(model, plan, prepared)
        challenger, evidence, decision = evaluate(model, prepared, trained, reused)
        promote(model, approval_timeout_hours, prepared, challenger, evidence, decision)

    return champion_challenger()


for _pipeline in load_fleet():
    globals()[_pipeline.dag_id] = cycle_dag(_pipeline)
