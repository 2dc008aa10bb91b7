"""The task comes from the Ludwig output feature; metric settings default per task and must fit it."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from champion_challenger.config.ludwig_schema import DERIVED_ID_COLUMN, load_candidate_configs, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.errors import ConfigError


def _pipeline(tmp_path: Path, outputs: dict[str, str], **sections) -> Path:
    """A pipeline YAML with one Ludwig candidate per ``outputs`` entry (name → output feature type)."""
    (tmp_path / "ludwig").mkdir(exist_ok=True)
    for name, output_type in outputs.items():
        ludwig = {
            "input_features": [{"name": "x", "type": "number"}, {"name": "region", "type": "category"}],
            "output_features": [{"name": "label", "type": output_type}],
        }
        (tmp_path / "ludwig" / f"{name}.yaml").write_text(yaml.safe_dump(ludwig))
    data = {
        "model_name": "demand",
        "experiment_name": "demand",
        "data": {"landing_dir": "data/landing", "target": "label", "timestamp_column": "ts", "id_column": "id"},
        "training": {"ludwig_configs": ["ludwig/*.yaml"]},
        **sections,
    }
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("output_type", "task", "primary", "guardrails", "online_loss"),
    [
        pytest.param("binary", "binary", "roc_auc", {"log_loss": 0.02}, "brier", id="binary"),
        pytest.param("category", "multiclass", "macro_f1", {"log_loss": 0.02, "class_recall": 0.05}, "brier", id="multiclass"),
        pytest.param("number", "regression", "rmse", {"smape": 0.02}, "absolute_error", id="regression"),
    ],
)
def test_a_config_that_names_no_metric_gets_the_task_s_defaults(tmp_path, output_type, task, primary, guardrails, online_loss):
    config = PipelineConfig.from_yaml(_pipeline(tmp_path, {"mlp": output_type, "wide": output_type}))
    assert config.task == task
    assert config.decision.primary_metric == primary and config.decision.guardrails == guardrails
    assert config.training.selection_metric == primary and config.watch.label_metric == primary
    assert config.decision.online.loss == online_loss
    assert config.decision.quality_floor is None
    assert model_schema(config, load_candidate_configs(config)).task == task


def test_the_selection_and_watch_metrics_follow_the_primary_metric_the_user_chose(tmp_path):
    config = PipelineConfig.from_yaml(_pipeline(tmp_path, {"mlp": "number"}, decision={"primary_metric": "mae"}))
    assert (config.training.selection_metric, config.watch.label_metric) == ("mae", "mae")
    assert config.decision.guardrails == {"smape": 0.02}


@pytest.mark.parametrize(
    ("output_type", "sections", "key", "valid"),
    [
        pytest.param("number", {"decision": {"primary_metric": "roc_auc"}}, "decision.primary_metric", "rmse, mae, r2, smape",
                     id="roc_auc-for-regression"),
        pytest.param("category", {"training": {"selection_metric": "rmse"}}, "training.selection_metric",
                     "accuracy, macro_f1, log_loss, brier", id="rmse-for-multiclass"),
        pytest.param("binary", {"decision": {"guardrails": {"class_recall": 0.05}}}, "decision.guardrails.class_recall",
                     "accuracy, roc_auc", id="class-recall-for-binary"),
        pytest.param("number", {"watch": {"label_metric": "accuracy"}}, "watch.label_metric", "rmse, mae, r2, smape",
                     id="accuracy-watch-for-regression"),
        pytest.param("number", {"decision": {"online": {"loss": "brier"}}}, "decision.online.loss",
                     "absolute_error, squared_error", id="brier-online-for-regression"),
    ],
)  # fmt: skip
def test_a_metric_that_does_not_fit_the_task_names_file_key_and_the_valid_ones(tmp_path, output_type, sections, key, valid):
    path = _pipeline(tmp_path, {"mlp": output_type}, **sections)
    with pytest.raises(ConfigError, match="does not fit") as err:
        PipelineConfig.from_yaml(path)
    message = str(err.value)
    assert str(path) in message and key in message and valid in message


def test_candidates_that_train_different_tasks_are_refused_naming_them(tmp_path):
    with pytest.raises(ConfigError, match=r"candidates train different tasks: .*mlp \(mlp.yaml\): regression.*binary"):
        PipelineConfig.from_yaml(_pipeline(tmp_path, {"mlp": "number", "wide": "binary"}))


def test_an_unsupported_output_type_says_which_are_supported(tmp_path):
    with pytest.raises(ConfigError, match=r"mlp.yaml: output_features\[0\].type 'text' is not supported; use binary"):
        PipelineConfig.from_yaml(_pipeline(tmp_path, {"mlp": "text"}))


def test_an_output_feature_that_is_not_the_target_names_both(tmp_path):
    path = _pipeline(tmp_path, {"mlp": "number"})
    raw = yaml.safe_load(path.read_text())
    raw["data"]["target"] = "price"
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(ConfigError, match=r"output_features\[0\].name is 'label', but data.target .* is 'price'"):
        PipelineConfig.from_yaml(path)


def test_without_an_id_column_the_schema_uses_the_derived_row_key(tmp_path):
    path = _pipeline(tmp_path, {"mlp": "category"})
    raw = yaml.safe_load(path.read_text())
    del raw["data"]["id_column"]
    path.write_text(yaml.safe_dump(raw))
    config = PipelineConfig.from_yaml(path)
    schema = model_schema(config, load_candidate_configs(config))
    assert schema.id_derived and schema.id_column == DERIVED_ID_COLUMN
    assert DERIVED_ID_COLUMN in schema.required_columns and DERIVED_ID_COLUMN not in schema.received_columns
