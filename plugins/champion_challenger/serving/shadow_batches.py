"""The router's rows in flight: merged request batches, queued shadow jobs, capture records.

Pure NumPy (no Triton): the BLS router (:mod:`champion_challenger.serving.triton_backend.router`)
imports it inside the Triton Python backend, and tests use it directly.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np

from champion_challenger.serving.capture import FEATURE_PREFIX, NO_CHALLENGER


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
    champion_probability: np.ndarray
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


def capture_columns(jobs: list[ShadowJob], challenger: int | None, prob: np.ndarray, pred: np.ndarray, latency_ms: float) -> dict:
    """Capture records of ``jobs`` (one row each) with the challenger's answers (NaN / -1 when only logged)."""
    n = sum(len(job.keys) for job in jobs)
    inputs = {name: np.concatenate([job.inputs[name] for job in jobs]) for name in jobs[0].inputs}

    def per_row(value_of) -> np.ndarray:
        return np.concatenate([value_of(job) for job in jobs])

    return {
        "request_id": [r for job in jobs for r in job.request_ids],
        "entity_key": [k for job in jobs for k in job.keys],
        "timestamp": per_row(lambda job: np.full(len(job.keys), np.datetime64(job.timestamp.replace(tzinfo=None), "us"))),
        "champion_version": per_row(lambda job: np.full(len(job.keys), job.champion_version, np.int64)),
        "challenger_version": np.full(n, NO_CHALLENGER if challenger is None else challenger, np.int64),
        "champion_probability": per_row(lambda job: job.champion_probability),
        "challenger_probability": prob,
        "champion_prediction": per_row(lambda job: job.champion_prediction),
        "challenger_prediction": pred,
        "champion_latency_ms": per_row(lambda job: np.full(len(job.keys), job.champion_latency_ms)),
        "challenger_latency_ms": np.full(n, latency_ms),
        **{FEATURE_PREFIX + name: column(values) for name, values in inputs.items()},
    }
