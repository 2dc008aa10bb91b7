from __future__ import annotations

import pytest
import yaml

from champion_challenger.config.ludwig_schema import load_candidate_configs, load_ludwig_config, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.errors import ConfigError
from tests.conftest import REPO

PIPELINE = REPO / "configs" / "pipelines" / "churn_classifier.yaml"


def _write(tmp_path, data, name="pipeline.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def test_shipped_configs_load_and_derive_schema():
    config = PipelineConfig.from_yaml(PIPELINE)
    candidates = load_candidate_configs(config)
    assert set(candidates) >= {"churn_mlp", "churn_ft_transformer"}
    schema = model_schema(config, candidates)
    assert schema.target == "churned"
    assert "customer_id" not in schema.feature_names
    numeric = {f.name for f in schema.features if f.is_numeric}
    assert numeric == {"tenure_months", "monthly_charges", "support_calls", "late_payments"}


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        pytest.param(lambda d: d.update(unknown_key=1), r"unknown_key: Extra inputs are not permitted", id="unknown-top-key"),
        pytest.param(lambda d: d["decision"].update(primary_metric="auc"), r"decision.primary_metric", id="bad-metric"),
        pytest.param(lambda d: d["evaluation"].update(holdout_fraction=1.5), r"evaluation.holdout_fraction", id="fraction"),
        pytest.param(lambda d: d["data"].update(id_column="churned"), r"must differ", id="same-columns"),
        pytest.param(lambda d: d.pop("model_name"), r"model_name: Field required", id="missing"),
    ],
)
def test_invalid_pipeline_config_names_file_and_key(tmp_path, mutate, match):
    data = yaml.safe_load(PIPELINE.read_text())
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError, match=match) as err:
        PipelineConfig.from_yaml(path)
    assert str(path) in str(err.value)


def test_unknown_ludwig_feature_type_names_file_and_field(tmp_path):
    ludwig = yaml.safe_load((REPO / "configs" / "ludwig" / "churn_mlp.yaml").read_text())
    ludwig["input_features"][2]["type"] = "numbr"
    path = _write(tmp_path, ludwig, "bad.yaml")
    with pytest.raises(ConfigError, match=r"bad.yaml: input_features\[2\].type: unknown feature type 'numbr'"):
        load_ludwig_config(path)


def test_ludwig_output_must_be_the_binary_target():
    config = PipelineConfig.from_yaml(PIPELINE)
    ludwig = yaml.safe_load(config.ludwig_config_paths()["churn_mlp"].read_text())
    ludwig["output_features"][0]["name"] = "other"
    with pytest.raises(ConfigError, match=r"churn_mlp.yaml: output_features must be exactly one feature named 'churned'"):
        model_schema(config, {"churn_mlp": ludwig})


def test_candidates_must_agree_on_column_types():
    config = PipelineConfig.from_yaml(PIPELINE)
    candidates = load_candidate_configs(config)
    candidates["churn_mlp"]["input_features"][0]["type"] = "category"
    with pytest.raises(ConfigError, match=r"feature 'tenure_months' is 'category' here but 'number' in another"):
        model_schema(config, candidates)


def test_candidate_globs_resolve_relative_to_the_pipeline_file(tmp_path):
    data = yaml.safe_load(PIPELINE.read_text())
    data["training"]["ludwig_configs"] = [str(REPO / "configs" / "ludwig" / "churn_mlp.yaml"), "nothing/*.yaml"]
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError, match=r"training.ludwig_configs: 'nothing/\*.yaml' matches no file"):
        PipelineConfig.from_yaml(path).ludwig_config_paths()


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        PipelineConfig.from_yaml(tmp_path / "nope.yaml")
