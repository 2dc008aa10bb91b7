"""``ccp init`` and ``ccp generate-data --task`` from the command line: JSON output and exit codes."""

from __future__ import annotations

import json
import re

import pytest

from champion_challenger.cli import EXIT_USER_ERROR, main
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.data.generate import GENERATORS, BatchSpec
from tests.conftest import REPO


@pytest.fixture
def home(monkeypatch, tmp_path):
    monkeypatch.setenv("CCP_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CCP_PIPELINES", str(REPO / "configs" / "pipelines" / "churn_classifier.yaml"))
    return tmp_path / "home"


def test_init_json_says_what_was_inferred_and_lands_the_file(home, tmp_path, capsys):
    data = tmp_path / "tickets.csv"
    GENERATORS["multiclass"](BatchSpec(0, 120, 1, False)).to_csv(data, index=False)
    argv = ["init", "--data", str(data), "--target", "queue", "--name", "tickets v2", "--out", str(tmp_path / "cfg"), "--json"]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["task"] == "multiclass" and out["model_name"] == "tickets_v2" and out["id_column"] == "ticket_id"
    assert out["landed"] == str(home / "data" / "tickets_v2" / "landing" / "tickets.csv")
    assert PipelineConfig.from_yaml(out["pipeline_config"]).task == "multiclass"


def test_init_text_prints_next_steps(home, tmp_path, capsys):
    data = tmp_path / "churn.csv"
    GENERATORS["binary"](BatchSpec(0, 80, 1, False)).to_csv(data, index=False)
    assert main(["init", "--data", str(data), "--target", "churned", "--out", str(tmp_path / "cfg"), "--no-land"]) == 0
    text = capsys.readouterr().out
    assert f"CCP_PIPELINES={tmp_path / 'cfg' / 'pipeline.yaml'} make up" in text and "Airflow UI" in text
    assert "not landed (--no-land)" in text and not home.exists()


@pytest.mark.parametrize(
    ("columns", "extra", "message"),
    [
        pytest.param({"created_at": "date"}, [], r"no timestamp column: .* --timestamp-column COL", id="no-timestamp"),
        pytest.param({}, ["--timestamp-column", "when"], r"no column 'when' in the file", id="unknown-timestamp-column"),
        pytest.param({}, ["--target", "nothing"], r"no column 'nothing' in the file", id="unknown-target"),
    ],
)
def test_init_errors_exit_2_naming_the_problem(home, tmp_path, capsys, columns, extra, message):
    frame = GENERATORS["multiclass"](BatchSpec(0, 50, 1, False))
    if columns:
        frame["created_at"] = "someday"
    data = tmp_path / "t.csv"
    frame.to_csv(data, index=False)
    argv = ["init", "--data", str(data), "--target", "queue", "--out", str(tmp_path / "cfg"), "--json", *extra]
    assert main(argv) == EXIT_USER_ERROR
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.startswith("error: ")
    assert re.search(message, captured.err), captured.err
    assert not (tmp_path / "cfg").exists()


@pytest.mark.parametrize(
    ("task", "target"),
    [
        pytest.param("multiclass", "queue", id="multiclass"),
        pytest.param("regression", "units_sold", id="regression"),
    ],
)
def test_generate_data_task(home, tmp_path, capsys, task, target):
    out = tmp_path / "landing"
    assert main(["generate-data", "--task", task, "--batches", "2", "--rows", "10", "--out", str(out), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["task"] == task and len(data["files"]) == 2
    assert target in (out / "batch_00000_20260101T0000.csv").read_text().splitlines()[0].split(",")


def test_generate_data_defaults_to_the_pipeline_configs_task(home, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("CCP_PIPELINES", str(REPO / "configs/examples/regression/pipeline.yaml"))
    assert main(["generate-data", "--batches", "1", "--rows", "5", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["task"] == "regression" and data["out_dir"] == str(home.resolve() / "data" / "demand" / "landing")


def test_generate_data_refuses_a_task_the_pipelines_landing_folder_would_quarantine(home, capsys):
    assert main(["generate-data", "--task", "regression", "--batches", "1"]) == EXIT_USER_ERROR
    err = capsys.readouterr().err
    assert "trains a binary model" in err and "pass --out FOLDER" in err and "configs/examples/regression/pipeline.yaml" in err
    assert not home.exists()
