"""Train one Ludwig candidate on a window of accepted data."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from champion_challenger.config.ludwig_schema import ModelSchema
from champion_challenger.task import TaskKind, encode_labels
from champion_challenger.training.pyfunc import ludwig_scores

SAVED_MODEL_DIR = "ludwig_model"


@dataclass
class TrainedModel:
    """A trained, saved Ludwig model and what it reported.

    Attributes:
        model_dir: folder written by ``LudwigModel.save``.
        validation_metrics: our metrics of the task for the saved (best-epoch) model on the validation rows.
        epoch_metrics: Ludwig's per-epoch ``{split: {metric: [values]}}`` of the target.
        statistics: Ludwig's full training statistics.
        device: ``cuda`` or ``cpu``.
        task: ``binary``, ``multiclass`` or ``regression``.
        classes: multiclass: the class order of :meth:`predict_scores`' columns.
    """

    model_dir: Path
    validation_metrics: dict[str, float]
    epoch_metrics: dict[str, dict[str, list[float]]]
    statistics: dict[str, Any]
    device: str
    model: Any = field(repr=False, default=None)
    task: TaskKind = "binary"
    classes: tuple[str, ...] = ()

    def predict_scores(self, frame: pd.DataFrame) -> np.ndarray:
        """The task's scores (:mod:`champion_challenger.task`) from the in-memory Ludwig model."""
        scored = self.model.predict(frame, return_type=pd.DataFrame)[0]
        return ludwig_scores(scored, self.model.config["output_features"][0]["name"], self.task, self.classes)


def config_hash(ludwig_config: dict[str, Any]) -> str:
    """Short stable hash of a Ludwig config (key order does not matter)."""
    return hashlib.sha256(json.dumps(ludwig_config, sort_keys=True).encode()).hexdigest()[:12]


def split_validation(train_df: pd.DataFrame, timestamp_column: str, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Newest ``fraction`` of the training rows validates (early stopping, selection); the rest fits."""
    ordered = train_df.sort_values(timestamp_column, kind="stable").reset_index(drop=True)
    cut = int(round(len(ordered) * (1 - fraction)))
    return ordered.iloc[:cut], ordered.iloc[cut:]


def train_ludwig(
    ludwig_config: dict[str, Any],
    fit_df: pd.DataFrame,
    valid_df: pd.DataFrame,
    schema: ModelSchema,
    work_dir: Path,
    seed: int,
    classes: tuple[str, ...] = (),
) -> TrainedModel:
    """Train one Ludwig model and save it under ``work_dir/ludwig_model``.

    Only the schema's feature columns and target reach Ludwig; ids and timestamps never become
    features. Ludwig uses CUDA when a GPU is visible and the CPU otherwise.

    Args:
        classes: multiclass: the pipeline's classes, the order of the validation metrics' probabilities.
    """
    import torch
    from ludwig.api import LudwigModel

    columns = [*schema.feature_names, schema.target]
    model = LudwigModel(copy.deepcopy(ludwig_config), logging_level=logging.WARNING)
    stats, _, _ = model.train(
        training_set=fit_df[columns],
        validation_set=valid_df[columns],
        output_directory=str(work_dir / "ludwig_runs"),
        skip_save_processed_input=True,
        skip_save_progress=True,
        skip_save_log=True,
        random_seed=seed,
    )
    model_dir = work_dir / SAVED_MODEL_DIR
    model.save(str(model_dir))
    epochs = {split: _target_series(getattr(stats, split), schema.target) for split in ("training", "validation")}
    trained = TrainedModel(
        model_dir=model_dir,
        validation_metrics={},
        epoch_metrics=epochs,
        statistics={split: _jsonable(getattr(stats, split)) for split in ("training", "validation")},
        device="cuda" if torch.cuda.is_available() else "cpu",
        model=model,
        task=schema.task,
        classes=tuple(classes),
    )
    y = encode_labels(schema.task, valid_df[schema.target], classes)
    from champion_challenger.metrics import task_metrics  # scikit-learn: only in the process that trains

    trained.validation_metrics = task_metrics(schema.task, y, trained.predict_scores(valid_df[schema.feature_names]))
    return trained


def _target_series(split_stats: Any, target: str) -> dict[str, list[float]]:
    feature_stats = split_stats[target] if isinstance(split_stats, dict) else getattr(split_stats, target, {})
    return {name: [float(v) for v in values] for name, values in dict(feature_stats).items()}


def _jsonable(split_stats: Any) -> dict[str, Any]:
    return json.loads(json.dumps(dict(split_stats), default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))
