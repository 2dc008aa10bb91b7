"""The DAG for real under the production topology: CeleryExecutor, Postgres metadata, a Redis broker
and two Celery workers. Training (queue ``gpu``) must run on the gpu worker, everything else on the
default worker. Skips when Postgres or Redis is not reachable.

The chaos fault "SIGTERM the Airflow worker mid-training" runs here too (marked ``chaos``: ``make chaos``
includes it), on this topology: the gpu worker is what a deployment stops.

Postgres and Redis default to 127.0.0.1 (``CCP_TEST_POSTGRES_URL`` and ``CCP_TEST_REDIS_URL`` override);
the test creates its own database and uses its own Redis db number, and removes both afterwards.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from champion_challenger import tags, tracking
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.config.settings import Settings
from champion_challenger.cycle.context import CycleContext
from champion_challenger.data.generate import generate_batch, write_batches
from champion_challenger.data.synthetic import BatchSpec
from champion_challenger.registry import journal, ledger
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving.capture import read_captures
from champion_challenger.serving.routing import RoutingTable
from champion_challenger.stack.airflow_api import AirflowApi
from champion_challenger.stack.local import airflow_api
from champion_challenger.stack.processes import ServiceProcess, _alive, free_port, tail
from tests.chaos import report
from tests.conftest import write_test_configs
from tests.integration import celery_topology as topology
from tests.integration.request_load import RequestLoad

pytestmark = [pytest.mark.integration, pytest.mark.celery, pytest.mark.timeout(2400)]

DAG_ID = "champion_challenger__churn_celery"  # the cycle DAG of MODEL
ROWS = 800
MODEL = "churn_celery"
DECISIONS = ("promote.promote", "promote.keep_champion")
RUN_TIMEOUT_S = 1200
POSTGRES_CANDIDATES = ["postgresql://root@127.0.0.1:5432/postgres", "postgresql://postgres@127.0.0.1:5432/postgres"]
REDIS_URL = os.environ.get("CCP_TEST_REDIS_URL", "redis://127.0.0.1:6379/7")  # a db number of its own


def _postgres_candidates() -> list[str]:
    return [os.environ["CCP_TEST_POSTGRES_URL"]] if "CCP_TEST_POSTGRES_URL" in os.environ else POSTGRES_CANDIDATES


def _admin_postgres_url() -> str | None:
    """The first Postgres URL (maintenance database) that accepts a connection within 2 s."""
    import psycopg2

    for url in _postgres_candidates():
        try:
            psycopg2.connect(url, connect_timeout=2).close()
            return url
        except psycopg2.OperationalError:
            continue
    return None


def _admin_sql(admin_url: str, statement: str) -> None:
    import psycopg2

    conn = psycopg2.connect(admin_url, connect_timeout=5)
    conn.autocommit = True  # CREATE/DROP DATABASE cannot run in a transaction
    try:
        with conn.cursor() as cursor:
            cursor.execute(statement)
    finally:
        conn.close()


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh Postgres database for Airflow's metadata and Celery's results, owned by a role of its own
    with a password (as in the compose stack, so the logs can be searched for it); both dropped afterwards."""
    pytest.importorskip("asyncpg", reason="Airflow 3 on Postgres also needs the async driver asyncpg")
    admin_url = _admin_postgres_url()
    if admin_url is None:
        pytest.skip(
            f"Postgres is not reachable (tried {', '.join(_postgres_candidates())}; set "
            "CCP_TEST_POSTGRES_URL); the Celery topology test needs it"
        )
    name, password = f"ccp_celery_{secrets.token_hex(5)}", secrets.token_hex(16)
    admin = urlsplit(admin_url)
    _admin_sql(admin_url, f"CREATE ROLE \"{name}\" LOGIN PASSWORD '{password}'")
    _admin_sql(admin_url, f'CREATE DATABASE "{name}" OWNER "{name}"')
    try:
        yield admin._replace(netloc=f"{name}:{password}@{admin.hostname}:{admin.port or 5432}", path=f"/{name}").geturl()
    finally:
        _admin_sql(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        _admin_sql(admin_url, f'DROP ROLE IF EXISTS "{name}"')


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    """The Redis broker URL; only its own db is flushed, before and after."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=5)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"Redis is not reachable at {REDIS_URL} ({exc}); the Celery topology test needs it")
    client.flushdb()  # messages left by an earlier, killed run would reach this run's workers
    try:
        yield REDIS_URL
    finally:
        client.flushdb()
        client.close()


@pytest.fixture(scope="module")
def celery_settings(stack_env: Settings, tmp_path_factory) -> Settings:
    """Its own runtime folder, config and registered model, on the session's MLflow and Triton.

    Triton's model repository lives in the runtime folder; the session's Triton serves the one in
    ``stack_env.home``, so this runtime folder links to it (distinct model names keep them apart).
    """
    root = tmp_path_factory.mktemp("celery")
    pipeline_config = write_test_configs(root / "configs")
    pipeline = yaml.safe_load(pipeline_config.read_text())
    pipeline.update(model_name=MODEL, experiment_name="champion_challenger_celery")
    pipeline_config.write_text(yaml.safe_dump(pipeline))
    home = root / "home"
    (home / "triton").mkdir(parents=True)
    stack_env.triton_repository.mkdir(parents=True, exist_ok=True)
    (home / "triton" / "models").symlink_to(stack_env.triton_repository, target_is_directory=True)
    return dataclasses.replace(stack_env, home=home, pipelines=pipeline_config, airflow_port=free_port())


@dataclasses.dataclass
class Topology:
    services: list[ServiceProcess]
    workers: dict[str, topology.CeleryWorker]  # by name: "default", "gpu"
    queues: dict[str, list[str]]  # Celery node → queues, as the broker reports them
    logs: Path
    secrets: dict[str, str]  # what must never reach a log: name → value


def _print_diagnostics(services: list[ServiceProcess], task_logs: Path) -> None:
    """Tails of the component logs and of task logs that mention an error (shown by pytest on failure)."""
    for service in services:
        print(f"\n===== {service.name} ({service.log_file}) =====\n{tail(service.log_file, 60)}")
    failed = [p for p in sorted(task_logs.rglob("attempt=*.log")) if "error" in p.read_text(errors="replace").lower()]
    for path in failed[:8]:
        print(f"\n===== task log {path.relative_to(task_logs)} =====\n{tail(path, 40)}")


@contextmanager
def _diagnostics_on_failure(services: list[ServiceProcess], task_logs: Path) -> Iterator[None]:
    try:
        yield
    except BaseException:
        _print_diagnostics(services, task_logs)
        raise


@pytest.fixture(scope="module")
def celery_topology(postgres_url: str, broker_url: str, celery_settings: Settings) -> Iterator[Topology]:
    """api-server, scheduler, dag-processor and two Celery workers (``default``, ``gpu``)."""
    secret_key = secrets.token_urlsafe(32)
    env = {
        **topology.celery_environment(celery_settings, postgres_url, broker_url, secret_key),
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # only the run this test triggers
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",  # conftest sets it for in-process Airflow
    }
    workers = topology.default_workers()
    services = topology.celery_services(celery_settings, env, free_port(), workers)
    logs = Path(env["AIRFLOW_HOME"]) / "logs"
    try:
        with _diagnostics_on_failure(services, logs):
            topology.initialize_metadata(env, [MODEL])
            for service in services:
                service.start(timeout_s=240)
            queues = topology.wait_for_workers(broker_url, workers, services)
        hidden = {"api secret key / JWT secret": secret_key, "Postgres password": urlsplit(postgres_url).password or ""}
        yield Topology(services, {w.name: w for w in workers}, queues, logs, {k: v for k, v in hidden.items() if v})
    finally:
        for service in reversed(services):
            service.stop()


def _wait_run(api: AirflowApi, run_id: str, services: list[ServiceProcess]) -> str:
    """Wait for the run to finish, failing early if a component exits."""
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while time.monotonic() < deadline:
        stopped = [s.name for s in services if not s.running()]
        assert not stopped, f"component(s) exited during the run: {stopped}"
        state = api.run_state(DAG_ID, run_id)
        if state in {"success", "failed"}:
            return state
        time.sleep(5)
    raise TimeoutError(f"run {run_id} not finished after {RUN_TIMEOUT_S}s: {api.task_states(DAG_ID, run_id)}")


def test_each_worker_consumes_only_its_queue(celery_topology: Topology):
    workers = celery_topology.workers
    assert celery_topology.queues == {
        workers["default"].node: [topology.DEFAULT_QUEUE],
        workers["gpu"].node: [topology.GPU_QUEUE],
    }


def test_dag_succeeds_with_training_on_the_gpu_worker(celery_topology: Topology, celery_settings: Settings):
    landing = PipelineConfig.from_yaml(celery_settings.pipeline_config).landing_dir(celery_settings.home)
    write_batches(landing, 4, seed=11, rows=ROWS)
    with _diagnostics_on_failure(celery_topology.services, celery_topology.logs):
        api = airflow_api(celery_settings)
        api.wait_for_dag(DAG_ID, timeout_s=300)
        api.unpause(DAG_ID)
        run_id = api.trigger(DAG_ID)
        state = _wait_run(api, run_id, celery_topology.services)
        instances = api.task_instances(DAG_ID, run_id)
        summary = [(ti["task_id"], ti["map_index"], ti["state"], ti["queue"], ti["hostname"]) for ti in instances]
        print("task instances (task, map index, state, queue, hostname):", *summary, sep="\n  ")
        assert state == "success", summary

        gpu = [ti for ti in instances if ti["queue"] == topology.GPU_QUEUE]
        assert gpu, f"no task instance on queue {topology.GPU_QUEUE!r}: {summary}"
        assert all(ti["state"] == "success" for ti in gpu), summary
        ran_elsewhere = [ti for ti in instances if ti["queue"] != topology.GPU_QUEUE and ti["state"] == "success"]
        assert ran_elsewhere, summary
        assert {ti["queue"] for ti in ran_elsewhere} == {topology.DEFAULT_QUEUE}, summary
        assert {ti["hostname"] for ti in gpu} == {celery_topology.workers["gpu"].node}, summary
        assert {ti["hostname"] for ti in ran_elsewhere} == {celery_topology.workers["default"].node}, summary


def _context(settings: Settings) -> CycleContext:
    return CycleContext(
        PipelineConfig.from_yaml(settings.pipeline_config), settings, settings.mlflow_tracking_uri, settings.triton_url
    )


def _ensure_champion(api: AirflowApi, settings: Settings, services: list[ServiceProcess]) -> None:
    """A champion to protect: the run of the test above made one; alone (``make chaos``), run a cycle."""
    if registry.alias_state(_context(settings).client, MODEL).champion is not None:
        return
    write_batches(PipelineConfig.from_yaml(settings.pipeline_config).landing_dir(settings.home), 4, seed=11, rows=ROWS)
    api.wait_for_dag(DAG_ID, timeout_s=300)
    api.unpause(DAG_ID)
    assert _wait_run(api, api.trigger(DAG_ID), services) == "success"


def _wait_gpu_task_running(api: AirflowApi, run_id: str, timeout_s: float = 600) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        instances = api.task_instances(DAG_ID, run_id)
        running = [ti for ti in instances if ti["queue"] == topology.GPU_QUEUE and ti["state"] == "running"]
        if running:
            return running[0]
        time.sleep(1)
    raise TimeoutError(f"no training task running after {timeout_s:.0f}s: {api.task_states(DAG_ID, run_id)}")


@contextmanager
def _approval_required(settings: Settings) -> Iterator[None]:
    """``decision.approval: required`` in the pipeline YAML (read by each run's route task), undone afterwards."""
    path = Path(settings.pipelines)
    before = path.read_text()
    pipeline = yaml.safe_load(before)
    pipeline["decision"]["approval"] = "required"
    path.write_text(yaml.safe_dump(pipeline))
    try:
        yield
    finally:
        path.write_text(before)


def _cycle_awaiting_approval(api: AirflowApi, settings: Settings, seed: int) -> tuple[str, dict]:
    """Land a batch and run a cycle whose gate is forced to promote; returns it waiting on promote.approve."""
    landing = PipelineConfig.from_yaml(settings.pipeline_config).landing_dir(settings.home)
    write_batches(landing, 1, start=seed, seed=seed, rows=ROWS)
    conf = {"force_train": True, "force_promote": True, "challenger_configs": ["churn_mlp"]}
    run_id = api.trigger(DAG_ID, conf=conf)
    return run_id, api.wait_for_question(DAG_ID, run_id, "promote.approve", timeout_s=RUN_TIMEOUT_S)


def test_a_promotion_waits_for_approval_and_a_rejection_holds_with_who_and_why(
    celery_topology: Topology, celery_settings: Settings
):
    api = airflow_api(celery_settings)
    with _diagnostics_on_failure(celery_topology.services, celery_topology.logs), _approval_required(celery_settings):
        _ensure_champion(api, celery_settings, celery_topology.services)
        ctx = _context(celery_settings)
        champion = registry.alias_state(ctx.client, MODEL).champion
        run_id, question = _cycle_awaiting_approval(api, celery_settings, seed=20)
        assert question["options"] == ["Approve", "Reject"] and question["defaults"] == ["Reject"]
        assert set(question["params"]) == {"reason"}
        assert question["subject"].startswith(f"Promote {MODEL} v") and f"over v{champion}?" in question["subject"]
        assert "/#/experiments/" in question["body"] and "comparison/decision.md" in question["body"]
        assert registry.alias_state(ctx.client, MODEL).champion == champion  # nothing moves while it waits

        answer = api.respond(DAG_ID, run_id, "promote.approve", "Reject", {"reason": "not before the quarterly audit"})
        assert _wait_run(api, run_id, celery_topology.services) == "success"
        states = api.task_states(DAG_ID, run_id)
        assert states["promote.approval_refused"] == "success" and states["promote.promote_approved"] == "skipped"

    state = registry.alias_state(ctx.client, MODEL)
    assert state.champion == champion and state.challenger is not None and state.challenger != champion
    refusal = ledger.history(ctx.client, ctx.config.experiment_name, limit=1)[0]
    user = answer["responded_by"]["name"]
    assert (refusal.action, refusal.actor, refusal.reason) == ("approval_refused", user, "not before the quarterly audit")
    assert (refusal.from_version, refusal.to_version) == (champion, state.challenger)
    version = ctx.client.get_model_version(MODEL, str(state.challenger))
    assert version.tags[tags.APPROVAL] == f"refused by {user}: not before the quarterly audit"
    decision = tracking.cycle_decision(ctx.client, ctx.config.experiment_name, run_id)
    assert decision["action"] == "hold" and "refused by" in decision["reason"]
    # the watch and recovery still see the last champion change, not the refusal
    assert ledger.history(ctx.client, ctx.config.experiment_name, limit=1, changes_only=True)[0].to_version == champion


def test_an_approved_promotion_runs_the_transaction_naming_the_approver(celery_topology: Topology, celery_settings: Settings):
    api = airflow_api(celery_settings)
    with _diagnostics_on_failure(celery_topology.services, celery_topology.logs), _approval_required(celery_settings):
        _ensure_champion(api, celery_settings, celery_topology.services)
        ctx = _context(celery_settings)
        before = registry.alias_state(ctx.client, MODEL).champion
        run_id, _ = _cycle_awaiting_approval(api, celery_settings, seed=21)
        answer = api.respond(DAG_ID, run_id, "promote.approve", "Approve", {"reason": "audit done"})
        assert _wait_run(api, run_id, celery_topology.services) == "success"
        assert api.task_states(DAG_ID, run_id)["promote.promote_approved"] == "success"

    state = registry.alias_state(ctx.client, MODEL)
    assert state.champion != before and state.previous == before
    entry = ledger.history(ctx.client, ctx.config.experiment_name, limit=1)[0]
    user = answer["responded_by"]["name"]
    assert (entry.action, entry.actor, entry.to_version) == ("promote", user, state.champion)
    assert entry.reason.endswith(f"approved by {user}: audit done")
    assert ctx.triton.ready_versions(ctx.versions_model) == sorted(state.served_versions())
    routing = RoutingTable.read(celery_settings.triton_repository / MODEL)
    assert routing.champion == state.champion


@pytest.mark.chaos
def test_sigterm_of_the_gpu_worker_mid_training(celery_topology: Topology, celery_settings: Settings):
    """``docker stop`` / a pod eviction: SIGTERM to the gpu worker's main process while it trains a
    challenger, clients calling the champion throughout. Celery's warm shutdown lets the running
    training finish (compose gives it ``stop_grace_period``), the worker exits, a new worker takes
    the rest of the queue, and the cycle completes. The champion serves every request meanwhile;
    afterwards registry ``@champion`` == the version the router answers with, no journal entry is
    left, and no capture record written before the fault is lost."""
    settings, services = celery_settings, celery_topology.services
    api = airflow_api(settings)
    with _diagnostics_on_failure(services, celery_topology.logs):
        _ensure_champion(api, settings, services)
        ctx = _context(settings)
        model, champion_before = MODEL, registry.alias_state(ctx.client, MODEL).champion
        rows = generate_batch(BatchSpec(index=0, rows=8, seed=5, drifted=False))
        landing = ctx.config.landing_dir(settings.home)
        write_batches(landing, 2, start=20, drift_at=20, seed=11, rows=ROWS)
        gpu_worker = next(s for s in services if s.name == "celery-worker-gpu")
        captures_before = len(read_captures(ctx.capture_dir, model))
        with RequestLoad(ctx.triton_url, model, rows, ctx.schema, entity_keys=rows[ctx.schema.id_column]) as clients:
            run_id = api.trigger(DAG_ID, conf={"force_train": True, "challenger_configs": ["churn_mlp"]})
            training = _wait_gpu_task_running(api, run_id)
            time.sleep(3)  # into Ludwig's training loop
            pid = gpu_worker.pid()
            signalled = time.monotonic()
            os.kill(pid, signal.SIGTERM)
            while _alive(pid) and time.monotonic() - signalled < 900:
                time.sleep(0.5)
            worker_exit_s = time.monotonic() - signalled
            states_at_exit = {(ti["task_id"], ti["map_index"]): ti["state"] for ti in api.task_instances(DAG_ID, run_id)}
            gpu_worker.pid_file.unlink(missing_ok=True)
            gpu_worker.start(timeout_s=240)
            state = _wait_run(api, run_id, services)
        instances, gpu = api.task_instances(DAG_ID, run_id), topology.GPU_QUEUE
        alias = registry.alias_state(ctx.client, MODEL)
        answers = int(ctx.triton.score(model, rows.head(1), ctx.schema)["version"].iloc[0])
        row = report.add(
            {
                "fault": "SIGTERM of the gpu Celery worker mid-training",
                "requests_ok": clients.ok,
                "requests_failed": len(clients.failures),
                "failed_outside_triton_downtime": len(clients.outside_downtime()),
                "registry_champion": alias.champion,
                "router_answers_with": answers,
                "registry_equals_triton": alias.champion == answers,
                "journal_pending": journal.read(ctx.client, MODEL) is not None,
                "capture_records_before_fault": captures_before,
                "capture_records_lost": max(captures_before - len(read_captures(ctx.capture_dir, model)), 0),
                "champion_before": champion_before,
                "interrupted_task": f"{training['task_id']}[{training['map_index']}]",
                "state_when_worker_exited": states_at_exit[(training["task_id"], training["map_index"])],
                "worker_exit_seconds": round(worker_exit_s, 1),
                "training_tries": {f"{t['task_id']}[{t['map_index']}]": t["try_number"] for t in instances if t["queue"] == gpu},
                "run_state": state,
                "decision": next((t["task_id"] for t in instances if t["task_id"] in DECISIONS and t["state"] == "success"), ""),
            }
        )  # fmt: skip
    assert not _alive(pid), f"the gpu worker did not exit within 15 min of SIGTERM: {row}"
    assert state == "success", (row, [(ti["task_id"], ti["map_index"], ti["state"]) for ti in instances])
    assert row["registry_equals_triton"] and not row["journal_pending"], row
    assert row["requests_failed"] == 0 and row["capture_records_lost"] == 0, row


def test_no_secret_reaches_a_log(celery_topology: Topology, celery_settings: Settings):
    """After the runs above: no component log, task log or scheduler log of the production topology holds
    the Postgres password or the api-server's secret key (Airflow masks connection passwords in task
    logs; the components must not print their configuration)."""
    logs = [p for p in celery_settings.home.rglob("*") if p.is_file() and (p.suffix == ".log" or "logs" in p.parts)]
    assert any(p.name.startswith("attempt=") for p in logs), "no task log to search"
    leaks = [
        f"{what} in {path.relative_to(celery_settings.home)}"
        for path in logs
        for what, value in celery_topology.secrets.items()
        if value in path.read_text(errors="replace")
    ]
    assert celery_topology.secrets and not leaks, leaks
