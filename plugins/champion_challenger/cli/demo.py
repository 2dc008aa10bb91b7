"""``make demo``: start the stack, land batches over several cycles, run each cycle through Airflow."""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable

from mlflow import MlflowClient

from champion_challenger import tracking
from champion_challenger.config.fleet import dag_id
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.config.settings import Settings
from champion_challenger.data.generate import write_batches
from champion_challenger.stack import local
from champion_challenger.stack.airflow_api import AirflowApi

#: What a cycle did, by the promote-group tasks that succeeded (an approved promotion, a refused one is kept).
BRANCHES = {"promote": {"promote", "promote_approved"}, "keep_champion": {"keep_champion", "approval_refused"}}
#: The human-in-the-loop task a promotion waits in (``decision.approval: required``), and its waiting states
#: (Airflow 3.3+ ``awaiting_input``; ``deferred`` before).
APPROVAL_TASK = "promote.approve"
WAITING_FOR_A_PERSON = ("awaiting_input", "deferred")
#: (first batch, number of batches) landed before each cycle; drift starts at DRIFT_AT.
DEMO_PLAN: list[tuple[int, int]] = [(0, 4), (4, 1), (5, 1), (6, 1), (7, 1)]
DRIFT_AT = 5


def _say(message: str) -> None:
    print(f"[demo {time.strftime('%H:%M:%S')}] {message}", flush=True)


def run_demo(settings: Settings, seed: int = 7, rows: int = 2000) -> list[dict]:
    """Run the demo cycles and return one summary per cycle.

    Raises:
        RuntimeError: a cycle's DAG run failed (its failed tasks are named).
    """
    config = PipelineConfig.from_yaml(settings.pipeline_config)
    landing = config.landing_dir(settings.home)
    api = local.airflow_api(settings)
    client = MlflowClient(settings.mlflow_tracking_uri)
    dag = dag_id(config.model_name)
    api.wait_for_dag(dag)
    api.unpause(dag)
    results = []
    for cycle, (start, count) in enumerate(DEMO_PLAN, 1):
        wait_idle(api, dag)  # a timer run (every six hours of wall clock) would otherwise claim this cycle's batches
        files = write_batches(landing, count, start=start, drift_at=DRIFT_AT, seed=seed, rows=rows, task=config.task)
        drift = "after drift onset" if start + count - 1 >= DRIFT_AT else "before drift"
        _say(f"cycle {cycle}/{len(DEMO_PLAN)}: landed {', '.join(f.name for f in files)} ({drift}); triggering")
        result = run_cycle(api, client, config)
        if result["state"] != "success":
            raise RuntimeError(f"cycle {cycle} ({result['run_id']}) {result['state']}; failed tasks: {result['failed_tasks']}; "
                               "see the Airflow UI logs")  # fmt: skip
        _say(f"cycle {cycle} finished: {result['decision']} — {result['reason']}")
        results.append({"cycle": cycle, **result})
    return results


def run_cycle(
    api: AirflowApi, client: MlflowClient, config: PipelineConfig, conf: dict | None = None, timeout_s: float = 900
) -> dict:
    """Trigger one cycle of the pipeline's DAG through Airflow's REST API and wait for it (at most ``timeout_s``).

    Returns:
        See :func:`cycle_result`.
    """
    dag = dag_id(config.model_name)
    run_id = api.trigger(dag, conf)
    notice = approval_notice(api, dag, run_id) if config.decision.approval == "required" else None
    api.wait_run(dag, run_id, timeout_s, on_poll=notice)
    return cycle_result(api, client, config, run_id)


def approval_notice(api: AirflowApi, dag: str, run_id: str) -> Callable[[], None]:
    """A poll that says once, on stderr, when the run waits for a person's answer in ``promote.approve`` and where
    to give it (the run waits silently otherwise, up to ``decision.approval_timeout_hours``)."""
    told = False

    def poll() -> None:
        nonlocal told
        if told or api.task_states(dag, run_id).get(APPROVAL_TASK) not in WAITING_FOR_A_PERSON:
            return
        told = True
        print(waiting_for_approval(api.base_url, dag, run_id), file=sys.stderr, flush=True)

    return poll


def waiting_for_approval(base_url: str, dag: str, run_id: str) -> str:
    return (
        f"cycle {run_id} waits for a person to approve its promotion: Airflow UI {base_url}/dags/{dag}/runs/{run_id}/"
        f"tasks/{APPROVAL_TASK} (or Browse > Required Actions); from a script: PATCH {base_url}/api/v2/dags/{dag}/dagRuns/"
        f'{run_id}/taskInstances/{APPROVAL_TASK}/-1/hitlDetails with {{"chosen_options": ["Approve"], '
        '"params_input": {"reason": "..."}}'
    )


def cycle_result(api: AirflowApi, client: MlflowClient, config: PipelineConfig, run_id: str) -> dict:
    """What a finished cycle of the pipeline did: ``run_id``, ``state`` (success / failed), ``failed_tasks``,
    ``branch`` (promote, keep_champion or skip_training) and the gate's ``decision`` and ``reason`` as the
    cycle's MLflow run records them."""
    dag, experiment_name = dag_id(config.model_name), config.experiment_name
    state = api.run_state(dag, run_id)
    tasks = api.task_states(dag, run_id)
    done = {t.removeprefix("promote.") for t, s in tasks.items() if s == "success"}
    branch = next((b for b, ran in BRANCHES.items() if done & ran), "skip_training")
    action, reason = _cycle_decision(client, experiment_name, run_id) if state == "success" else ("none", "the run failed")
    if state == "success" and tasks.get("ingest.claim_batches") == "skipped":
        action, reason = "none", "no new batch files in the landing folder; nothing to do"
    failed = [t for t, s in tasks.items() if s in ("failed", "upstream_failed")]
    return {"run_id": run_id, "state": state, "failed_tasks": failed, "branch": branch, "decision": action, "reason": reason}


def _cycle_decision(client: MlflowClient, experiment_name: str, run_id: str) -> tuple[str, str]:
    """The gate's action (promote / hold / reject / skip) and reason as the cycle's MLflow run records them."""
    decision = tracking.cycle_decision(client, experiment_name, run_id)
    if decision is None:
        return "unknown", f"no cycle run for {run_id} in MLflow experiment {experiment_name!r}"
    return decision["action"] or "unknown", decision["reason"] or ""


def wait_idle(api: AirflowApi, dag: str, timeout_s: float = 900) -> list[str]:
    """Let runs the scheduler started by itself (on unpause, or the six-hourly timer firing while the
    demo runs) finish before the demo lands data, so each cycle's batches go to the cycle it triggers.

    Returns:
        The runs that were active (now finished, or still running after ``timeout_s``).
    """
    deadline = time.monotonic() + timeout_s
    active = seen = api.active_runs(dag)
    if active:
        _say(f"waiting for the scheduler's own run(s) to finish first: {', '.join(active)}")
    while active and time.monotonic() < deadline:
        time.sleep(3)
        active = api.active_runs(dag)
    return seen


def urls(settings: Settings) -> dict[str, str]:
    """Where the user looks after the demo."""
    return {
        "airflow_ui": f"http://127.0.0.1:{settings.airflow_port}",
        "mlflow_ui": settings.mlflow_tracking_uri,
        "triton_metrics": settings.triton_metrics_url,
        "triton_http": f"http://{settings.triton_url}/v2",
    }


def login_hint(settings: Settings) -> str:
    password = local.airflow_password(settings)
    return json.dumps({"user": local.AIRFLOW_USER, "password": password})
