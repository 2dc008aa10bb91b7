"""The fleet: pipeline discovery, selection by model, and the clashes it refuses."""

from __future__ import annotations

import pytest
import yaml

from champion_challenger.cli import EXIT_USER_ERROR, main
from champion_challenger.config.fleet import champion_pool, dag_id, discover, pipeline_path
from champion_challenger.config.settings import load_settings
from champion_challenger.errors import ConfigError
from tests.conftest import write_fleet


@pytest.fixture
def fleet(tmp_path):
    return write_fleet(tmp_path / "configs", ["churn_eu", "churn_us"])


def test_every_yaml_of_the_folder_is_one_pipeline_named_by_its_model(fleet, tmp_path):
    pipelines = discover(fleet, tmp_path)
    assert [(p.name, p.path.name, p.error) for p in pipelines] == [
        ("churn_eu", "churn_eu.yaml", None),
        ("churn_us", "churn_us.yaml", None),
    ]
    assert pipelines[0].dag_id == dag_id("churn_eu") == "champion_challenger__churn_eu"
    assert champion_pool("churn_eu") == "champion_changes__churn_eu"
    # each pipeline keeps its own candidates (relative to its YAML)
    assert list(pipelines[0].config.ludwig_config_paths()) == ["churn_ft_transformer", "churn_mlp"]


def test_a_model_is_selected_by_name_and_several_without_a_name_is_refused(fleet, tmp_path):
    assert pipeline_path(fleet, tmp_path, "churn_us") == fleet / "churn_us.yaml"
    with pytest.raises(ConfigError, match=r"holds 2 pipelines \(churn_eu, churn_us\); choose one with --model NAME"):
        pipeline_path(fleet, tmp_path)
    with pytest.raises(ConfigError, match="no pipeline for model 'churn_xx'.*its models: churn_eu, churn_us"):
        pipeline_path(fleet, tmp_path, "churn_xx")


def test_one_yaml_is_a_fleet_of_one_and_an_empty_folder_says_what_to_do(fleet, tmp_path):
    assert pipeline_path(fleet / "churn_eu.yaml", tmp_path) == fleet / "churn_eu.yaml"
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no pipeline YAML in this folder; `ccp init"):
        pipeline_path(tmp_path / "empty", tmp_path)


@pytest.mark.parametrize(
    ("edit", "shared"),
    [
        ({"model_name": "churn_eu"}, "model_name churn_eu"),
        ({"experiment_name": "cc-churn_eu"}, "experiment_name cc-churn_eu"),
        ({"data": {"landing_dir": "data/churn_eu/incoming"}}, "data store"),
        ({"serving": {"capture_dir": "captures/churn_eu"}}, "capture folder"),
    ],
)
def test_a_pipeline_that_shares_a_model_experiment_store_or_captures_is_refused_the_others_run(fleet, tmp_path, edit, shared):
    clash = yaml.safe_load((fleet / "churn_us.yaml").read_text())
    for key, value in edit.items():
        clash[key] = {**clash[key], **value} if isinstance(value, dict) else value
    (fleet / "churn_us.yaml").write_text(yaml.safe_dump(clash))
    eu, us = discover(fleet, tmp_path)
    assert eu.error is None and us.config is None
    assert shared in us.error and "churn_eu.yaml" in us.error
    with pytest.raises(ConfigError, match=shared):
        pipeline_path(fleet, tmp_path, us.name)


def test_an_invalid_yaml_becomes_a_pipeline_that_cannot_run_named_by_its_file(fleet, tmp_path):
    (fleet / "zz_broken.yaml").write_text("model_name: [unclosed\n")
    broken = discover(fleet, tmp_path)[-1]
    assert broken.name == "zz_broken" and broken.config is None and "not valid YAML" in broken.error


def test_model_option_and_ccp_model_select_the_pipeline_of_every_command(fleet, monkeypatch, capsys):
    monkeypatch.setenv("CCP_PIPELINES", str(fleet))
    monkeypatch.delenv("CCP_MODEL", raising=False)
    assert load_settings().pipelines == fleet
    with pytest.raises(ConfigError, match="choose one with --model NAME"):
        load_settings().pipeline_config  # noqa: B018 - the property resolves the selection
    monkeypatch.setenv("CCP_MODEL", "churn_us")
    assert load_settings().pipeline_config == fleet / "churn_us.yaml"
    monkeypatch.delenv("CCP_MODEL")
    # `ccp predict` of a fleet without --model says what to do (exit 2) ...
    assert main(["predict", "missing.csv"]) == EXIT_USER_ERROR
    assert "choose one with --model NAME" in capsys.readouterr().err
    # ... and --model, before or after the command, selects one
    assert main(["predict", "--model", "churn_eu", "missing.csv"]) == EXIT_USER_ERROR
    assert "missing.csv" in capsys.readouterr().err
    monkeypatch.delenv("CCP_MODEL", raising=False)
    assert main(["--model", "churn_us", "predict", "missing.csv"]) == EXIT_USER_ERROR
    assert "missing.csv" in capsys.readouterr().err
