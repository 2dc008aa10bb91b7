"""Batch file scoring without Triton: paths, reading and checking input, writing output, the schema.

Scoring through a real Triton server is tested in tests/integration/test_cli_predict.py.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest

from champion_challenger.config.ludwig_schema import load_candidate_configs, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.data.generate import BatchSpec, generate_batch
from champion_challenger.errors import ScoringInputError, ServiceUnavailableError
from champion_challenger.serving.batch_scoring import (
    ScoringSummary,
    default_output_path,
    read_rows,
    resolve_output,
    score_file,
    scoring_schema,
    write_predictions,
)
from champion_challenger.serving.triton_client import TritonModelClient
from champion_challenger.stack.processes import free_port
from tests.conftest import REPO


@pytest.fixture(scope="module")
def config() -> PipelineConfig:
    return PipelineConfig.from_yaml(REPO / "configs" / "pipelines" / "churn_classifier.yaml")


@pytest.fixture(scope="module")
def schema(config):
    return scoring_schema(config)


def test_scoring_schema_equals_the_pipeline_schema(config, schema):
    """The fast path (no Ludwig import) must give the schema the pipeline validates with Ludwig."""
    assert schema == model_schema(config, load_candidate_configs(config))


@pytest.mark.parametrize(
    "name, expected",
    [
        pytest.param("rows.csv", "rows.predictions.csv", id="csv"),
        pytest.param("rows.parquet", "rows.predictions.parquet", id="parquet"),
        pytest.param("jan.rows.pq", "jan.rows.predictions.pq", id="dotted-stem"),
    ],
)
def test_default_output_is_beside_the_input_in_the_same_format(tmp_path, name, expected):
    assert default_output_path(tmp_path / name) == tmp_path / expected


def test_output_folder_gets_the_default_name(tmp_path):
    (tmp_path / "out").mkdir()
    assert resolve_output(tmp_path / "rows.csv", tmp_path / "out") == tmp_path / "out" / "rows.predictions.csv"


def test_existing_output_needs_overwrite_and_the_input_never_is(tmp_path):
    source, out = tmp_path / "rows.csv", tmp_path / "scores.parquet"
    source.write_text("x")
    out.write_text("old")
    with pytest.raises(ScoringInputError, match=r"scores\.parquet already exists; pass --overwrite"):
        resolve_output(source, out)
    assert resolve_output(source, out, overwrite=True) == out
    with pytest.raises(ScoringInputError, match="would overwrite the input"):
        resolve_output(source, tmp_path / "." / "rows.csv", overwrite=True)


def test_csv_ids_and_categories_are_read_as_text(tmp_path, schema):
    rows = generate_batch(BatchSpec(0, 5, 1, False))
    rows["customer_id"] = ["007", "010", "1e3", "42", "0"]
    rows["contract_type"] = ["01", "one-year", "01", "two-year", "1"]
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    read = read_rows(path, schema)
    assert read["customer_id"].tolist() == ["007", "010", "1e3", "42", "0"]
    assert read["contract_type"].tolist() == ["01", "one-year", "01", "two-year", "1"]
    assert read["tenure_months"].tolist() == rows["tenure_months"].tolist()


def test_missing_numeric_values_are_allowed(tmp_path, schema):
    rows = generate_batch(BatchSpec(0, 3, 1, False)).astype({"monthly_charges": float})
    rows.loc[1, "monthly_charges"] = None
    path = tmp_path / "rows.parquet"
    rows.to_parquet(path)
    assert read_rows(path, schema)["monthly_charges"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize(
    "columns, match",
    [
        pytest.param(["payment_method"], r"missing feature column\(s\) payment_method;", id="one"),
        pytest.param(["late_payments", "internet_service"], r"late_payments, internet_service; the model needs", id="two"),
    ],
)
def test_missing_feature_columns_are_named(tmp_path, schema, columns, match):
    path = tmp_path / "rows.csv"
    generate_batch(BatchSpec(0, 3, 1, False)).drop(columns=columns).to_csv(path, index=False)
    with pytest.raises(ScoringInputError, match=match):
        read_rows(path, schema)


def test_rows_without_an_id_column_are_fine(tmp_path, schema):
    path = tmp_path / "rows.csv"
    generate_batch(BatchSpec(0, 3, 1, False)).drop(columns=["customer_id"]).to_csv(path, index=False)
    assert len(read_rows(path, schema)) == 3


@pytest.mark.parametrize("name", [pytest.param("p.csv", id="csv"), pytest.param("p.parquet", id="parquet")])
def test_predictions_are_written_whole(tmp_path, name):
    predictions = pd.DataFrame({"customer_id": ["a", "b"], "probability": [0.25, 0.75], "prediction": [0, 1], "version": [3, 3]})
    out = write_predictions(predictions, tmp_path / "sub" / name)
    read = pd.read_csv(out) if name.endswith(".csv") else pd.read_parquet(out)
    pd.testing.assert_frame_equal(read, predictions, check_dtype=False)
    assert [p.name for p in out.parent.iterdir()] == [name]  # no temporary file left


def test_summary_as_json():
    summary = ScoringSummary("in.csv", "out.csv", "churn", None, 1000, 0.5, {1: 900, 2: 100})
    data = json.loads(json.dumps(summary.as_dict()))
    assert data["rows_per_second"] == 2000.0 and data["answered_by"] == {"1": 900, "2": 100}


def test_bad_input_fails_before_triton_and_unreachable_triton_writes_nothing(tmp_path, schema):
    client = TritonModelClient(f"127.0.0.1:{free_port()}", timeout_s=5)
    with pytest.raises(ScoringInputError, match="no such file"):
        score_file(client, schema, "churn_classifier", tmp_path / "absent.csv")
    path = tmp_path / "rows.csv"
    generate_batch(BatchSpec(0, 3, 1, False)).to_csv(path, index=False)
    with pytest.raises(ServiceUnavailableError, match="unreachable"):
        score_file(client, schema, "churn_classifier", path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.csv"]
    with pytest.raises(ScoringInputError, match="batch size must be at least 1"):
        score_file(client, schema, "churn_classifier", path, batch_size=0)
