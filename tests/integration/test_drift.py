"""Real Evidently reports: feature, prediction and target drift, deliberate sampling."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config import PipelineConfig
from champion_challenger.data.generate import BatchSpec, generate_batch
from champion_challenger.drift.evidently_report import PREDICTION_COLUMN, drift_report
from champion_challenger.ludwig_schema import load_candidate_configs, model_schema

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def schema(stack_settings):
    config = PipelineConfig.from_yaml(stack_settings.pipeline_config)
    return model_schema(config, load_candidate_configs(config))


def batches(indexes, drifted: bool, seed: int = 3) -> pd.DataFrame:
    return pd.concat([generate_batch(BatchSpec(i, 1500, seed, drifted)) for i in indexes], ignore_index=True)


def champion_like(frame: pd.DataFrame) -> np.ndarray:
    """A fixed scorer standing in for the champion: more support calls and charges, more churn."""
    z = 0.6 * frame["support_calls"].astype(float) + 0.02 * frame["monthly_charges"].astype(float) - 2.5
    return 1 / (1 + np.exp(-z))


def test_drifted_data_marks_the_drifted_columns_in_the_report_json(schema, tmp_path):
    summary = drift_report(
        batches(range(4), False), batches(range(10, 12), True), schema, tmp_path, 20_000, 0.3, score=champion_like
    )
    assert summary.dataset_drift
    assert {"monthly_charges", "support_calls", "contract_type"} <= set(summary.drifted_columns)
    assert summary.prediction_drift is True
    saved = json.loads((tmp_path / "drift_summary.json").read_text())
    assert saved["drifted_columns"] == summary.drifted_columns
    evidently = json.loads((tmp_path / "drift_report.json").read_text())
    value_drift = {m["config"]["column"] for m in evidently["metrics"] if m["config"].get("type", "").endswith("ValueDrift")}
    assert set(schema.feature_names) | {PREDICTION_COLUMN, schema.target} <= value_drift
    assert (tmp_path / "drift_report.html").stat().st_size > 10_000


def test_target_drift_is_judged_when_both_sides_have_labels(schema, tmp_path):
    reference = batches(range(4), False)
    shifted = batches(range(4, 6), False)
    shifted[schema.target] = 1  # every customer churned: the label distribution moved
    summary = drift_report(reference, shifted, schema, tmp_path, 20_000, 0.5)
    assert summary.target_drift is True and summary.prediction_drift is None
    unlabelled = drift_report(reference.drop(columns=[schema.target]), shifted, schema, tmp_path / "u", 20_000, 0.5)
    assert unlabelled.target_drift is None


def test_same_distribution_is_not_drift(schema, tmp_path):
    summary = drift_report(
        batches(range(4), False), batches(range(4, 6), False), schema, tmp_path, 20_000, 0.5, score=champion_like
    )
    assert not summary.dataset_drift and summary.prediction_drift is False and summary.target_drift is False
    assert summary.triggered(["features", "prediction", "target"]) == []


def test_large_inputs_are_sampled_and_the_report_says_so(schema, tmp_path):
    summary = drift_report(batches(range(4), False), batches(range(4, 6), False), schema, tmp_path, 500, 0.5)
    assert summary.sampled and summary.reference_rows == 500 and summary.current_rows == 500
    assert "Sampled deliberately" in summary.sampling_note and "500 of 6000 reference rows" in summary.sampling_note
    assert summary.sampling_note in (tmp_path / "README.md").read_text()
