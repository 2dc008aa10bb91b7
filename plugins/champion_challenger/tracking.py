"""MLflow tracking: one run per pipeline cycle, a nested run per trained challenger."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import infer_signature

from champion_challenger.config import ModelSchema
from champion_challenger.training.ludwig_trainer import TrainedModel, config_hash
from champion_challenger.training.pyfunc import LUDWIG_ARTIFACT, LudwigPyfuncModel

CYCLE_TAG = "ccp.cycle_id"
KIND_TAG = "ccp.run_kind"
REFERENCE_ARTIFACT = "reference/reference.parquet"


def experiment_id(client: MlflowClient, name: str) -> str:
    """Id of the experiment ``name``, created on first use."""
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else client.create_experiment(name)


def find_run(client: MlflowClient, exp_id: str, cycle_id: str, kind: str) -> str | None:
    """Run id of the ``kind`` run (``cycle`` or ``training``) of one cycle, if it exists."""
    runs = client.search_runs(
        [exp_id], filter_string=f"tags.`{CYCLE_TAG}` = '{cycle_id}' and tags.`{KIND_TAG}` = '{kind}'", max_results=1
    )
    return runs[0].info.run_id if runs else None


def cycle_run(client: MlflowClient, exp_id: str, cycle_id: str) -> str:
    """The cycle's MLflow run, created once: a retried task finds the same run."""
    existing = find_run(client, exp_id, cycle_id, "cycle")
    if existing:
        return existing
    run = client.create_run(exp_id, run_name=f"cycle {cycle_id}", tags={CYCLE_TAG: cycle_id, KIND_TAG: "cycle"})
    return run.info.run_id


def log_dict_artifact(client: MlflowClient, run_id: str, payload: Any, artifact_file: str) -> None:
    """Log a JSON-serialisable object as a JSON file artifact."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(artifact_file).name
        path.write_text(json.dumps(payload, indent=2, default=str))
        parent = str(Path(artifact_file).parent)
        client.log_artifact(run_id, str(path), None if parent == "." else parent)


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Flatten a nested config into ``a.b.c`` keys with string values (MLflow params)."""
    flat: dict[str, str] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list) and value and all(isinstance(v, dict) and "name" in v for v in value):
            for item in value:
                flat.update(flatten({k: v for k, v in item.items() if k != "name"}, f"{name}.{item['name']}."))
        else:
            flat[name] = str(value)[:6000]
    return flat


def log_challenger(
    tracking_uri: str,
    exp_id: str,
    parent_run_id: str,
    cycle_id: str,
    trained: TrainedModel,
    ludwig_config: dict[str, Any],
    train_df: pd.DataFrame,
    schema: ModelSchema,
    data_source: str,
) -> tuple[str, str]:
    """Log a trained challenger as a run nested under the cycle run, with its pyfunc model.

    Returns:
        ``(run_id, model_uri)`` of the training run and the logged model.
    """
    mlflow.set_tracking_uri(tracking_uri)
    tags = {CYCLE_TAG: cycle_id, KIND_TAG: "training", "mlflow.parentRunId": parent_run_id,
            "ccp.config_hash": config_hash(ludwig_config)}
    features = train_df[schema.feature_names]
    with mlflow.start_run(experiment_id=exp_id, run_name=f"train {cycle_id}", tags=tags) as run:
        params = list(flatten(ludwig_config).items())
        for start in range(0, len(params), 100):  # MLflow accepts at most 100 params per batch
            mlflow.log_params(dict(params[start : start + 100]))
        for split, series in trained.epoch_metrics.items():
            for name, values in series.items():
                for epoch, value in enumerate(values):
                    mlflow.log_metric(f"{split}_{name}", value, step=epoch)
        mlflow.log_dict(ludwig_config, "ludwig_config.yaml")
        dataset = mlflow.data.from_pandas(train_df, source=data_source, name="training_window", targets=schema.target)
        mlflow.log_input(dataset, context="training")
        with tempfile.TemporaryDirectory() as tmp:
            ref = Path(tmp) / "reference.parquet"
            features.sample(n=min(len(features), 5000), random_state=0).to_parquet(ref, index=False)
            mlflow.log_artifact(str(ref), "reference")
        example = features.head(5)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LudwigPyfuncModel(),
            artifacts={LUDWIG_ARTIFACT: str(trained.model_dir)},
            signature=infer_signature(example, pd.DataFrame({"probability": [0.5], "prediction": [1]})),
            input_example=example,
        )
    return run.info.run_id, info.model_uri
