"""Real Evidently reports: feature, prediction and target drift, deliberate sampling, for every task
(the churn demo's binary pipeline and the multiclass and regression example pipelines)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config.ludwig_schema import ModelSchema, load_candidate_configs, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.data.generate import GENERATORS, BatchSpec, generate_batch
from champion_challenger.drift.evidently_report import PREDICTION_COLUMN, drift_report
from champion_challenger.task import align_probabilities

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


EXAMPLES = Path(__file__).resolve().parents[2] / "configs" / "examples"
QUEUES = ("account", "billing", "sales", "technical")


def example(task: str) -> tuple[PipelineConfig, ModelSchema]:
    config = PipelineConfig.from_yaml(EXAMPLES / task / "pipeline.yaml")
    return config, model_schema(config, load_candidate_configs(config))


def task_batches(task: str, indexes, drifted: bool, rows: int = 1500) -> pd.DataFrame:
    return pd.concat([GENERATORS[task](BatchSpec(i, rows, 3, drifted)) for i in indexes], ignore_index=True)


def categorical(method: str) -> bool:
    """Evidently's drift tests for a categorical column (numerical ones: K-S, Wasserstein, ...)."""
    return any(test in method for test in ("chi-square", "Z-test", "Jensen-Shannon"))


def queue_scorer(frame: pd.DataFrame) -> np.ndarray:
    """A fixed stand-in for a ticket-routing champion: probabilities in QUEUES order from channel,
    product and message length."""
    channel, product = frame["channel"].to_numpy(), frame["product"].to_numpy()
    logits = np.column_stack(
        [
            1.0 * (channel == "phone"),
            1.0 * (channel == "email"),
            1.0 * (channel == "chat") + 0.5 * (channel == "web"),
            1.2 * (product == "broadband") + 1.2 * (product == "tv") + 0.004 * frame["message_words"].to_numpy(dtype=float),
        ]
    )
    weights = np.exp(logits - logits.max(axis=1, keepdims=True))
    return weights / weights.sum(axis=1, keepdims=True)


def demand_scorer(frame: pd.DataFrame) -> np.ndarray:
    """A fixed stand-in for a demand champion: fewer units at higher prices, more on promotion."""
    return 200 - 2.0 * frame["price"].to_numpy(dtype=float) + 40 * frame["promo"].to_numpy(dtype=float)


def test_multiclass_drift_judges_the_queue_mix_and_the_predicted_queue(tmp_path):
    config, schema = example("multiclass")
    assert schema.task == "multiclass" and tuple(config.data.classes) == QUEUES
    reference = task_batches("multiclass", range(4), False)
    same = drift_report(reference, task_batches("multiclass", range(4, 6), False), schema, tmp_path / "same", 20_000, 0.3,
                        queue_scorer, classes=QUEUES)  # fmt: skip
    assert (same.prediction_drift, same.target_drift, same.new_classes) == (False, False, [])
    drifted = drift_report(reference, task_batches("multiclass", range(10, 12), True), schema, tmp_path / "drifted", 20_000,
                           0.3, queue_scorer, classes=QUEUES)  # fmt: skip
    assert drifted.prediction_drift is True and drifted.target_drift is True and drifted.dataset_drift
    assert {"channel", "product", "message_words"} <= set(drifted.drifted_columns)
    evidently = json.loads((tmp_path / "drifted" / "drift_report.json").read_text())
    value_drift = {
        m["config"]["column"]: m["config"]["method"] for m in evidently["metrics"] if m["config"]["type"].endswith("ValueDrift")
    }
    assert categorical(value_drift[PREDICTION_COLUMN]) and categorical(value_drift[schema.target])


def test_a_class_accepted_as_unseen_is_target_drift(tmp_path):
    """``data.unseen_classes: accept`` let a batch with a new queue in: the report flags it by name."""
    _, schema = example("multiclass")
    reference = task_batches("multiclass", range(4), False)
    current = task_batches("multiclass", range(4, 6), False)
    current.loc[current.index[:3], schema.target] = "refunds"
    classes = (*QUEUES, "refunds")  # the pipeline's classes now; the champion gives the new one probability 0

    def champion(frame: pd.DataFrame) -> np.ndarray:
        return align_probabilities(queue_scorer(frame), QUEUES, classes)

    summary = drift_report(reference, current, schema, tmp_path, 20_000, 0.3, champion, classes=classes)
    assert summary.target_drift is True and summary.new_classes == ["refunds"]
    assert summary.triggered(["target"]) == ["target"]
    assert "new classes in the current labels: refunds" in (tmp_path / "README.md").read_text()


def test_regression_drift_judges_the_value_and_the_predicted_value(tmp_path):
    _, schema = example("regression")
    assert schema.task == "regression"
    reference = task_batches("regression", range(4), False)
    same = drift_report(reference, task_batches("regression", range(4, 6), False), schema, tmp_path / "same", 20_000, 0.3,
                        demand_scorer)  # fmt: skip
    assert (same.prediction_drift, same.target_drift) == (False, False)
    drifted = drift_report(reference, task_batches("regression", range(10, 12), True), schema, tmp_path / "drifted", 20_000,
                           0.3, demand_scorer)  # fmt: skip
    assert drifted.prediction_drift is True and drifted.target_drift is True and "price" in drifted.drifted_columns
    evidently = json.loads((tmp_path / "drifted" / "drift_report.json").read_text())
    value_drift = {
        m["config"]["column"]: m["config"]["method"] for m in evidently["metrics"] if m["config"]["type"].endswith("ValueDrift")
    }
    assert not categorical(value_drift[PREDICTION_COLUMN]) and not categorical(value_drift[schema.target])
