"""The capture store: one record per mirrored row, Parquet files partitioned by model, date and hour.

Records of rows mirrored to a challenger carry both models' answers; prediction-log records (a
sample of champion-answered rows, for label-based monitoring) carry ``challenger_version`` =
:data:`NO_CHALLENGER` and empty challenger fields.

What a record holds follows the served model's task:

=============  ===============================  ===============================  ========================
task           ``*_score``                      ``*_prediction``                 empty challenger fields
=============  ===============================  ===============================  ========================
binary         P(positive class), float         0/1, int                         NaN, -1
multiclass     class probabilities, list<float>  the predicted class, str         null, ""
               in ``score_classes`` order
regression     the predicted value, float       the predicted value, float       NaN, NaN
=============  ===============================  ===============================  ========================

Multiclass records add ``score_classes`` (a JSON list: the class order of the score lists).

Layout: ``<capture_dir>/model=<name>/date=YYYY-MM-DD/hour=HH/part-<time>-<uuid>.parquet``. Files are
written to a temporary name and renamed, so a reader never sees half a file. The router writes;
the pipeline reads (and joins labels that arrive later on ``entity_key``).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

#: Columns every capture record has; feature columns follow, named ``feature.<name>``.
RECORD_COLUMNS = (
    "request_id",
    "entity_key",
    "timestamp",
    "champion_version",
    "challenger_version",
    "champion_score",
    "challenger_score",
    "champion_prediction",
    "challenger_prediction",
    "champion_latency_ms",
    "challenger_latency_ms",
)
#: Multiclass records only: the class order of ``champion_score``/``challenger_score`` (a JSON list).
SCORE_CLASSES = "score_classes"
FEATURE_PREFIX = "feature."
#: ``challenger_version`` of a prediction-log record: the champion's answer alone (challenger fields empty).
NO_CHALLENGER = -1


#: A writer keeps at most this many flushes' worth of records while writes fail.
MAX_BUFFERED_FLUSHES = 10


def partition_dir(capture_dir: Path, model: str, at: datetime) -> Path:
    """Folder holding the records of ``model`` captured in ``at``'s hour (UTC)."""
    at = at.astimezone(UTC)
    return capture_dir / f"model={model}" / f"date={at:%Y-%m-%d}" / f"hour={at:%H}"


class CaptureWriter:
    """Buffer capture records and write them as Parquet, by size or age.

    Records are buffered as columns (arrays or lists) and turned into one DataFrame per flush, so
    adding a record costs the router's shadow thread almost nothing. Thread-safe: the shadow
    thread adds records while a timer may flush. A write that fails (a full disk) leaves no file
    behind and keeps its records buffered for the next flush; beyond ``MAX_BUFFERED_FLUSHES`` ×
    ``flush_rows`` buffered records the oldest are dropped and counted in :attr:`dropped`.

    Args:
        capture_dir: root of the capture store.
        model: router model name (first partition level).
        flush_rows: buffered records that trigger a write.
        flush_seconds: age of the oldest buffered record that triggers a write.
    """

    def __init__(self, capture_dir: str | Path, model: str, flush_rows: int = 1000, flush_seconds: float = 10.0) -> None:
        self.capture_dir = Path(capture_dir)
        self.model = model
        self.flush_rows = flush_rows
        self.flush_seconds = flush_seconds
        self._parts: list[dict[str, Any]] = []
        self._rows = 0
        self._oldest: float | None = None
        self._lock = threading.Lock()
        #: Records dropped because writes kept failing (the router exports them as ``ccp_shadow_dropped_total``).
        self.dropped = 0

    def add(self, records: pd.DataFrame | Mapping[str, Any]) -> list[Path]:
        """Buffer records (a DataFrame, or equally long columns by name; ``timestamp`` as UTC);
        returns the files written when this call triggered a flush."""
        columns = {c: records[c].to_numpy() for c in records.columns} if isinstance(records, pd.DataFrame) else dict(records)
        rows = len(next(iter(columns.values()), []))
        if rows == 0:
            return []
        with self._lock:
            self._parts.append(columns)
            self._rows += rows
            self._oldest = self._oldest or time.monotonic()
        return self.flush() if self._rows >= self.flush_rows else []

    def due(self) -> bool:
        """True when the oldest buffered record waited ``flush_seconds``."""
        return self._oldest is not None and time.monotonic() - self._oldest >= self.flush_seconds

    def flush(self) -> list[Path]:
        """Write the buffered records, one Parquet file per hour of their timestamps."""
        with self._lock:
            parts, self._parts, self._rows, self._oldest = self._parts, [], 0, None
        if not parts:
            return []
        batch = pd.DataFrame({name: _concat([part[name] for part in parts]) for name in parts[0]})
        batch["timestamp"] = pd.to_datetime(batch["timestamp"], utc=True)
        hours = batch["timestamp"].dt.floor("h")
        written = []
        for hour, part in batch.groupby(hours, sort=True):
            try:
                written.append(self._write(part, hour.to_pydatetime()))
            except OSError:
                self._keep(batch[hours >= hour])
                raise
        return written

    def _keep(self, unwritten: pd.DataFrame) -> None:
        """Put records whose write failed back in front of the buffer, dropping the oldest beyond the bound."""
        limit = MAX_BUFFERED_FLUSHES * self.flush_rows
        with self._lock:
            room = max(limit - self._rows, 0)
            kept = unwritten.tail(room)
            self.dropped += len(unwritten) - len(kept)
            if len(kept):
                self._parts.insert(0, {c: kept[c].to_numpy() for c in kept.columns})
                self._rows += len(kept)
                self._oldest = time.monotonic()

    def _write(self, records: pd.DataFrame, hour: datetime) -> Path:
        folder = partition_dir(self.capture_dir, self.model, hour)
        folder.mkdir(parents=True, exist_ok=True)
        name = f"part-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = folder / f".{name}.tmp"
        try:
            records.to_parquet(tmp, index=False)
        except BaseException:
            tmp.unlink(missing_ok=True)  # never leave a partial file
            raise
        os.replace(tmp, folder / name)
        return folder / name


def _concat(chunks: list[Any]) -> np.ndarray | list:
    """One column from its buffered chunks (arrays stay arrays; lists of strings stay a list)."""
    if all(isinstance(c, np.ndarray) for c in chunks):
        return np.concatenate(chunks)
    return [value for chunk in chunks for value in chunk]


def read_captures(
    capture_dir: str | Path, model: str, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """All capture records of ``model`` with ``since <= timestamp < until`` (UTC), oldest first.

    Only the hour partitions overlapping the interval are opened.
    """
    root = Path(capture_dir) / f"model={model}"
    files = sorted(root.glob("date=*/hour=*/part-*.parquet"))
    if since is not None or until is not None:
        files = [f for f in files if _hour_overlaps(f, since, until)]
    if not files:
        return pd.DataFrame(columns=list(RECORD_COLUMNS))
    records = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    if since is not None:
        records = records[records["timestamp"] >= pd.Timestamp(since)]
    if until is not None:
        records = records[records["timestamp"] < pd.Timestamp(until)]
    return records.sort_values("timestamp", kind="stable").reset_index(drop=True)


def _hour_overlaps(path: Path, since: datetime | None, until: datetime | None) -> bool:
    date, hour = path.parent.parent.name.split("=")[1], path.parent.name.split("=")[1]
    start = datetime.fromisoformat(f"{date}T{hour}:00:00+00:00")
    end = start + pd.Timedelta(hours=1)
    return (since is None or end > since) and (until is None or start < until)
