"""The router's rows in flight: merged request batches, queued shadow jobs, capture records.

Pure NumPy (no Triton): the BLS router (:mod:`champion_challenger.serving.triton_backend.router`)
imports it inside the Triton Python backend, and tests use it directly.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from champion_challenger.serving.capture import FEATURE_PREFIX, NO_CHALLENGER, SCORE_CLASSES
from champion_challenger.task import TaskKind, score_cells


@dataclass
class Batch:
    """The rows of one or more requests, merged for one call per version."""

    inputs: dict  # input name -> array [rows, 1]
    keys: list
    request_ids: list
    sizes: list  # rows per request, in order


@dataclass
class ShadowJob:
    """Rows the champion answered, queued for the challenger (or, challenger None, for the prediction log)."""

    inputs: dict
    keys: list
    request_ids: list
    champion_version: int
    champion_score: np.ndarray  # (rows,) or, multiclass, (rows, K)
    champion_prediction: np.ndarray
    champion_latency_ms: float
    challenger_version: int | None
    timestamp: datetime


def merge_batches(batches: list[Batch], names: list[str]) -> Batch:
    """One batch holding the rows of ``batches`` in order (feature ``names``)."""
    if len(batches) == 1:
        return batches[0]
    return Batch(
        {name: np.concatenate([b.inputs[name] for b in batches]) for name in names},
        [k for b in batches for k in b.keys],
        [r for b in batches for r in b.request_ids],
        [b.sizes[0] for b in batches],
    )


def take_rows(inputs: dict, rows: np.ndarray) -> dict:
    """The given rows of every input array."""
    return {name: array[rows] for name, array in inputs.items()}


def text(value: object) -> str:
    """A tensor element as text (bytes decoded as UTF-8)."""
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def column(values: np.ndarray) -> list | np.ndarray:
    """A [rows, 1] input as a flat capture column (text features as str)."""
    flat = values.reshape(-1)
    return [text(v) for v in flat] if flat.dtype == object else flat


def row_bytes(inputs: dict) -> list[bytes]:
    """Each row's feature values joined: the routing key of rows that carry no entity key."""
    arrays = list(inputs.values())
    return [b"|".join(text(a[i, 0]).encode() for a in arrays) for i in range(len(arrays[0]))]


def no_challenger_answer(task: TaskKind, n: int) -> tuple[np.ndarray | list, np.ndarray | list]:
    """Score and prediction columns of ``n`` prediction-log records (no challenger asked): NaN and -1
    (binary), null and "" (multiclass), NaN and NaN (regression)."""
    if task == "multiclass":
        return [None] * n, [""] * n
    nan = np.full(n, np.nan)
    return nan, (np.full(n, -1, np.int32) if task == "binary" else nan)


def disagreements(task: TaskKind, champion: np.ndarray, challenger: np.ndarray, tolerance: float = 0.0) -> int:
    """Rows where the two answers disagree: the labels differ (classifiers), or the predicted values
    differ by more than ``tolerance`` (regression)."""
    champion, challenger = np.asarray(champion).reshape(-1), np.asarray(challenger).reshape(-1)
    if task == "regression":
        return int((np.abs(champion.astype(float) - challenger.astype(float)) > tolerance).sum())
    return int((champion != challenger).sum())


def capture_columns(
    jobs: list[ShadowJob],
    challenger: int | None,
    score: np.ndarray | list,
    prediction: np.ndarray | list,
    latency_ms: float,
    task: TaskKind = "binary",
    classes: Sequence[str] = (),
) -> dict:
    """Capture records of ``jobs`` (one row each) with the challenger's answers (see
    :func:`no_challenger_answer` for records of rows only logged); multiclass records carry
    ``score_classes``, the class order of the score lists."""
    n = sum(len(job.keys) for job in jobs)
    inputs = {name: np.concatenate([job.inputs[name] for job in jobs]) for name in jobs[0].inputs}

    def per_row(value_of) -> np.ndarray:
        return np.concatenate([value_of(job) for job in jobs])

    records = {
        "request_id": [r for job in jobs for r in job.request_ids],
        "entity_key": [k for job in jobs for k in job.keys],
        "timestamp": per_row(lambda job: np.full(len(job.keys), np.datetime64(job.timestamp.replace(tzinfo=None), "us"))),
        "champion_version": per_row(lambda job: np.full(len(job.keys), job.champion_version, np.int64)),
        "challenger_version": np.full(n, NO_CHALLENGER if challenger is None else challenger, np.int64),
        "champion_score": _scores(per_row(lambda job: job.champion_score)),
        "challenger_score": _scores(score),
        "champion_prediction": column(per_row(lambda job: job.champion_prediction)),
        "challenger_prediction": prediction if isinstance(prediction, list) else column(np.asarray(prediction)),
        "champion_latency_ms": per_row(lambda job: np.full(len(job.keys), job.champion_latency_ms)),
        "challenger_latency_ms": np.full(n, latency_ms),
    }
    if task == "multiclass":
        records[SCORE_CLASSES] = [json.dumps(list(classes))] * n
    return {**records, **{FEATURE_PREFIX + name: column(values) for name, values in inputs.items()}}


def _scores(values: np.ndarray | list) -> np.ndarray | list:
    """A score column: floats, or (multiclass) one list of class probabilities per row (None stays None)."""
    return values if isinstance(values, list) else score_cells(np.asarray(values, dtype=float))
