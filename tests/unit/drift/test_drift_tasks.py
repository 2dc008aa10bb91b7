"""Drift per task with the REAL Evidently on small frames: what the prediction and target columns hold,
and a multiclass class the reference never had counting as target drift."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config.ludwig_schema import FeatureSpec, ModelSchema
from champion_challenger.drift.evidently_report import PREDICTION_COLUMN, drift_report, new_classes, prediction_values

CLASSES = ("billing", "outage", "sales")


def schema(task: str, target: str) -> ModelSchema:
    features = (FeatureSpec(name="usage", type="number"), FeatureSpec(name="plan", type="category"))
    return ModelSchema(features=features, target=target, timestamp_column="ts", id_column="id", task=task)


def rows(n: int, seed: int, target: str, labels: np.ndarray | list) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"usage": rng.normal(10, 2, n), "plan": rng.choice(["basic", "plus"], n), target: labels})


def class_labels(n: int, seed: int, p: list[float], classes=CLASSES) -> np.ndarray:
    """Exactly ``round(n * p)`` rows of each class (the last class takes the rest), shuffled."""
    counts = [round(n * share) for share in p[:-1]]
    labels = np.repeat(np.array(classes, dtype=object), [*counts, n - sum(counts)])
    return np.random.default_rng(seed + 100).permutation(labels)


def categorical(method: str) -> bool:
    """Evidently's default tests for a categorical column (chi-square; Z-test for two values)."""
    return "chi-square" in method or "Z-test" in method


def usage_classifier(frame: pd.DataFrame) -> np.ndarray:
    """Multiclass scores in CLASSES order: high usage → outage, low → billing."""
    z = (frame["usage"].to_numpy(dtype=float) - 10) / 2
    logits = np.column_stack([-z, z, np.zeros(len(frame))])
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def value_columns(out_dir) -> dict[str, dict]:
    """Evidently's ValueDrift metric configs by column, from the report JSON."""
    report = json.loads((out_dir / "drift_report.json").read_text())
    return {m["config"]["column"]: m["config"] for m in report["metrics"] if m["config"].get("type", "").endswith("ValueDrift")}


def test_multiclass_target_and_predicted_class_are_categorical_columns(tmp_path):
    reference = rows(400, 0, "topic", class_labels(400, 0, [0.4, 0.3, 0.3]))
    current = rows(300, 1, "topic", class_labels(300, 1, [0.4, 0.3, 0.3]))
    summary = drift_report(
        reference, current, schema("multiclass", "topic"), tmp_path, 1000, 0.5, usage_classifier, classes=CLASSES
    )
    assert summary.task == "multiclass" and summary.new_classes == []
    assert summary.target_drift is False and summary.prediction_drift is False and not summary.dataset_drift
    methods = {column: config["method"] for column, config in value_columns(tmp_path).items()}
    assert categorical(methods["topic"]) and categorical(methods[PREDICTION_COLUMN])
    assert "K-S" in methods["usage"]


def test_multiclass_prediction_drift_is_a_shift_of_the_predicted_class(tmp_path):
    reference = rows(400, 0, "topic", class_labels(400, 0, [0.4, 0.3, 0.3]))
    current = rows(300, 1, "topic", class_labels(300, 1, [0.4, 0.3, 0.3]))
    current["usage"] += 3  # more usage: the champion predicts 'outage' far more often
    summary = drift_report(
        reference, current, schema("multiclass", "topic"), tmp_path, 1000, 0.5, usage_classifier, classes=CLASSES
    )
    assert summary.prediction_drift is True and summary.target_drift is False


def test_multiclass_target_drift_on_a_moved_class_mix(tmp_path):
    reference = rows(400, 0, "topic", class_labels(400, 0, [0.6, 0.2, 0.2]))
    current = rows(300, 1, "topic", class_labels(300, 1, [0.1, 0.2, 0.7]))
    summary = drift_report(reference, current, schema("multiclass", "topic"), tmp_path, 1000, 0.5)
    assert summary.target_drift is True and summary.new_classes == [] and summary.prediction_drift is None


def test_a_new_class_in_the_current_labels_is_target_drift_and_the_summary_says_so(tmp_path):
    """A batch accepted under ``data.unseen_classes: accept``: one new label among 300 rows."""
    reference = rows(400, 0, "topic", class_labels(400, 0, [0.4, 0.3, 0.3]))
    labels = class_labels(300, 0, [0.4, 0.3, 0.3])
    labels[7] = "refund"
    current = rows(300, 1, "topic", labels)
    summary = drift_report(reference, current, schema("multiclass", "topic"), tmp_path, 1000, 0.5)
    assert summary.target_drift is True and summary.new_classes == ["refund"]
    assert summary.triggered(["target"]) == ["target"]
    assert "target drift: True (new classes in the current labels: refund)" in (tmp_path / "README.md").read_text()
    assert json.loads((tmp_path / "drift_summary.json").read_text())["new_classes"] == ["refund"]


def test_a_new_class_hidden_by_sampling_still_counts(tmp_path):
    """New classes are looked for in every current row, not only in the sampled ones."""
    reference = rows(400, 0, "topic", class_labels(400, 0, [0.4, 0.3, 0.3]))
    labels = class_labels(3000, 0, [0.4, 0.3, 0.3])
    labels[-1] = "refund"
    summary = drift_report(reference, rows(3000, 1, "topic", labels), schema("multiclass", "topic"), tmp_path, 200, 0.5)
    assert summary.sampled and summary.new_classes == ["refund"] and summary.target_drift is True


def test_a_class_the_champion_trained_on_is_not_new(tmp_path):
    """The reference is a sample of the champion's training rows: a rare class may be missing from it."""
    reference = rows(400, 0, "topic", class_labels(400, 0, [0.5, 0.5], classes=CLASSES[:2]))
    current = rows(300, 1, "topic", class_labels(300, 1, [0.5, 0.49, 0.01]))
    report = drift_report(reference, current, schema("multiclass", "topic"), tmp_path, 1000, 0.5, known_classes=CLASSES)
    assert report.new_classes == []


def test_without_target_comparison_no_class_is_new(tmp_path):
    reference = rows(200, 0, "topic", class_labels(200, 0, [0.4, 0.3, 0.3]))
    current = rows(200, 1, "topic", ["refund"] * 200)
    summary = drift_report(reference, current, schema("multiclass", "topic"), tmp_path, 1000, 0.5, target=False)
    assert summary.target_drift is None and summary.new_classes == []


@pytest.mark.parametrize(
    ("shift", "target_drift", "prediction_drift"),
    [pytest.param(0.0, False, False, id="same"), pytest.param(8.0, True, True, id="shifted")],
)
def test_regression_target_and_predicted_value_are_numerical_columns(tmp_path, shift, target_drift, prediction_drift):
    rng = np.random.default_rng(5)
    reference = rows(400, 0, "price", rng.normal(50, 5, 400))
    current = rows(300, 1, "price", rng.normal(50 + shift, 5, 300))
    current["usage"] += shift / 4

    def predicted_price(frame: pd.DataFrame) -> np.ndarray:
        return 30 + 2 * frame["usage"].to_numpy(dtype=float)

    summary = drift_report(reference, current, schema("regression", "price"), tmp_path, 1000, 0.5, predicted_price)
    assert (summary.target_drift, summary.prediction_drift) == (target_drift, prediction_drift)
    methods = {column: config["method"] for column, config in value_columns(tmp_path).items()}
    assert "K-S" in methods["price"] and "K-S" in methods[PREDICTION_COLUMN]
    assert summary.new_classes == []


def test_binary_prediction_stays_the_positive_class_probability(tmp_path):
    reference = rows(400, 0, "churned", class_labels(400, 0, [0.7, 0.3], classes=(0, 1)).astype(int))
    current = rows(300, 1, "churned", class_labels(300, 1, [0.7, 0.3], classes=(0, 1)).astype(int))

    def probability(frame: pd.DataFrame) -> np.ndarray:
        return 1 / (1 + np.exp(-(frame["usage"].to_numpy(dtype=float) - 10)))

    summary = drift_report(reference, current, schema("binary", "churned"), tmp_path, 1000, 0.5, probability)
    methods = {column: config["method"] for column, config in value_columns(tmp_path).items()}
    assert "K-S" in methods[PREDICTION_COLUMN] and categorical(methods["churned"])
    assert summary.task == "binary" and summary.target_drift is False and summary.prediction_drift is False


@pytest.mark.parametrize(
    ("task", "scores", "expected"),
    [
        pytest.param("binary", np.array([0.2, 0.9]), [0.2, 0.9], id="binary-probability"),
        pytest.param("regression", np.array([[3.5], [1.0]]), [3.5, 1.0], id="regression-value"),
        pytest.param("multiclass", np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]]), ["outage", "billing"], id="multiclass-argmax"),
    ],
)
def test_prediction_values_per_task(task, scores, expected):
    assert list(prediction_values(task, scores, CLASSES if task == "multiclass" else ())) == expected


def test_multiclass_scores_need_one_column_per_class():
    with pytest.raises(ValueError, match="do not have one column per class"):
        prediction_values("multiclass", np.ones((2, 2)), CLASSES)


def test_new_classes_compare_labels_as_text():
    assert new_classes(["a", "b", None], ["a", "c", "c", None]) == ["c"]
    assert new_classes([1, 2], ["1", "2"]) == []
