"""What every synthetic data set shares: six-hourly batches, deterministic in ``(seed, batch index)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np

BATCH_HOURS = 6
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class BatchSpec:
    """Parameters of one generated batch."""

    index: int
    rows: int
    seed: int
    drifted: bool


def batch_start(index: int) -> datetime:
    """Start time of batch ``index``."""
    return EPOCH + timedelta(hours=BATCH_HOURS * index)


def batch_rng(spec: BatchSpec) -> np.random.Generator:
    """The batch's own random generator: the same ``(seed, index)`` gives the same rows."""
    return np.random.default_rng([spec.seed, spec.index])


def event_times(rng: np.random.Generator, spec: BatchSpec) -> list[datetime]:
    """``spec.rows`` sorted event times within the batch's six hours."""
    start = batch_start(spec.index)
    return [start + timedelta(seconds=float(s)) for s in np.sort(rng.uniform(0, BATCH_HOURS * 3600, spec.rows))]


def row_ids(prefix: str, spec: BatchSpec) -> list[str]:
    """Unique ids of the batch's rows, e.g. ``T00003-00042``."""
    return [f"{prefix}{spec.index:05d}-{i:05d}" for i in range(spec.rows)]
