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

Compaction (:func:`compact_captures`, run by ``champion_watch``'s ``prune_stores`` and ``ccp prune``)
merges the many small files the router writes into an hour (one per flush) into one file, so a 14-day
window reads ~340 files instead of tens of thousands. The merged file is renamed in first and names
the files it replaces in its Parquet metadata; readers skip a file some merged file replaces, then the
replaced files are deleted. A reader therefore sees every record exactly once at every moment, and a
compaction that dies half way leaves a state the next one finishes.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

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
#: Parquet metadata key of a merged file: the JSON list of the file names it replaces.
REPLACES_KEY = b"ccp.replaces"
#: An hour is compacted once it ended this long ago (late flushes land in an hour after it ends).
COMPACTION_SETTLE = timedelta(minutes=10)


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
        return _write_atomically(pa.Table.from_pandas(records, preserve_index=False), folder)


def _write_atomically(table: pa.Table, folder: Path, suffix: str = "") -> Path:
    """Write ``table`` as a new part file of ``folder``: a temporary name first, then a rename."""
    name = f"part-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}{suffix}.parquet"
    tmp = folder / f".{name}.tmp"
    try:
        pq.write_table(table, tmp)
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

    Only the hour partitions overlapping the interval are opened; in each, the live files (not the
    ones a compacted file replaces). A file that a concurrent compaction deleted is re-listed.
    """
    hours = [h for h in hour_partitions(capture_dir, model) if _hour_overlaps(h, since, until)]
    tables = [table for hour in hours for table in _read_hour(hour)]
    if not tables:
        return pd.DataFrame(columns=list(RECORD_COLUMNS))
    records = pa.concat_tables(tables, promote_options="permissive").to_pandas()
    if since is not None:
        records = records[records["timestamp"] >= pd.Timestamp(since)]
    if until is not None:
        records = records[records["timestamp"] < pd.Timestamp(until)]
    return records.sort_values("timestamp", kind="stable").reset_index(drop=True)


def hour_partitions(capture_dir: str | Path, model: str) -> list[Path]:
    """The hour folders of ``model``'s capture store, oldest first."""
    return sorted((Path(capture_dir) / f"model={model}").glob("date=*/hour=*"))


def live_files(hour: Path) -> list[Path]:
    """The part files of an hour folder that hold its records: every file no compacted file replaces."""
    files, replaced = _listing(hour)
    return [f for f in files if f.name not in replaced]


def _listing(hour: Path) -> tuple[list[Path], set[str]]:
    """The part files of an hour folder and the names its compacted files replace."""
    files = sorted(hour.glob("part-*.parquet"))
    return files, _replaced_names(files)


def _replaced_names(files: list[Path]) -> set[str]:
    replaced: set[str] = set()
    for path in files:
        if path.name.endswith("-compacted.parquet"):
            metadata = pq.read_schema(path).metadata or {}
            replaced.update(json.loads(metadata.get(REPLACES_KEY, b"[]")))
    return replaced


def _read_hour(hour: Path, attempts: int = 5) -> list[pa.Table]:
    for attempt in range(attempts):
        try:
            return [pq.read_table(f) for f in live_files(hour)]
        except FileNotFoundError:  # a compaction replaced a file between listing and reading
            if attempt == attempts - 1:
                raise
    return []


@dataclass(frozen=True)
class CompactionResult:
    """What :func:`compact_captures` did: hour folders merged, files before and after, records merged."""

    hours: int = 0
    files_before: int = 0
    files_after: int = 0
    records: int = 0


def compact_captures(capture_dir: str | Path, model: str, now: datetime | None = None, dry_run: bool = False) -> CompactionResult:
    """Merge each finished hour's part files into one file (see the module docstring).

    An hour is finished once it ended :data:`COMPACTION_SETTLE` ago; a file the router writes into it
    later is merged by the next compaction. Temporary files older than a day (left by a crash) go too.
    One compaction per model at a time (a lock file in the model's folder); a second one returns at once.

    Args:
        capture_dir: root of the capture store.
        model: router model name.
        now: the current time (tests pass one).
        dry_run: count what would be merged, change nothing.
    """
    root = Path(capture_dir) / f"model={model}"
    if not root.is_dir():
        return CompactionResult()
    with open(root / ".compaction.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:  # another compaction of this model is running
            return CompactionResult()
        return _compact(capture_dir, model, (now or datetime.now(UTC)) - COMPACTION_SETTLE, dry_run)


def _compact(capture_dir: str | Path, model: str, cutoff: datetime, dry_run: bool) -> CompactionResult:
    hours = files_before = files_after = records = 0
    for hour in hour_partitions(capture_dir, model):
        if hour_start(hour) + timedelta(hours=1) > cutoff:
            continue
        _remove_stale_temporaries(hour)
        files, replaced = _listing(hour)
        live = [f for f in files if f.name not in replaced]
        if len(live) > 1:
            hours, files_before, files_after = hours + 1, files_before + len(live), files_after + 1
            records += 0 if dry_run else _merge(hour, files, live)
        elif replaced and not dry_run:  # a compaction died after its rename: finish its deletions
            for path in files:
                if path.name in replaced:
                    path.unlink(missing_ok=True)
    return CompactionResult(hours, files_before, files_after, records)


def _merge(hour: Path, files: list[Path], live: list[Path]) -> int:
    """Write the live files of ``hour`` as one file naming every file it replaces, then delete those."""
    table = pa.concat_tables([pq.read_table(f) for f in live], promote_options="permissive")
    names = json.dumps(sorted(f.name for f in files)).encode()  # replaced leftovers of a crash go too
    _write_atomically(table.replace_schema_metadata({**(table.schema.metadata or {}), REPLACES_KEY: names}), hour, "-compacted")
    for path in files:
        path.unlink(missing_ok=True)
    return table.num_rows


def _remove_stale_temporaries(hour: Path) -> None:
    for tmp in hour.glob(".part-*.tmp"):
        try:
            if time.time() - tmp.stat().st_mtime > 86400:
                tmp.unlink(missing_ok=True)
        except FileNotFoundError:  # a writer renamed it meanwhile
            continue


def hour_start(hour: Path) -> datetime:
    """When the records of an hour folder (``.../date=YYYY-MM-DD/hour=HH``) begin (UTC)."""
    date, hh = hour.parent.name.split("=")[1], hour.name.split("=")[1]
    return datetime.fromisoformat(f"{date}T{hh}:00:00+00:00")


def _hour_overlaps(hour: Path, since: datetime | None, until: datetime | None) -> bool:
    start = hour_start(hour)
    end = start + timedelta(hours=1)
    return (since is None or end > since) and (until is None or start < until)
