"""Retention against a REAL MLflow registry: old captures and workspaces go, what an open shadow window
reads stays, and nothing goes while a champion change is pending."""

from __future__ import annotations

import dataclasses
import os
import uuid
from datetime import UTC, datetime, timedelta

import mlflow
import pytest
import yaml
from mlflow import MlflowClient

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.retention import prune
from champion_challenger.payloads import AliasState
from champion_challenger.registry import journal
from champion_challenger.registry import model_registry as registry
from champion_challenger.serving.capture import partition_dir
from tests.conftest import write_test_configs

pytestmark = pytest.mark.integration


@pytest.fixture
def pipe(stack_settings, mlflow_server, tmp_path) -> CycleContext:
    path = write_test_configs(tmp_path / "configs")
    data = yaml.safe_load(path.read_text())
    name = f"retention_{uuid.uuid4().hex[:6]}"
    data.update(model_name=name, experiment_name=name, retention={"capture_days": 7, "run_days": 3})
    path.write_text(yaml.safe_dump(data))
    settings = dataclasses.replace(stack_settings, home=tmp_path / "home", pipelines=path)
    return CycleContext(PipelineConfig.from_yaml(path), settings, mlflow_server, stack_settings.triton_url)


def _capture(pipe: CycleContext, at: datetime) -> str:
    folder = partition_dir(pipe.capture_dir, pipe.model_name, at)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-x.parquet").write_bytes(b"p" * 100)
    return str(folder)


def _workspace(pipe: CycleContext, name: str, at: datetime) -> str:
    folder = pipe.workspace(name)
    (folder / "holdout.parquet").write_bytes(b"w" * 50)
    os.utime(folder / "holdout.parquet", (at.timestamp(), at.timestamp()))
    return str(folder)


def _register_challenger(pipe: CycleContext) -> int:
    """A registered version aliased @challenger, registered now (its shadow window starts now)."""
    client: MlflowClient = pipe.client
    mlflow.set_tracking_uri(pipe.tracking_uri)
    mlflow.set_experiment(pipe.config.experiment_name)
    with mlflow.start_run() as run:
        mlflow.log_text("a model", "model/MLmodel")
    registry.ensure_registered_model(client, pipe.model_name, "retention test")
    version = int(client.create_model_version(pipe.model_name, f"runs:/{run.info.run_id}/model", run.info.run_id).version)
    registry.set_challenger(client, pipe.model_name, version)
    return version


def test_prune_keeps_what_the_open_shadow_window_reads_and_deletes_the_rest(pipe):
    real = datetime.now(UTC)
    now = real + timedelta(days=20)  # prune as if twenty days passed since the challenger was registered
    before_window = [_capture(pipe, real - timedelta(days=30)), _capture(pipe, real - timedelta(days=2))]
    in_window = [_capture(pipe, real + timedelta(hours=1)), _capture(pipe, real + timedelta(days=15))]
    old_run, fresh_run = _workspace(pipe, "old", real - timedelta(days=10)), _workspace(pipe, "fresh", now - timedelta(days=1))
    _register_challenger(pipe)

    dry = prune(pipe, now=now, dry_run=True)
    assert sorted(dry.captures_deleted) == sorted(before_window) and dry.runs_deleted == [old_run]
    assert all(os.path.exists(p) for p in before_window + [old_run])  # a dry run deletes nothing

    report = prune(pipe, now=now)
    assert sorted(report.captures_deleted) == sorted(before_window) and report.capture_bytes_deleted == 200
    assert report.runs_deleted == [old_run] and report.run_bytes_deleted == 50
    assert datetime.fromisoformat(report.captures_kept_since) <= real + timedelta(minutes=1)
    assert not any(os.path.exists(p) for p in before_window + [old_run])
    assert all(os.path.exists(p) for p in in_window + [fresh_run])  # in the open window (one of them 20 days old)


def test_nothing_is_pruned_while_a_champion_change_is_pending(pipe):
    old = _capture(pipe, datetime.now(UTC) - timedelta(days=60))
    registry.ensure_registered_model(pipe.client, pipe.model_name, "retention test")
    state = AliasState(champion=None, challenger=None, previous=None)
    journal.begin(pipe.client, pipe.model_name, journal.PendingTransition("promote", state, state, [], "test", "pending"))
    try:
        report = prune(pipe)
    finally:
        journal.clear(pipe.client, pipe.model_name)
    assert report.skipped and "pending in the journal" in report.skipped and os.path.exists(old)
    assert prune(pipe).captures_deleted == [old] and not os.path.exists(old)
