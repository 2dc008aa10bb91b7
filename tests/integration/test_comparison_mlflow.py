"""The cycle's comparison logged to a REAL MLflow server, and the version description that points at it."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from champion_challenger.evaluation.comparison import (
    TABLE_METRICS,
    TASK_PLOTS,
    log_comparison,
    run_url,
    table_metrics,
    version_description,
    write_comparison,
)
from champion_challenger.task import score_cells

pytestmark = pytest.mark.integration

PLOTS = {"roc_curves.png", "pr_curves.png", "confusion_matrices.png", "calibration.png", "slice_metrics.png"}


@pytest.fixture
def client(mlflow_server) -> MlflowClient:
    mlflow.set_tracking_uri(mlflow_server)  # MlflowClient.load_table searches runs through the fluent API
    return MlflowClient(mlflow_server, mlflow_server)


@pytest.fixture
def cycle_run(client) -> tuple[str, str]:
    """``(experiment_id, run_id)`` of a fresh cycle run."""
    name = "comparison-tests"
    exp = client.get_experiment_by_name(name)
    exp_id = exp.experiment_id if exp else client.create_experiment(name)
    return exp_id, client.create_run(exp_id, run_name=f"cycle {uuid.uuid4().hex[:6]}").info.run_id


def paired_frame(n: int = 600, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    signal = y + rng.normal(0, 1, n)
    return pd.DataFrame(
        {
            "churned": y,
            "contract_type": rng.choice(["month-to-month", "one_year", "two_year"], n),
            "challenger": 1 / (1 + np.exp(-1.5 * (signal - 0.5))),
            "champion": 1 / (1 + np.exp(-1.0 * (signal - 0.5))),
        }
    )


DECISION = {
    "action": "promote",
    "reason": "roc_auc gain with confidence",
    "metric": "roc_auc",
    "champion_value": 0.74,
    "challenger_value": 0.77,
    "checks": [
        {
            "name": "primary:roc_auc",
            "passed": True,
            "reason": "gain +0.03",
            "champion": 0.74,
            "challenger": 0.77,
            "ci_low": 0.01,
            "ci_high": 0.05,
        }
    ],
}


def artifact_names(client: MlflowClient, run_id: str) -> set[str]:
    return {f.path.rsplit("/", 1)[-1] for f in client.list_artifacts(run_id, "comparison")}


def test_comparison_is_logged_with_the_table_and_every_plot(client, cycle_run, tmp_path):
    _, run_id = cycle_run
    summary = write_comparison(paired_frame(), "churned", ["contract_type"], tmp_path, 5, 7, DECISION)
    logged = log_comparison(client, run_id, summary)
    names = artifact_names(client, run_id)
    assert {"comparison_table.json", "comparison_table.csv", "decision.md", *PLOTS} <= names
    assert {f"comparison/{name}" for name in names} == set(logged)
    tables = json.loads(client.get_run(run_id).data.tags["mlflow.loggedArtifacts"])
    assert {"path": "comparison/comparison_table.json", "type": "table"} in tables


def test_logged_table_reads_back_through_load_table(client, cycle_run, tmp_path):
    exp_id, run_id = cycle_run
    summary = write_comparison(paired_frame(), "churned", ["contract_type"], tmp_path, 5, 7, DECISION)
    log_comparison(client, run_id, summary)
    table = client.load_table(exp_id, "comparison/comparison_table.json", run_ids=[run_id])
    assert table["metric"].tolist() == list(TABLE_METRICS)
    assert table.set_index("metric").loc["roc_auc", "ci_low"] == pytest.approx(0.01)


def test_logging_twice_does_not_append_rows(client, cycle_run, tmp_path):
    """A retried task logs the same table again: log_table would append, the retry replaces."""
    exp_id, run_id = cycle_run
    summary = write_comparison(paired_frame(), "churned", [], tmp_path, 5, 7, DECISION)
    log_comparison(client, run_id, summary)
    log_comparison(client, run_id, summary)
    table = client.load_table(exp_id, "comparison/comparison_table.json", run_ids=[run_id])
    assert len(table) == len(TABLE_METRICS)
    assert "slice_metrics.png" not in artifact_names(client, run_id)


def test_first_cycle_logs_the_challenger_alone(client, cycle_run, tmp_path):
    _, run_id = cycle_run
    frame = paired_frame().drop(columns="champion")
    summary = write_comparison(frame, "churned", ["contract_type"], tmp_path, None, 1)
    log_comparison(client, run_id, summary)
    assert {"comparison_table.json", *PLOTS} <= artifact_names(client, run_id)


def test_version_description_is_stored_on_the_model_version(client, cycle_run, mlflow_server):
    exp_id, run_id = cycle_run
    name = f"comparison_{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    version = client.create_model_version(name, f"runs:/{run_id}/model", run_id).version
    url = run_url(mlflow_server, exp_id, run_id)
    text = version_description(DECISION, {"versions": {"champion": 5, "challenger": 7}, "rows": 600}, url)
    client.update_model_version(name, version, description=text)
    assert client.get_model_version(name, version).description == text
    assert url.endswith(f"/#/experiments/{exp_id}/runs/{run_id}")


CLASSES = ("billing", "outage", "sales")


def multiclass_paired(path, n: int = 600, seed: int = 4) -> pd.DataFrame:
    """Paired multiclass scores as ``paired_scores.parquet`` holds them (list columns), read back."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, len(CLASSES), n)

    def model(skill: float) -> list:
        logits = rng.normal(0, 1, (n, len(CLASSES)))
        logits[np.arange(n), y] += skill
        exp = np.exp(logits)
        return score_cells(exp / exp.sum(axis=1, keepdims=True))

    frame = pd.DataFrame({"topic": np.array(CLASSES)[y], "channel": rng.choice(["email", "phone"], n)})
    frame["challenger"], frame["champion"] = model(2.0), model(1.5)
    frame.to_parquet(path, index=False)
    return pd.read_parquet(path)


MULTICLASS_DECISION = {
    "action": "reject",
    "reason": "guardrail recall of class 'outage' dropped",
    "metric": "macro_f1",
    "champion_value": 0.70,
    "challenger_value": 0.78,
    "checks": [
        {"name": "primary:macro_f1", "passed": True, "reason": "gain +0.08", "champion": 0.70, "challenger": 0.78,
         "ci_low": 0.05, "ci_high": 0.11},
        {"name": "guardrail:class_recall=outage", "passed": False, "reason": "outage recall dropped", "champion": 0.8,
         "challenger": 0.7, "ci_low": None, "ci_high": None},
    ],
}  # fmt: skip


def test_multiclass_comparison_is_logged_and_its_table_reads_back(client, cycle_run, tmp_path):
    exp_id, run_id = cycle_run
    paired = multiclass_paired(tmp_path / "paired_scores.parquet")
    summary = write_comparison(
        paired, "topic", ["channel"], tmp_path / "comparison", 5, 7, MULTICLASS_DECISION, task="multiclass", classes=CLASSES
    )
    logged = log_comparison(client, run_id, summary)
    names = artifact_names(client, run_id)
    assert {"comparison_table.json", "decision.md", "slice_metrics.png", *(f"{p}.png" for p in TASK_PLOTS["multiclass"])} <= names
    assert {f"comparison/{name}" for name in names} == set(logged)
    table = client.load_table(exp_id, "comparison/comparison_table.json", run_ids=[run_id]).set_index("metric")
    assert list(table.index) == list(table_metrics("multiclass", CLASSES))
    assert table.loc["recall[outage]", "check"] == "FAIL guardrail:class_recall=outage: outage recall dropped"
    assert table.loc["macro_f1", "ci_low"] == pytest.approx(0.05)
    story = client.download_artifacts(run_id, "comparison/decision.md", str(tmp_path / "down"))
    assert "class probabilities over 3 classes" in Path(story).read_text()


def test_regression_comparison_is_logged_and_its_table_reads_back(client, cycle_run, tmp_path):
    exp_id, run_id = cycle_run
    rng = np.random.default_rng(5)
    y = rng.normal(100, 20, 800)
    paired = pd.DataFrame(
        {"price": y, "region": rng.choice(["north", "south"], 800), "challenger": y + rng.normal(0, 5, 800),
         "champion": y + rng.normal(0, 8, 800)}
    )  # fmt: skip
    decision = {**DECISION, "metric": "rmse", "checks": [{**DECISION["checks"][0], "name": "primary:rmse"}]}
    summary = write_comparison(paired, "price", ["region"], tmp_path, 5, 7, decision, task="regression")
    log_comparison(client, run_id, summary)
    assert {"comparison_table.json", "slice_metrics.png", *(f"{p}.png" for p in TASK_PLOTS["regression"])} <= artifact_names(
        client, run_id
    )
    table = client.load_table(exp_id, "comparison/comparison_table.json", run_ids=[run_id]).set_index("metric")
    assert list(table.index) == ["rmse", "mae", "r2", "smape"]
    assert table.loc["rmse", "better"] == "challenger"
    assert (table.loc["rmse", "ci_low"], table.loc["rmse", "ci_high"]) == (pytest.approx(-0.05), pytest.approx(-0.01))
