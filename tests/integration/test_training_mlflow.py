"""Challenger training with full MLflow lineage, against a REAL MLflow server and real Ludwig."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
import yaml

from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.cycle.context import CycleContext
from champion_challenger.cycle.ingest import accept_batches, check_configs_and_services, claim_batches, prepare_window
from champion_challenger.cycle.training import register_challenger, select_candidates, train_candidate
from champion_challenger.data.generate import write_batches
from champion_challenger.errors import ConfigError
from champion_challenger.policy.training_plan import best_candidate
from champion_challenger.registry import model_registry as registry
from champion_challenger.training.ludwig_trainer import split_validation, train_ludwig
from champion_challenger.training.pyfunc import ludwig_dir_in, positive_probability
from tests.conftest import write_test_configs

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
EPOCHS = 2
CYCLE = "manual__training-test"


def _pipeline(stack_settings, tracking_uri, tmp_path_factory, name: str, **training) -> CycleContext:
    config_path = write_test_configs(tmp_path_factory.mktemp(f"{name}-configs"), epochs=EPOCHS, **training)
    data = yaml.safe_load(config_path.read_text())
    data.update(model_name=name, experiment_name=f"{name}-experiment")
    config_path.write_text(yaml.safe_dump(data))
    settings = dataclasses.replace(stack_settings, home=tmp_path_factory.mktemp(f"{name}-home"), pipelines=config_path)
    return CycleContext(PipelineConfig.from_yaml(config_path), settings, tracking_uri, stack_settings.triton_url)


@pytest.fixture(scope="module")
def trained_cycle(stack_settings, mlflow_server, tmp_path_factory):
    """One cycle's training step: every shipped candidate trained, the best registered."""
    pipeline = _pipeline(stack_settings, mlflow_server, tmp_path_factory, "training_test")
    write_batches(pipeline.store.landing, 3, seed=2, rows=700)
    accept_batches(pipeline, CYCLE, claim_batches(pipeline, CYCLE))
    prepared = prepare_window(pipeline, CYCLE)
    results = [train_candidate(pipeline, prepared, c) for c in select_candidates(pipeline)]
    version = register_challenger(pipeline, prepared, results)
    return pipeline, prepared, results, version


def test_each_candidate_is_a_nested_run_with_params_metrics_plots_and_lineage(trained_cycle):
    pipeline, prepared, results, _ = trained_cycle
    assert sorted(r.candidate for r in results) == ["churn_ft_transformer", "churn_mlp"]
    assert len({r.run_id for r in results}) == 2
    for result in results:
        run = pipeline.client.get_run(result.run_id)
        assert run.data.tags["mlflow.parentRunId"] == prepared.cycle_run_id
        assert run.data.tags["ccp.candidate"] == result.candidate
        assert run.data.tags["ccp.config_hash"] and run.data.tags["ccp.code_version"] and run.data.tags["ccp.data_window"]
        assert run.data.params["combiner.type"] in {"concat", "ft_transformer"}
        assert run.data.params["input_features.monthly_charges.type"] == "number"
        for metric in ("training_loss", "validation_roc_auc"):
            history = pipeline.client.get_metric_history(result.run_id, metric)
            assert [m.step for m in history] == list(range(len(history))) and 1 <= len(history) <= EPOCHS
        artifacts = {a.path for a in pipeline.client.list_artifacts(result.run_id)}
        assert {"ludwig_config.yaml", "training_statistics.json", "feature_importance.json", "plots", "reference"} <= artifacts
        plots = {a.path for a in pipeline.client.list_artifacts(result.run_id, "plots")}
        assert plots == {"plots/learning_curves.png", "plots/feature_importance.png"}
        inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
        assert set(inputs) == {"fit_window", "validation_window"}
        fit = inputs["fit_window"]
        assert fit.dataset.digest and fit.dataset.source
        assert {t.key: t.value for t in fit.tags}["mlflow.data.context"] == "training"
        assert '"num_rows"' in fit.dataset.profile


def test_one_new_version_carries_the_challenger_alias(trained_cycle):
    pipeline, prepared, results, version = trained_cycle
    versions = pipeline.client.search_model_versions(f"name = '{pipeline.model_name}'")
    assert [int(v.version) for v in versions] == [version]
    assert registry.alias_state(pipeline.client, pipeline.model_name).challenger == version
    registered = pipeline.client.get_model_version(pipeline.model_name, str(version))
    best = best_candidate(results, pipeline.config.training.selection_metric)
    assert registered.tags["ccp.candidate"] == best.candidate
    assert best.candidate in registered.description and CYCLE in registered.description
    cycle_run = pipeline.client.get_run(prepared.cycle_run_id)
    assert {f"candidate_{r.candidate}_roc_auc" for r in results} <= set(cycle_run.data.metrics)


def test_pyfunc_predictions_equal_ludwig(trained_cycle, tmp_path):
    pipeline, _, _, _ = trained_cycle
    uri = f"models:/{pipeline.model_name}@challenger"
    rows = pd.read_parquet(pipeline.workspace(CYCLE) / "holdout.parquet")[pipeline.schema.feature_names]
    served = mlflow.pyfunc.load_model(uri).predict(rows)
    from ludwig.api import LudwigModel

    local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(tmp_path))
    ludwig = LudwigModel.load(str(ludwig_dir_in(Path(local))), logging_level=logging.ERROR)
    expected = positive_probability(ludwig.predict(rows)[0], pipeline.schema.target)
    assert len(served) == len(rows)
    np.testing.assert_allclose(served["probability"].to_numpy(), expected, atol=1e-6, rtol=0)
    assert set(served["prediction"].unique()) <= {0, 1}
    requirements = (Path(local) / "requirements.txt").read_text().split()
    assert {r.split("==")[0] for r in requirements} >= {"mlflow", "ludwig", "torch", "pandas"}, requirements


def test_retrying_training_and_registration_leaves_one_version(trained_cycle):
    pipeline, prepared, results, version = trained_cycle
    again = [train_candidate(pipeline, prepared, r.candidate) for r in results]
    assert [r.run_id for r in again] == [r.run_id for r in results]
    assert register_challenger(pipeline, prepared, again) == version
    assert len(pipeline.client.search_model_versions(f"name = '{pipeline.model_name}'")) == 1


def test_same_config_data_and_seed_give_the_same_validation_metrics(trained_cycle, tmp_path):
    pipeline, _, _, _ = trained_cycle
    train = pd.read_parquet(pipeline.workspace(CYCLE) / "train.parquet")
    fit, valid = split_validation(train, pipeline.config.data.timestamp_column, 0.2)
    config = pipeline.ludwig_configs["churn_mlp"]
    first = train_ludwig(config, fit, valid, pipeline.schema, tmp_path / "a", seed=5).validation_metrics
    second = train_ludwig(config, fit, valid, pipeline.schema, tmp_path / "b", seed=5).validation_metrics
    assert first == second


def test_broken_config_fails_before_training_naming_file_and_field(stack_settings, mlflow_server, tmp_path_factory):
    pipeline = _pipeline(stack_settings, mlflow_server, tmp_path_factory, "broken_config")
    bad = pipeline.config.ludwig_config_paths()["churn_ft_transformer"]
    data = yaml.safe_load(bad.read_text())
    data["input_features"][4]["type"] = "categorical"
    bad.write_text(yaml.safe_dump(data))
    with pytest.raises(
        ConfigError, match=r"churn_ft_transformer.yaml: input_features\[4\].type: unknown feature type 'categorical'"
    ):
        check_configs_and_services(pipeline)
    assert not pipeline.client.search_model_versions("name = 'broken_config'")
