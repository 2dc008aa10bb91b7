"""Promotion as a transaction, rollback, the ledger and the post-promotion watch, against REAL
MLflow and Triton servers with real Ludwig models."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tritonclient.http as httpclient
import yaml

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.cycle import transitions
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.serving_deployment import sync_serving
from champion_challenger.cycle.training import train_challenger_in_process
from champion_challenger.cycle.watch import watch_champion
from champion_challenger.data.generate import write_batches
from champion_challenger.errors import ChampionLeaseError, PendingTransitionError
from champion_challenger.registry import journal, lease, ledger
from champion_challenger.registry import model_registry as registry
from tests.conftest import write_test_configs
from tests.integration.request_load import RequestLoad

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]
MODEL = "promotion_test"


@pytest.fixture(scope="module")
def pipeline(stack_settings, mlflow_server, triton_server, tmp_path_factory) -> CycleContext:
    """Two registered versions of a small model: v1 champion, v2 challenger loaded in Triton."""
    config_path = write_test_configs(
        tmp_path_factory.mktemp("promotion-configs"), epochs=1, ludwig_configs=["ludwig/churn_mlp.yaml"]
    )
    data = yaml.safe_load(config_path.read_text())
    data.update(model_name=MODEL, experiment_name=f"{MODEL}-experiment")
    data["watch"] = {"min_requests": 10, "max_error_rate": 0.2, "window_hours": 1}
    data["changes"] = {"lease_seconds": 3, "wait_seconds": 60}  # a killed promoter's lease expires in seconds
    config_path.write_text(yaml.safe_dump(data))
    settings = dataclasses.replace(stack_settings, pipelines=config_path)
    pipe = CycleContext(PipelineConfig.from_yaml(config_path), settings, mlflow_server, triton_server)
    for cycle, start in (("promo-1", 0), ("promo-2", 2)):
        write_batches(pipe.store.landing, 2, start=start, seed=4, rows=400)
        if train_challenger_in_process(pipe, cycle) == 1:
            transitions.promote(pipe, 1, "test", "first champion")
    sync_serving(pipe)
    assert registry.alias_state(pipe.client, MODEL) == registry.AliasState(champion=1, challenger=2, previous=None)
    return pipe


def default_version(pipe: CycleContext) -> int:
    """The version answering a client that names no version (the router's ``version`` output)."""
    return int(pipe.triton.score(MODEL, rows(pipe, 1), pipe.schema)["version"].iloc[0])


def rows(pipe: CycleContext, n: int = 8) -> pd.DataFrame:
    return pd.read_parquet(pipe.workspace("promo-2") / "holdout.parquet").head(n)


def request_load(pipe: CycleContext, threads: int = 3) -> RequestLoad:
    """Clients sending 8 holdout rows to the router, naming no version."""
    return RequestLoad(pipe.triton_url, MODEL, rows(pipe), pipe.schema, threads)


def test_promotion_and_rollback_under_load_with_a_ledger(pipeline):
    with request_load(pipeline) as clients:
        entry = transitions.promote(pipeline, 2, "alice", "better on the holdout", evidence_run_id="run-123")
        state = registry.alias_state(pipeline.client, MODEL)
        assert state == registry.AliasState(champion=2, challenger=None, previous=1)
        assert pipeline.triton.ready_versions(pipeline.versions_model) == [1, 2] and default_version(pipeline) == 2
        transitions.rollback(pipeline, "bob", "complaints from support")
        assert registry.alias_state(pipeline.client, MODEL) == registry.AliasState(champion=1, challenger=None, previous=2)
        assert default_version(pipeline) == 1
        assert pipeline.triton.ready_versions(pipeline.versions_model) == [1, 2]  # v2 stays loaded for instant rollback
    assert clients.failed == [] and clients.ok > 20
    assert entry["action"] == "promote" and entry["to_version"] == 2
    events = ledger.history(pipeline.client, pipeline.config.experiment_name, limit=2)
    assert [(e.action, e.from_version, e.to_version, e.actor) for e in events] == [
        ("rollback", 2, 1, "bob"),
        ("promote", 1, 2, "alice"),
    ]
    assert events[1].evidence_run_id == "run-123"


def test_loading_a_version_holds_back_no_client(pipeline, monkeypatch):
    """While Triton loads a version (seconds for a Ludwig model), every client connection keeps
    being answered. Triton's HTTP workers are few (8) and a load over HTTP holds one of them for
    the whole load, so the pipeline loads over gRPC; eight HTTP connections cover every worker."""
    sync_serving(pipeline, [1])
    assert pipeline.triton.ready_versions(pipeline.versions_model) == [1]
    loads, load = [], pipeline.triton.load

    def timed_load(model_name):
        began = time.monotonic()
        load(model_name)
        loads.append((model_name, began, time.monotonic()))

    monkeypatch.setattr(pipeline.triton, "load", timed_load)
    with request_load(pipeline, threads=8) as clients:
        sync_serving(pipeline, [1, 2])
    assert pipeline.triton.ready_versions(pipeline.versions_model) == [1, 2]
    assert clients.failed == []
    [(_, began, ended)] = [entry for entry in loads if entry[0] == pipeline.versions_model]
    waiting = [i for i, times in enumerate(clients.answered) if not any(began < t < ended for t in times)]
    assert waiting == [], f"connections {waiting} got no answer during the {ended - began:.1f}s load"


@pytest.mark.parametrize(
    "fail_at",
    [
        pytest.param("smoke_test", id="after-load"),
        pytest.param("move_aliases", id="before-alias-move"),
        pytest.param("switch", id="after-alias-move"),
        pytest.param("ledger", id="after-triton-switch"),
    ],
)
def test_failure_at_any_step_restores_the_earlier_state(pipeline, monkeypatch, fail_at):
    before = registry.alias_state(pipeline.client, MODEL)
    assert before.champion == 1
    target_version = 2
    boom = RuntimeError(f"injected failure at {fail_at}")

    if fail_at == "smoke_test":
        monkeypatch.setattr(transitions, "smoke_test", lambda ctx, version: (_ for _ in ()).throw(boom))
    elif fail_at == "move_aliases":
        original_move = registry.move_aliases
        calls = []

        def move(*args, **kwargs):
            calls.append(1)
            if len(calls) == 1:
                raise boom
            return original_move(*args, **kwargs)

        monkeypatch.setattr(registry, "move_aliases", move)
    elif fail_at == "switch":
        calls = []

        def sync(ctx, versions=None, state=None):
            calls.append(versions)
            if len(calls) == 2:  # the switch after the aliases moved
                raise boom
            return sync_serving(ctx, versions, state)

        monkeypatch.setattr(transitions, "sync_serving", sync)
    else:
        monkeypatch.setattr(ledger, "append", lambda *a, **k: (_ for _ in ()).throw(boom))

    with request_load(pipeline) as clients, pytest.raises(RuntimeError, match="injected failure"):
        transitions.promote(pipeline, target_version, "test", f"fault injection {fail_at}")
    monkeypatch.undo()
    assert clients.failed == []
    assert registry.alias_state(pipeline.client, MODEL) == before
    assert default_version(pipeline) == before.champion


@pytest.mark.parametrize("step", journal.STEPS)
def test_a_promotion_killed_after_any_step_is_recovered(pipeline, step):
    """SIGKILL the promoting process right after each journaled step: clients never fail, and
    recovery leaves ``@champion`` equal to the version the router answers with."""
    before = registry.alias_state(pipeline.client, MODEL)
    assert before.champion == 1
    settings = {k: str(v) for k, v in dataclasses.asdict(pipeline.settings).items()}
    settings.update(
        triton_grpc_port=pipeline.settings.triton_grpc_port,
        triton_metrics_port=pipeline.settings.triton_metrics_port,
        airflow_port=pipeline.settings.airflow_port,
        mlflow_port=pipeline.settings.mlflow_port,
    )
    killer = Path(__file__).with_name("promotion_killer.py")
    with request_load(pipeline) as clients:
        proc = subprocess.run(
            [sys.executable, str(killer), json.dumps({"settings": settings, "version": 2, "kill_after": step})],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
        pending = journal.read(pipeline.client, MODEL)
        assert pending is not None and pending.step == step and pending.target.champion == 2
        with pytest.raises(PendingTransitionError, match="did not finish"):  # nothing else may start meanwhile
            journal.begin(pipeline.client, MODEL, pending)
        outcome = transitions.recover(pipeline)
    assert clients.failed == [] and clients.ok > 0
    finished = step in ("router_switched", "ledgered")
    assert outcome["outcome"] == ("finished" if finished else "undone")
    champion = registry.alias_state(pipeline.client, MODEL).champion
    assert champion == (2 if finished else 1) == default_version(pipeline)
    assert journal.read(pipeline.client, MODEL) is None
    if finished:  # the ledger holds the promotion exactly once
        events = ledger.history(pipeline.client, pipeline.config.experiment_name, limit=2)
        assert events[0].to_version == 2 and events[0].actor == "killer"
        assert not (events[1].to_version == 2 and events[1].actor == "killer" and events[1].at >= pending.started_at)
        transitions.rollback(pipeline, "test", "reset after the kill test")
    assert registry.alias_state(pipeline.client, MODEL).champion == 1


def _undecodable_request(client, model: str) -> list:
    inputs = []
    for tensor in client.get_model_metadata(model)["inputs"]:
        text = tensor["datatype"] == "BYTES"
        value = np.array([[b"\xff\xfe"]], dtype=object) if text else np.array([[1.0]], dtype=np.float32)
        item = httpclient.InferInput(tensor["name"], [1, 1], tensor["datatype"])
        item.set_data_from_numpy(value)
        inputs.append(item)
    return inputs


def test_watch_rolls_back_a_failing_champion(pipeline):
    transitions.promote(pipeline, 2, "carol", "watch test")
    assert watch_champion(pipeline)["action"] == "none"  # no traffic yet
    client = httpclient.InferenceServerClient(pipeline.triton_url)
    for _ in range(15):  # text features that are not UTF-8 fail inside version 2
        with pytest.raises(Exception, match="invalid request: UnicodeDecodeError"):
            client.infer(pipeline.versions_model, _undecodable_request(client, pipeline.versions_model), model_version="2")
    outcome = watch_champion(pipeline, actor="watch")
    assert outcome["action"] == "auto_rollback", outcome
    assert "error rate" in outcome["reason"]
    assert registry.alias_state(pipeline.client, MODEL).champion == 1
    assert default_version(pipeline) == 1
    events = ledger.history(pipeline.client, pipeline.config.experiment_name, limit=2)
    assert [(e.action, e.to_version) for e in events] == [("auto_rollback", 1), ("promote", 2)]


def _with_wait(pipe: CycleContext, seconds: float) -> CycleContext:
    """Another process's view of the pipeline: its own clients, waiting ``seconds`` for the lease."""
    changes = pipe.config.changes.model_copy(update={"wait_seconds": seconds})
    return CycleContext(pipe.config.model_copy(update={"changes": changes}), pipe.settings, pipe.tracking_uri, pipe.triton_url)


def test_the_watch_leaves_a_promotion_between_steps_alone(pipeline, monkeypatch):
    """Driven deterministically: the promotion pauses right after 'loaded' (v2 loaded, aliases not moved
    yet) and the watch runs then. Its recovery used to undo such a promotion; now the watch answers
    busy, naming the holder, and the promotion completes untouched."""
    assert registry.alias_state(pipeline.client, MODEL).champion == 1
    paused, resume, mark = threading.Event(), threading.Event(), journal.mark

    def pausing(client, model, pending, step):
        recorded = mark(client, model, pending, step)
        if step == "loaded" and threading.current_thread().name == "promoter":
            paused.set()
            resume.wait(300)
        return recorded

    monkeypatch.setattr(journal, "mark", pausing)
    done: dict = {}
    promoter = threading.Thread(  # its own clients: a Triton HTTP client belongs to the thread that made it
        target=lambda: done.update(transitions.promote(_with_wait(pipeline, 60), 2, "alice", "lease test")),
        name="promoter",
        daemon=True,
    )
    promoter.start()
    try:
        assert paused.wait(300), "the promotion never reached 'loaded'"
        watcher = _with_wait(pipeline, 2)
        outcome = watch_champion(watcher, actor="watch")
        with pytest.raises(ChampionLeaseError, match=r"held by alice on .*\(promote, since"):
            transitions.recover(watcher)
        pending = journal.read(pipeline.client, MODEL)
    finally:
        resume.set()
        promoter.join(300)
    assert outcome["action"] == "busy" and "held by alice" in outcome["reason"], outcome
    assert pending is not None and pending.step == "loaded"  # untouched while its owner was alive
    assert done["to_version"] == 2 and done["actor"] == "alice"
    assert registry.alias_state(pipeline.client, MODEL).champion == 2 == default_version(pipeline)
    assert journal.read(pipeline.client, MODEL) is None and lease.read_holder(pipeline.client, MODEL) is None
    transitions.rollback(pipeline, "test", "reset after the lease test")
    assert registry.alias_state(pipeline.client, MODEL).champion == 1


def test_two_concurrent_ccp_promotes_one_wins_and_the_other_names_the_holder(pipeline, tmp_path):
    """The first ``ccp promote`` pauses after 'loaded' (deterministic overlap); a second one meanwhile
    fails after its --wait, naming the first as holder; the first completes."""
    settings = pipeline.settings
    env = {
        **os.environ,
        "CCP_HOME": str(settings.home),
        "CCP_PIPELINES": str(settings.pipeline_config),
        "MLFLOW_TRACKING_URI": pipeline.tracking_uri,
        "CCP_TRITON_URL": pipeline.triton_url,
        "CCP_TRITON_GRPC_PORT": str(settings.triton_grpc_port),
        "CCP_TRITON_METRICS_PORT": str(settings.triton_metrics_port),
    }
    paused, resume = tmp_path / "paused", tmp_path / "resume"
    first_args = {
        "argv": ["promote", "--version", "2", "--actor", "alice", "--reason", "first", "--json"],
        "pause_after": "loaded",
        "paused_file": str(paused),
        "resume_file": str(resume),
    }
    helper = Path(__file__).with_name("paused_cli.py")
    first = subprocess.Popen(
        [sys.executable, str(helper), json.dumps(first_args)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 300
        while not paused.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert paused.exists(), "the first promote never reached 'loaded'"
        ccp = Path(sys.executable).parent / "ccp"
        second = subprocess.run(
            [str(ccp), "promote", "--version", "2", "--actor", "bob", "--reason", "second", "--wait", "1", "--json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:
        resume.touch()
        out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err[-3000:]
    assert json.loads(out)["to_version"] == 2 and json.loads(out)["actor"] == "alice"
    assert second.returncode != 0 and second.stdout == ""
    assert "another champion change of promotion_test is running: held by alice on" in second.stderr, second.stderr
    assert "(manual_promote, since" in second.stderr
    assert registry.alias_state(pipeline.client, MODEL).champion == 2 == default_version(pipeline)
    events = ledger.history(pipeline.client, pipeline.config.experiment_name, limit=1)
    assert [(e.action, e.to_version, e.actor) for e in events] == [("manual_promote", 2, "alice")]
    transitions.rollback(pipeline, "test", "reset after the concurrent promote test")
    assert registry.alias_state(pipeline.client, MODEL).champion == 1
