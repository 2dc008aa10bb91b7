"""Train a Ludwig challenger on a window of accepted data."""

from __future__ import annotations

import copy
import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from champion_challenger.config import ModelSchema


@dataclass(frozen=True)
class TrainedModel:
    """A trained, saved Ludwig model and what it reported.

    Attributes:
        model_dir: folder written by ``LudwigModel.save``.
        validation_metrics: last-epoch validation metrics of the target (``roc_auc``, ``loss`` ...).
        epoch_metrics: per-epoch ``{split: {metric: [values]}}`` of the target.
        config: the Ludwig config used, with seed-dependent defaults resolved by Ludwig.
    """

    model_dir: Path
    validation_metrics: dict[str, float]
    epoch_metrics: dict[str, dict[str, list[float]]]
    config: dict[str, Any]


def config_hash(ludwig_config: dict[str, Any]) -> str:
    """Short stable hash of a Ludwig config (key order does not matter)."""
    return hashlib.sha256(json.dumps(ludwig_config, sort_keys=True).encode()).hexdigest()[:12]


def train_ludwig(
    ludwig_config: dict[str, Any],
    train_df: pd.DataFrame,
    schema: ModelSchema,
    work_dir: Path,
    seed: int,
) -> TrainedModel:
    """Train one Ludwig model on ``train_df`` and save it under ``work_dir/model``.

    Only the schema's feature columns and target are given to Ludwig; ids and timestamps never
    become features. Ludwig uses CUDA when present and the CPU otherwise.
    """
    from ludwig.api import LudwigModel

    columns = [*schema.feature_names, schema.target]
    model = LudwigModel(copy.deepcopy(ludwig_config), logging_level=logging.WARNING)
    stats, _, _ = model.train(
        dataset=train_df[columns],
        output_directory=str(work_dir / "ludwig_runs"),
        skip_save_processed_input=True,
        skip_save_progress=True,
        skip_save_log=True,
        random_seed=seed,
    )
    model_dir = work_dir / "model"
    model.save(str(model_dir))
    epochs = {split: _target_series(getattr(stats, split), schema.target) for split in ("training", "validation")}
    last = {name: values[-1] for name, values in epochs["validation"].items() if values}
    return TrainedModel(model_dir=model_dir, validation_metrics=last, epoch_metrics=epochs, config=model.config)


def _target_series(split_stats: Any, target: str) -> dict[str, list[float]]:
    feature_stats = split_stats[target] if isinstance(split_stats, dict) else getattr(split_stats, target, {})
    return {name: [float(v) for v in values] for name, values in dict(feature_stats).items()}
