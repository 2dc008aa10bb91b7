"""Ingest: validation warnings reach the task log and the cycle's MLflow run (a local MLflow store, no server)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.config.settings import load_settings
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.ingest import VALIDATION_ARTIFACT, accept_batches, claim_batches, prepare_window
from champion_challenger.data.generate import write_batches
from champion_challenger.errors import DataValidationError
from tests.conftest import REPO


@pytest.fixture
def ctx(tmp_path, monkeypatch):
    monkeypatch.setenv("CCP_HOME", str(tmp_path / "home"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    config = PipelineConfig.from_yaml(REPO / "configs/examples/multiclass/pipeline.yaml")
    config = config.model_copy(update={"data": config.data.model_copy(update={"unseen_classes": "accept"})})
    client = MlflowClient(uri)
    client.create_experiment(config.experiment_name, artifact_location=str(tmp_path / "artifacts"))
    return CycleContext(config, load_settings(), uri, "127.0.0.1:1", mlflow_client=client)


def test_warnings_go_to_the_log_and_the_cycle_run(ctx, caplog):
    paths = write_batches(ctx.store.landing, 2, seed=4, rows=120, task="multiclass")
    frame = pd.read_csv(paths[1], dtype=str)
    frame.loc[:9, "queue"] = "retention"  # a new class, accepted (unseen_classes: accept)
    frame.loc[:4, "attachments"] = None
    frame.assign(agent="x").to_csv(paths[1], index=False)
    with caplog.at_level(logging.INFO, logger="champion_challenger.cycle.ingest"):
        accepted = accept_batches(ctx, "c1", claim_batches(ctx, "c1"))
    assert len(accepted) == 2
    assert "new class 'retention' accepted" in caplog.text and "column 'agent': extra column" in caplog.text
    assert "retention" in ctx.classes
    prepared = prepare_window(ctx, "c1")
    run = ctx.client.get_run(prepared.cycle_run_id)
    assert run.data.metrics["data.validation_warnings"] == 3 and run.data.metrics["data.validation_new_classes"] == 1
    local = ctx.client.download_artifacts(prepared.cycle_run_id, VALIDATION_ARTIFACT, str(ctx.workspace("c1")))
    summary = json.loads(Path(local).read_text())
    assert summary["warnings"] == 3 and summary["new_classes"] == {"retention": 10} and summary["accepted_batches"] == 2


def test_quarantine_still_fails_the_task_after_logging(ctx):
    (path,) = write_batches(ctx.store.landing, 1, seed=4, rows=20, task="multiclass")
    pd.read_csv(path).drop(columns=["channel"]).to_csv(path, index=False)
    with pytest.raises(DataValidationError, match=r"column 'channel': missing column \(20 bad rows\)"):
        accept_batches(ctx, "c2", claim_batches(ctx, "c2"))
