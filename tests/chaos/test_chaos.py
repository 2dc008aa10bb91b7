"""Chaos suite (``make chaos``): faults injected into a REAL stack of its own (MLflow, Triton, Ludwig
models) while clients keep sending requests. After each fault: the registry's ``@champion`` is the version
the router answers with, no capture record written before the fault is lost, the next champion change
completes, and failed client requests are counted (none outside Triton's own downtime).

Each fault adds a row to the report (``CCP_CHAOS_REPORT`` names the JSON file; ``make chaos`` writes
``benchmarks/results/chaos.json``).
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time

import pandas as pd
import pytest
import yaml

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.config.settings import Settings
from champion_challenger.cycle import transitions
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.serving_deployment import sync_serving
from champion_challenger.cycle.training import train_challenger_in_process
from champion_challenger.data.generate import write_batches
from champion_challenger.registry import journal, lease
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving.capture import read_captures
from champion_challenger.stack.local import mlflow_service, triton
from champion_challenger.stack.processes import _alive, _signal_group
from tests.chaos import report
from tests.conftest import settings_on_free_ports, write_test_configs
from tests.integration.request_load import RequestLoad

pytestmark = [pytest.mark.integration, pytest.mark.chaos, pytest.mark.timeout(1800)]
MODEL = "chaos_model"


@pytest.fixture(scope="module", autouse=True)
def fast_failing_mlflow_client():
    """MLflow's client retries an unreachable server for minutes; the faults want the error at once."""
    old = {k: os.environ.get(k) for k in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="1", MLFLOW_HTTP_REQUEST_TIMEOUT="10")
    yield
    for key, value in old.items():
        os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """MLflow and Triton of this module only (the faults stop and kill them), and the report at the end."""
    root = tmp_path_factory.mktemp("chaos")
    config_path = write_test_configs(root / "configs", epochs=1, ludwig_configs=["ludwig/churn_mlp.yaml"])
    data = yaml.safe_load(config_path.read_text())
    data.update(model_name=MODEL, experiment_name=MODEL, changes={"lease_seconds": 3, "wait_seconds": 60})
    data["serving"] = {**data.get("serving", {}), "capture_flush_seconds": 1, "shadow_fraction": 1.0}
    config_path.write_text(yaml.safe_dump(data))
    settings = settings_on_free_ports(root / "home", config_path)
    mlflow_service(settings).start(timeout_s=120)
    triton(settings).start(timeout_s=120)
    yield settings
    triton(settings).stop()
    mlflow_service(settings).stop()


@pytest.fixture(scope="module")
def pipe(stack) -> CycleContext:
    """v1 champion, v2 challenger mirrored in shadow."""
    ctx = context(stack)
    for cycle, start in (("chaos-1", 0), ("chaos-2", 2)):
        write_batches(ctx.store.landing, 2, start=start, seed=7, rows=400)
        if train_challenger_in_process(ctx, cycle) == 1:
            transitions.promote(ctx, 1, "test", "first champion")
    sync_serving(ctx)
    assert registry.alias_state(ctx.client, MODEL) == registry.AliasState(champion=1, challenger=2, previous=None)
    return ctx


def context(settings: Settings) -> CycleContext:
    """A fresh context (fresh clients: a Triton HTTP client belongs to the thread that made it)."""
    return CycleContext(
        PipelineConfig.from_yaml(settings.pipeline_config), settings, settings.mlflow_tracking_uri, settings.triton_url
    )


# ---- the stack's processes ---------------------------------------------------------------------------
def kill(service) -> None:
    """SIGKILL the service's process group, as a crash would."""
    pid = service.pid()
    if pid is not None:
        _signal_group(pid, signal.SIGKILL)
        while _alive(pid):
            time.sleep(0.1)
    service.pid_file.unlink(missing_ok=True)


def restart_triton(settings: Settings) -> None:
    triton(settings).start(timeout_s=180)  # --load-model=*: the repository's router and versions load at start


# ---- clients and checks ----------------------------------------------------------------------------------
def request_load(pipe: CycleContext) -> RequestLoad:
    """Three clients sending 8 holdout rows with their entity keys (so the challenger is mirrored)."""
    rows = pd.read_parquet(pipe.workspace("chaos-2") / "holdout.parquet").head(8)
    return RequestLoad(pipe.triton_url, MODEL, rows, pipe.schema, entity_keys=rows[pipe.schema.id_column], timeout_s=10)


def answering_version(pipe: CycleContext) -> int:
    ctx = context(pipe.settings)
    rows = pd.read_parquet(pipe.workspace("chaos-2") / "holdout.parquet").head(1)
    return int(ctx.triton.score(MODEL, rows, ctx.schema)["version"].iloc[0])


def record(fault: str, pipe: CycleContext, clients: RequestLoad, captures_before: int, captures_after: int, **extra) -> dict:
    ctx = context(pipe.settings)
    champion = registry.alias_state(ctx.client, MODEL).champion
    answers = answering_version(pipe)
    row = {
        "fault": fault,
        "requests_ok": clients.ok,
        "requests_failed": len(clients.failures),
        "failed_outside_triton_downtime": len(clients.outside_downtime()),
        "registry_champion": champion,
        "router_answers_with": answers,
        "registry_equals_triton": champion == answers,
        "journal_pending": journal.read(ctx.client, MODEL) is not None,
        "capture_records_before_fault": captures_before,
        "capture_records_lost": max(captures_before - captures_after, 0),
        **extra,
    }
    return report.add(row)


def captured(pipe: CycleContext, until: pd.Timestamp | None = None) -> int:
    records = read_captures(pipe.capture_dir, MODEL)
    return int((records["timestamp"] <= until).sum()) if until is not None and len(records) else len(records)


def assert_healthy(row: dict) -> None:
    assert row["registry_equals_triton"] and not row["journal_pending"], row
    assert row["failed_outside_triton_downtime"] == 0 and row["capture_records_lost"] == 0, row


def next_change_completes(pipe: CycleContext) -> None:
    """The next champion change after the fault goes through (promote v2, then back to v1)."""
    ctx = context(pipe.settings)
    transitions.promote(ctx, 2, "chaos", "next change after the fault")
    assert answering_version(pipe) == 2 == registry.alias_state(ctx.client, MODEL).champion
    transitions.rollback(ctx, "chaos", "back to the starting champion")
    assert answering_version(pipe) == 1 == registry.alias_state(ctx.client, MODEL).champion
    registry.set_challenger(ctx.client, MODEL, 2)
    sync_serving(ctx)


def paused_promotion(pipe: CycleContext, after: str):
    """Start a promotion of v2 in a thread that pauses right after journal step ``after``; returns
    (paused event, resume event, thread, outcome dict)."""
    paused, resume, outcome, mark = threading.Event(), threading.Event(), {}, journal.mark

    def pausing(client, model, pending, step):
        recorded = mark(client, model, pending, step)
        if step == after and threading.current_thread().name == "chaos-promoter":
            paused.set()
            resume.wait(300)
        return recorded

    def run() -> None:
        try:
            outcome["entry"] = transitions.promote(context(pipe.settings), 2, "chaos", f"fault after {after}")
        except Exception as exc:  # noqa: BLE001 - the fault's effect, checked by the test
            outcome["error"] = repr(exc)

    journal.mark = pausing
    thread = threading.Thread(target=run, name="chaos-promoter", daemon=True)
    thread.start()
    assert paused.wait(300), f"the promotion never reached {after!r}"
    return resume, thread, outcome, lambda: setattr(journal, "mark", mark)


# ---- the faults --------------------------------------------------------------------------------------------
def test_triton_killed_mid_shadow_evaluation(pipe):
    """The offline replay (what evaluate.gather_evidence does: both versions score the holdout through
    Triton) runs when Triton is killed: the replay fails with a clear error, Triton restarts with the
    champion, and the replay then completes."""
    holdout = pd.read_parquet(pipe.workspace("chaos-2") / "holdout.parquet")
    big = pd.concat([holdout] * 40, ignore_index=True)
    before = captured(pipe)
    replay: dict = {}

    def score() -> None:
        ctx = context(pipe.settings)
        try:
            for _ in range(20):
                ctx.triton.predict_scores(ctx.versions_model, big, ctx.schema, 2, batch_size=256)
        except Exception as exc:  # noqa: BLE001 - expected: Triton died under it
            replay["error"] = repr(exc)

    with request_load(pipe) as clients:
        thread = threading.Thread(target=score, daemon=True)
        thread.start()
        time.sleep(2)
        clients.down()
        kill(triton(pipe.settings))
        thread.join(120)
        restart_triton(pipe.settings)
        clients.up()
        ctx = context(pipe.settings)
        rescored = ctx.triton.predict_scores(ctx.versions_model, holdout, ctx.schema, 2, batch_size=256)
    row = record("Triton killed mid-shadow-evaluation", pipe, clients, before, captured(pipe), replay_error=replay.get("error"))
    assert "error" in replay and len(rescored) == len(holdout)
    assert_healthy(row)
    next_change_completes(pipe)


def test_triton_killed_mid_promotion(pipe):
    before = captured(pipe)
    with request_load(pipe) as clients:
        resume, thread, outcome, restore = paused_promotion(pipe, "loaded")
        clients.down()
        kill(triton(pipe.settings))
        resume.set()
        thread.join(300)
        restore()
        assert "error" in outcome, outcome  # the router switch could not happen
        restart_triton(pipe.settings)
        clients.up()
        recovered = transitions.recover(context(pipe.settings), "chaos")
    row = record("Triton killed mid-promotion (after 'loaded')", pipe, clients, before, captured(pipe), recovered=recovered)
    assert_healthy(row)
    assert row["registry_champion"] == 1  # undone: the switch never happened
    next_change_completes(pipe)


def test_mlflow_stopped_mid_promotion(pipe):
    """MLflow stops right after the aliases moved: the router still switches (Triton only), but the
    promotion can neither journal that step nor undo itself. Registry and router agree meanwhile (both
    v2); once MLflow is back, recovery (after the dead change's lease expires) undoes the unjournaled
    change: v1 is champion and served again."""
    before = captured(pipe)
    with request_load(pipe) as clients:
        resume, thread, outcome, restore = paused_promotion(pipe, "aliases_moved")
        mlflow_service(pipe.settings).stop()
        resume.set()
        thread.join(600)
        restore()
        assert "error" in outcome, outcome
        answered_meanwhile = answering_version(pipe)  # the router switch needs Triton only: it happened
        mlflow_service(pipe.settings).start(timeout_s=120)
        pending = journal.read(context(pipe.settings).client, MODEL)
        champion_meanwhile = registry.alias_state(context(pipe.settings).client, MODEL).champion
        recovered = transitions.recover(context(pipe.settings), "chaos")
    row = record(
        "MLflow stopped mid-promotion (after 'aliases_moved')",
        pipe,
        clients,
        before,
        captured(pipe),
        pending_after_fault=pending.step if pending else None,
        recovered=recovered,
    )
    assert pending is not None and pending.step == "aliases_moved"
    assert answered_meanwhile == champion_meanwhile == 2
    assert_healthy(row)
    assert row["registry_champion"] == 1 and lease.read_holder(context(pipe.settings).client, MODEL) is None
    next_change_completes(pipe)


def test_triton_restart_reloads_the_champion_and_keeps_every_capture(pipe):
    """A graceful restart: the router's finalize writes its buffered captures, Triton loads the
    champion (and the shadowed challenger) from the repository at start."""
    with request_load(pipe) as clients:
        time.sleep(3)
        cutoff = pd.Timestamp.now(tz="UTC")
        clients.down()
        triton(pipe.settings).stop()
        on_disk = captured(pipe, until=cutoff)  # what was mirrored before the stop, all written by finalize
        restart_triton(pipe.settings)
        clients.up()
        time.sleep(3)
    ctx = context(pipe.settings)
    row = record(
        "Triton stopped and restarted", pipe, clients, on_disk, captured(pipe, until=cutoff),
        served_after_restart=ctx.triton.ready_versions(ctx.versions_model),
    )  # fmt: skip
    assert on_disk > 0 and row["served_after_restart"] == [1, 2]
    assert_healthy(row)


def test_a_full_capture_disk_loses_no_request_and_no_record(pipe, tmp_path):
    """The capture store on a 2 MB tmpfs filled to the brim: every client request is still answered;
    records wait in the router's buffer and are written once space is free. Every record the router
    captured is on disk or counted in ``ccp_shadow_dropped_total``."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mount)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a size-limited tmpfs here ({done.stderr.strip()}); the unit tests cover a failing write")
    try:
        ctx = context(pipe.settings).with_serving(capture_dir=mount, capture_flush_seconds=0.5)
        sync_serving(ctx)
        filler = mount / "filler"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)  # until ENOSPC
        captured_before, dropped_before = _counter(ctx, "ccp_capture_records_total"), _counter(ctx, "ccp_shadow_dropped_total")
        with request_load(ctx) as clients:
            time.sleep(5)
            nothing_written = read_captures(mount, MODEL).empty
            filler.unlink()
            time.sleep(3)
        time.sleep(3)  # the last records' flush
        captured_records = _counter(ctx, "ccp_capture_records_total") - captured_before
        dropped = _counter(ctx, "ccp_shadow_dropped_total") - dropped_before
        on_disk = len(read_captures(mount, MODEL))
        row = record(
            "capture disk full", pipe, clients, int(captured_records - dropped), on_disk,
            captured_by_router=captured_records, dropped_counted=dropped, written_after_space_freed=on_disk,
        )  # fmt: skip
        assert nothing_written and captured_records > 0 and not list(mount.rglob(".*.tmp"))
        assert on_disk == captured_records - dropped, row
        assert row["requests_failed"] == 0
        assert_healthy(row)
    finally:
        sync_serving(context(pipe.settings))  # back to the usual capture folder
        subprocess.run(["umount", "-l", str(mount)], capture_output=True)


def test_mlflow_stopped_mid_record_then_the_cycle_completes(pipe, monkeypatch):
    """A whole cycle in-process (ingest, train, register, deploy, offline + online evidence, gate, record,
    promote or keep): MLflow stops while the decision is being recorded (after its metrics, tags and
    decision.json, before the comparison report). Recording fails with a clear error while the champion
    keeps serving; once MLflow is back, the retried record and the rest of the cycle complete."""
    from champion_challenger.cycle import recording
    from champion_challenger.cycle.evidence import decide, gather_evidence
    from champion_challenger.cycle.ingest import accept_batches, claim_batches, prepare_window
    from champion_challenger.cycle.serving_deployment import deploy_challenger
    from champion_challenger.cycle.training import choose_challenger, select_candidates, train_candidate
    from champion_challenger.evaluation import comparison

    ctx, cycle = context(pipe.settings), "chaos-3"
    write_batches(ctx.store.landing, 2, start=4, seed=7, rows=400)
    accept_batches(ctx, cycle, claim_batches(ctx, cycle))
    prepared = prepare_window(ctx, cycle)
    results = [train_candidate(ctx, prepared, c) for c in select_candidates(ctx)]
    challenger = choose_challenger(ctx, prepared, results)
    deploy_challenger(ctx, challenger.version)
    evidence = gather_evidence(ctx, prepared, challenger)
    decision = decide(ctx, evidence)
    write = comparison.write_comparison

    def stop_mlflow_then_write(*args, **kwargs):
        mlflow_service(pipe.settings).stop()
        return write(*args, **kwargs)

    before = captured(pipe)
    with request_load(pipe) as clients:
        monkeypatch.setattr(comparison, "write_comparison", stop_mlflow_then_write)
        with pytest.raises(Exception) as failure:
            recording.record_decision(ctx, evidence, decision)
        monkeypatch.undo()
        assert answering_version(pipe) == 1  # the champion keeps serving while MLflow is down
        mlflow_service(pipe.settings).start(timeout_s=120)
        ctx = context(pipe.settings)
        recording.record_decision(ctx, evidence, decision)  # the task's retry
        if decision.action == "promote":
            transitions.promote(ctx, challenger.version, "chaos", decision.reason, evidence.cycle_run_id)
        else:
            transitions.keep_champion(ctx, challenger.version, decision)
    row = record(
        "MLflow stopped mid-record, then the cycle completes", pipe, clients, before, captured(pipe),
        record_error=repr(failure.value)[:200], decision=decision.action, challenger=challenger.version,
    )  # fmt: skip
    run = ctx.client.get_run(evidence.cycle_run_id)
    assert run.data.tags["ccp.decision.action"] == decision.action
    assert "comparison" in {a.path for a in ctx.client.list_artifacts(evidence.cycle_run_id)}
    assert_healthy(row)
    assert row["registry_champion"] == (challenger.version if decision.action == "promote" else 1)


def _counter(ctx: CycleContext, name: str) -> float:
    """A router counter summed over its labels, once every count so far is published (the router batches them)."""
    import requests

    from champion_challenger.serving.pending_counts import PUBLISH_LAG_S
    from champion_challenger.serving.triton_metrics import parse_counters

    time.sleep(PUBLISH_LAG_S)
    counters = parse_counters(requests.get(ctx.triton_metrics_url, timeout=10).text, MODEL)
    return sum(v for (counter, _), v in counters.items() if counter == name)
