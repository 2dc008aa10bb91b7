"""MLflow tracking: one run per pipeline cycle, a nested run per trained challenger."""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd
from mlflow import MlflowClient
from mlflow.models import ModelSignature, infer_signature
from mlflow.types import ColSpec, Schema

from champion_challenger import tags
from champion_challenger.config.ludwig_schema import ModelSchema
from champion_challenger.training.ludwig_trainer import TrainedModel, config_hash
from champion_challenger.training.pyfunc import LUDWIG_ARTIFACT, SERVING_ARTIFACT, LudwigPyfuncModel, pip_requirements

REFERENCE_ARTIFACT = "reference/reference.parquet"


@dataclass(frozen=True)
class CandidateData:
    """The rows a candidate was fitted and validated on, and where they came from."""

    fit: pd.DataFrame
    validation: pd.DataFrame
    source: str
    window_start: str
    window_end: str
    #: Rows the serving export is checked on (the cycle's holdout); None = the validation rows.
    holdout: pd.DataFrame | None = None


def experiment_id(client: MlflowClient, name: str) -> str:
    """Id of the experiment ``name``, created on first use."""
    experiment = client.get_experiment_by_name(name)
    return experiment.experiment_id if experiment else client.create_experiment(name)


def find_run(
    client: MlflowClient, exp_id: str, cycle_id: str, kind: str, candidate: str | None = None, finished: bool = False
) -> str | None:
    """Run id of the ``kind`` run (``cycle`` or ``training``) of one cycle, if it exists.

    Args:
        candidate: for training runs, the candidate's name.
        finished: only runs that completed (a crashed attempt's run does not count).
    """
    query = f"tags.`{tags.CYCLE_ID}` = '{cycle_id}' and tags.`{tags.RUN_KIND}` = '{kind}'"
    if candidate is not None:
        query += f" and tags.`{tags.CANDIDATE}` = '{candidate}'"
    if finished:
        query += " and attributes.status = 'FINISHED'"
    runs = client.search_runs([exp_id], filter_string=query, max_results=1, order_by=["attributes.start_time DESC"])
    return runs[0].info.run_id if runs else None


def cycle_decision(client: MlflowClient, experiment_name: str, cycle_id: str | None = None) -> dict[str, Any] | None:
    """The gate's decision as a cycle's MLflow run records it: ``action`` (promote / hold / reject / skip),
    ``reason``, ``at`` and ``cycle_run_id``; of cycle ``cycle_id``, or of the newest decided cycle.
    None when there is no such run."""
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        return None
    which = f"tags.`{tags.CYCLE_ID}` = '{cycle_id}'" if cycle_id else f"tags.`{tags.DECISION_ACTION}` != ''"
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`{tags.RUN_KIND}` = 'cycle' and {which}",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not runs:
        return None
    found = runs[0].data.tags
    return {
        "action": found.get(tags.DECISION_ACTION),
        "reason": found.get(tags.DECISION_REASON),
        "at": found.get(tags.DECISION_AT),
        "cycle_run_id": runs[0].info.run_id,
    }


def cycle_run(client: MlflowClient, exp_id: str, cycle_id: str) -> str:
    """The cycle's MLflow run, created once: a retried task finds the same run."""
    existing = find_run(client, exp_id, cycle_id, "cycle")
    if existing:
        return existing
    run = client.create_run(exp_id, run_name=f"cycle {cycle_id}", tags={tags.CYCLE_ID: cycle_id, tags.RUN_KIND: "cycle"})
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


def code_version() -> str:
    """Git commit of the deployed code when available, else the package version."""
    import subprocess

    from champion_challenger import __version__
    from champion_challenger.config.settings import REPO_ROOT

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return __version__
    return f"{__version__}+g{commit}" if commit else __version__


def log_candidate(
    tracking_uri: str,
    exp_id: str,
    parent_run_id: str,
    cycle_id: str,
    candidate: str,
    trained: TrainedModel,
    ludwig_config: dict[str, Any],
    data: CandidateData,
    schema: ModelSchema,
    importance_metric: str | None = None,
) -> tuple[str, str]:
    """Log a trained candidate as a run nested under the cycle run, with its pyfunc model.

    The run holds the flattened Ludwig config as params, per-epoch metrics, the config, training
    statistics, learning curves, permutation importance (by ``importance_metric``, default the task's
    primary metric), the reference sample for drift, the training data's lineage and the model with
    signature and input example.

    Returns:
        ``(run_id, model_uri)`` of the training run and the logged model.
    """
    mlflow.set_tracking_uri(tracking_uri)
    run_tags = {
        tags.CYCLE_ID: cycle_id,
        tags.RUN_KIND: "training",
        tags.CANDIDATE: candidate,
        "mlflow.parentRunId": parent_run_id,
        tags.CONFIG_HASH: config_hash(ludwig_config),
        tags.CODE_VERSION: code_version(),
        tags.DATA_WINDOW: f"{data.window_start} .. {data.window_end}",
        tags.DEVICE: trained.device,
    }
    features = data.fit[schema.feature_names]
    with mlflow.start_run(experiment_id=exp_id, run_name=f"{candidate} · {cycle_id}", tags=run_tags) as run:
        params = list(flatten(ludwig_config).items())
        for start in range(0, len(params), 100):  # MLflow accepts at most 100 params per batch
            mlflow.log_params(dict(params[start : start + 100]))
        for split, series in trained.epoch_metrics.items():
            for name, values in series.items():
                for epoch, value in enumerate(values):
                    mlflow.log_metric(f"{split}_{name}", value, step=epoch)
        mlflow.log_metrics({f"best_validation_{k}": v for k, v in trained.validation_metrics.items()})
        mlflow.log_dict(ludwig_config, "ludwig_config.yaml")
        mlflow.log_dict(trained.statistics, "training_statistics.json")
        for frame, context, name in ((data.fit, "training", "fit"), (data.validation, "validation", "validation")):
            dataset = mlflow.data.from_pandas(frame, source=data.source, name=f"{name}_window", targets=schema.target)
            mlflow.log_input(dataset, context=context, tags={"rows": str(len(frame))})
        _log_reports(trained, data, schema, importance_metric)
        example = features.head(5)
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=LudwigPyfuncModel(),
            artifacts={LUDWIG_ARTIFACT: str(trained.model_dir), SERVING_ARTIFACT: str(_serving_export(trained, data))},
            signature=ModelSignature(inputs=infer_signature(example).inputs, outputs=output_schema(trained)),
            input_example=example,
            pip_requirements=list(pip_requirements()),
        )
        mlflow.set_tag(tags.MODEL_URI, info.model_uri)
    return run.info.run_id, info.model_uri


def _serving_export(trained: TrainedModel, data: CandidateData) -> Path:
    """Export the candidate for serving (checked on the holdout, else the validation rows) beside its Ludwig model;
    the outcome goes on the active run: ``ccp.serving_format`` (onnx / ludwig), the reason for the Ludwig path,
    the parity figure and the export's seconds."""
    from champion_challenger.serving.onnx_export import export_serving  # torch: only where a model was trained

    serving = trained.model_dir.parent / SERVING_ARTIFACT
    export = export_serving(trained.model, serving, data.validation if data.holdout is None else data.holdout)
    mlflow.set_tag(tags.SERVING_FORMAT, export.format)
    if export.reason:
        mlflow.set_tag(tags.SERVING_FALLBACK_REASON, export.reason[:5000])
    if export.max_abs_diff is not None:
        mlflow.log_metric("serving_parity_max_abs_diff", export.max_abs_diff)
    mlflow.log_metric("serving_export_seconds", export.seconds)
    return serving


def output_schema(trained: TrainedModel) -> Schema:
    """The pyfunc's output columns (:mod:`champion_challenger.training.pyfunc`): binary ``probability`` and
    ``prediction``; multiclass the predicted label and one ``probability_<class>`` per class; regression
    the predicted value."""
    if trained.task == "regression":
        return Schema([ColSpec("double", "prediction")])
    if trained.task == "multiclass":
        classes = sorted(trained.model.training_set_metadata[trained.model.config["output_features"][0]["name"]]["idx2str"])
        return Schema([ColSpec("string", "prediction"), *(ColSpec("double", f"probability_{c}") for c in classes)])
    return Schema([ColSpec("double", "probability"), ColSpec("long", "prediction")])


def _log_reports(trained: TrainedModel, data: CandidateData, schema: ModelSchema, metric: str | None) -> None:
    """Learning curves, permutation importance (by ``metric``) and the drift reference sample, into the active run."""
    from champion_challenger.training import reports  # scikit-learn and matplotlib: only where a model was trained

    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        mlflow.log_artifact(str(reports.plot_learning_curves(trained.epoch_metrics, tmp_dir / "learning_curves.png")), "plots")
        importance = reports.permutation_importance(
            trained.predict_scores, data.validation, schema, classes=trained.classes, metric=metric
        )
        mlflow.log_dict(importance, "feature_importance.json")
        plot = reports.plot_importance(importance, tmp_dir / "feature_importance.png", metric=metric or "roc_auc")
        mlflow.log_artifact(str(plot), "plots")
        ref = tmp_dir / "reference.parquet"
        labelled = data.fit[[*schema.feature_names, schema.target]]  # features and label: feature + target drift
        labelled.sample(n=min(len(labelled), 5000), random_state=0).to_parquet(ref, index=False)
        mlflow.log_artifact(str(ref), "reference")
