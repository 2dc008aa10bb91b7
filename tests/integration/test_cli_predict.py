"""``ccp predict`` against a REAL Triton server serving a real Ludwig model behind the router:
every row scored, ids kept in order, the same answers as scoring directly through the client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from champion_challenger.cli import EXIT_USER_ERROR, main
from champion_challenger.config.ludwig_schema import load_candidate_configs, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.data.generate import BatchSpec, generate_batch, write_batches
from champion_challenger.errors import ServiceUnavailableError
from champion_challenger.serving import triton_repository
from champion_challenger.serving.batch_scoring import score_file
from champion_challenger.serving.routing import RoutingTable
from champion_challenger.serving.triton_client import TritonModelClient
from champion_challenger.training.ludwig_trainer import train_ludwig
from tests.conftest import write_test_configs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
MODEL = "cli_test_model"  # distinct from router_test, promotion_test and the e2e model
VERSIONS = triton_repository.versions_model_name(MODEL)
ROWS = 3_000


@pytest.fixture(scope="module")
def served(stack_settings, triton_server, tmp_path_factory):
    """A pipeline config for MODEL, and one trained Ludwig model as v1, the router's champion."""
    config_path = write_test_configs(tmp_path_factory.mktemp("cli-configs"), epochs=2, ludwig_configs=["ludwig/churn_mlp.yaml"])
    data = yaml.safe_load(config_path.read_text())
    data.update(model_name=MODEL, experiment_name=f"{MODEL}-experiment")
    config_path.write_text(yaml.safe_dump(data))
    config = PipelineConfig.from_yaml(config_path)
    candidates = load_candidate_configs(config)
    schema = model_schema(config, candidates)
    fit = pd.concat([generate_batch(BatchSpec(i, 800, 9, False)) for i in range(3)], ignore_index=True)
    valid = generate_batch(BatchSpec(3, 400, 9, False))
    model = train_ludwig(candidates["churn_mlp"], fit, valid, schema, tmp_path_factory.mktemp("cli-v1"), seed=1)

    repo = stack_settings.triton_repository
    triton_repository.export_version(repo, VERSIONS, 1, model.model_dir)
    triton_repository.write_model_config(repo, VERSIONS, [1])
    client = TritonModelClient(triton_server)
    client.load(VERSIONS)
    client.wait_ready(VERSIONS, [1])
    table = RoutingTable(VERSIONS, champion=1, capture_dir=str(tmp_path_factory.mktemp("cli-captures")))
    triton_repository.write_router(repo, MODEL, triton_repository.served_inputs(repo, VERSIONS, [1]), table)
    client.load(MODEL)
    client.wait_ready(MODEL, [1])
    return config_path, client, schema


@pytest.fixture
def cli_env(served, stack_settings, triton_server, monkeypatch) -> dict[str, str]:
    """The environment ``ccp`` reads, pointing at the test Triton and MODEL's config (no MLflow needed)."""
    env = {
        "CCP_HOME": str(stack_settings.home),
        "CCP_PIPELINES": str(served[0]),
        "CCP_TRITON_URL": triton_server,
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


@pytest.fixture(scope="module")
def batch_file(tmp_path_factory) -> Path:
    """A 3,000-row batch CSV written by the data generator (two --batch-size 1500 batches)."""
    (path,) = write_batches(tmp_path_factory.mktemp("cli-rows"), 1, start=11, seed=21, rows=ROWS)
    return path


def test_predict_scores_every_row_like_the_client_does(served, cli_env, batch_file, capsys):
    _, client, schema = served
    assert main(["predict", str(batch_file), "--batch-size", "1500", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    out = batch_file.with_name(f"{batch_file.stem}.predictions.csv")
    assert summary["output"] == str(out) and summary["rows"] == ROWS and summary["model"] == MODEL
    assert summary["answered_by"] == {"1": ROWS} and summary["rows_per_second"] > 0

    predictions = pd.read_csv(out, dtype={"customer_id": str})
    source = pd.read_csv(batch_file, dtype={"customer_id": str})
    assert list(predictions.columns) == ["customer_id", "probability", "prediction", "version"]
    assert len(predictions) == ROWS
    assert predictions["customer_id"].tolist() == source["customer_id"].tolist()
    assert predictions["probability"].between(0, 1).all()
    assert set(predictions["prediction"]) <= {0, 1} and (predictions["version"] == 1).all()

    direct = client.score(MODEL, source, schema, source["customer_id"], batch_size=4096)
    np.testing.assert_allclose(predictions["probability"], direct["probability"], atol=1e-6)
    assert predictions["prediction"].tolist() == direct["prediction"].tolist()
    np.testing.assert_allclose(predictions["probability"], client.predict_proba(VERSIONS, source, schema, version=1), atol=1e-6)


def test_predict_with_a_version_writes_parquet_from_that_version(served, cli_env, batch_file, tmp_path, capsys):
    _, client, schema = served
    out = tmp_path / "v1.parquet"
    assert main(["predict", str(batch_file), "--version", "1", "--out", str(out), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert f"scored {ROWS:,} rows with {VERSIONS}" in text and str(out) in text
    predictions = pd.read_parquet(out)
    source = pd.read_csv(batch_file, dtype={"customer_id": str})
    assert predictions["customer_id"].tolist() == source["customer_id"].tolist()
    assert (predictions["version"] == 1).all()
    np.testing.assert_allclose(predictions["probability"], client.predict_proba(VERSIONS, source, schema, version=1), atol=1e-6)


def test_parquet_input_without_ids_and_overwrite(served, cli_env, tmp_path, capsys):
    rows = generate_batch(BatchSpec(30, 300, 2, True)).drop(columns=["customer_id", "churned"])
    path = tmp_path / "rows.parquet"
    rows.to_parquet(path)
    for extra in ([], ["--overwrite"]):
        assert main(["predict", str(path), "--batch-size", "64", *extra]) == 0
    assert main(["predict", str(path)]) == EXIT_USER_ERROR
    assert "already exists" in capsys.readouterr().err
    predictions = pd.read_parquet(tmp_path / "rows.predictions.parquet")
    assert list(predictions.columns) == ["probability", "prediction", "version"] and len(predictions) == 300


def test_a_version_triton_does_not_serve_is_refused(served, cli_env, batch_file, tmp_path, capsys):
    assert main(["predict", str(batch_file), "--version", "9", "--out", str(tmp_path / "x.csv")]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert f"version 9 of '{MODEL}' is not served by Triton (served: [1])" in err
    assert not (tmp_path / "x.csv").exists()


def test_a_model_without_a_router_is_a_service_error(served, batch_file, tmp_path):
    _, client, schema = served
    with pytest.raises(ServiceUnavailableError, match=r"does not serve 'cli_absent_model'; deploy the champion with `ccp serve`"):
        score_file(client, schema, "cli_absent_model", batch_file, tmp_path / "x.csv")


def test_the_installed_command_prints_only_json_on_stdout(served, cli_env, batch_file, tmp_path):
    out = tmp_path / "scores.csv"
    ccp = Path(sys.executable).parent / "ccp"
    done = subprocess.run(
        [str(ccp), "predict", str(batch_file), "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        env={**os.environ, **cli_env},
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["rows"] == ROWS
    assert "scoring" not in done.stderr  # stderr is a pipe: no progress bar
    assert len(pd.read_csv(out)) == ROWS
