"""A candidate's training evidence per task: permutation importance by the task's primary metric, learning curves."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config.ludwig_schema import FeatureSpec, ModelSchema
from champion_challenger.metrics import binary_metrics
from champion_challenger.training.reports import permutation_importance, plot_importance, plot_learning_curves

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLASSES = ("low", "mid", "high")


def schema(task: str, target: str) -> ModelSchema:
    features = (FeatureSpec(name="signal", type="number"), FeatureSpec(name="noise", type="number"))
    return ModelSchema(features=features, target=target, timestamp_column="ts", id_column="id", task=task)


def features(n: int = 2000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"signal": rng.normal(0, 1, n), "noise": rng.normal(0, 1, n)})


def binary_case() -> tuple:
    frame = features()
    frame["churned"] = (frame["signal"] + np.random.default_rng(1).normal(0, 0.5, len(frame)) > 0).astype(int)
    return frame, schema("binary", "churned"), (lambda f: 1 / (1 + np.exp(-3 * f["signal"].to_numpy()))), ()


def multiclass_case() -> tuple:
    frame = features()
    frame["level"] = np.array(CLASSES)[np.digitize(frame["signal"], [-0.5, 0.5])]

    def score(f: pd.DataFrame) -> np.ndarray:
        s = f["signal"].to_numpy()
        logits = np.column_stack([-4 * (s + 1), -4 * np.abs(s), 4 * (s - 1)])
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    return frame, schema("multiclass", "level"), score, CLASSES


def regression_case() -> tuple:
    frame = features()
    frame["price"] = 50 + 10 * frame["signal"]
    return frame, schema("regression", "price"), (lambda f: 50 + 10 * f["signal"].to_numpy()), ()


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(binary_case, id="binary"),
        pytest.param(multiclass_case, id="multiclass"),
        pytest.param(regression_case, id="regression"),
    ],
)
def test_the_feature_the_model_uses_is_important_and_noise_is_not(case):
    frame, model_schema, score, classes = case()
    importance = permutation_importance(score, frame, model_schema, classes=classes)
    assert list(importance) == ["signal", "noise"]
    assert importance["signal"] > 0.1 and importance["noise"] == pytest.approx(0.0)


def test_binary_importance_is_the_roc_auc_drop():
    frame, model_schema, score, _ = binary_case()
    importance = permutation_importance(score, frame, model_schema)
    baseline = binary_metrics(frame["churned"].to_numpy(), score(frame))["roc_auc"]
    shuffled = frame.assign(signal=np.random.default_rng(0).permutation(frame["signal"].to_numpy()))
    assert importance["signal"] == pytest.approx(
        baseline - binary_metrics(frame["churned"].to_numpy(), score(shuffled))["roc_auc"]
    )


def test_a_lower_is_better_metric_counts_a_rising_error_as_importance():
    frame, model_schema, score, _ = regression_case()
    by_rmse = permutation_importance(score, frame, model_schema, metric="rmse")
    by_r2 = permutation_importance(score, frame, model_schema, metric="r2")
    assert by_rmse["signal"] > 5 and by_r2["signal"] > 0.5


def test_multiclass_labels_outside_the_classes_are_refused():
    frame, model_schema, score, _ = multiclass_case()
    with pytest.raises(ValueError, match="not among the known classes"):
        permutation_importance(score, frame, model_schema, classes=CLASSES[:2])


@pytest.mark.parametrize(
    "epoch_metrics",
    [
        pytest.param({"training": {"loss": [0.7, 0.5], "roc_auc": [0.7, 0.8]}, "validation": {"loss": [0.7, 0.6]}}, id="binary"),
        pytest.param({"training": {"loss": [1.1, 0.9], "accuracy": [0.5, 0.6], "hits_at_k": [0.8, 0.9]}}, id="category"),
        pytest.param(
            {"training": {"mean_squared_error": [9.0, 4.0], "r2": [0.1, 0.5]}, "validation": {"r2": [0.1, 0.4]}}, id="number"
        ),
        pytest.param({"training": {}, "validation": {}}, id="nothing-reported"),
    ],
)
def test_learning_curves_draw_what_ludwig_reports(tmp_path, epoch_metrics):
    assert plot_learning_curves(epoch_metrics, tmp_path / "curves.png").read_bytes()[:8] == PNG_MAGIC


def test_importance_plot_names_the_metric(tmp_path):
    path = plot_importance({"signal": 4.2, "noise": 0.0}, tmp_path / "importance.png", metric="rmse")
    assert path.read_bytes()[:8] == PNG_MAGIC
