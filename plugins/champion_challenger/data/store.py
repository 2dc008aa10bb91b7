"""The batch data store: landing → raw (kept as received) → accepted (typed parquet) or quarantine.

Layout under the data root (``<CCP_HOME>/data`` by default)::

    landing/                 new batch files arrive here
    raw/<run_key>/           files claimed by one pipeline run, exactly as received (never deleted)
    accepted/<t>__<name>.parquet   validated, typed batches, named by their first timestamp
    quarantine/<name>        batches that broke the schema, with <name>.reason.json beside them
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

SUPPORTED_SUFFIXES = (".csv", ".parquet")


def safe_name(key: str) -> str:
    """A run id (``manual__2026-01-01T00:00:00+00:00``) as a file-system-safe folder name."""
    return re.sub(r"[^A-Za-z0-9_.\-]+", "_", key)


@dataclass(frozen=True)
class DataStore:
    """Folders of the data store, derived from the landing folder's parent."""

    landing: Path

    @property
    def root(self) -> Path:
        return self.landing.parent

    @property
    def raw(self) -> Path:
        return self.root / "raw"

    @property
    def accepted(self) -> Path:
        return self.root / "accepted"

    @property
    def quarantine(self) -> Path:
        return self.root / "quarantine"

    def run_dir(self, run_key: str) -> Path:
        """Raw folder of one pipeline run; ``run_key`` is sanitised for the file system."""
        return self.raw / safe_name(run_key)

    def accepted_files(self) -> list[Path]:
        """Accepted batches, oldest first."""
        return sorted(self.accepted.glob("*.parquet"))


def claim_new_batches(store: DataStore, run_key: str, pattern: str) -> list[Path]:
    """Move new batch files from landing into this run's raw folder.

    Idempotent: a retried run gets the files it claimed the first time, and a file is never
    claimed by two runs (``os.replace`` is atomic on one file system).

    Args:
        store: the data store.
        run_key: the pipeline run's id (Airflow ``run_id``).
        pattern: glob of batch files, e.g. ``*.csv``.

    Returns:
        The claimed files in the run's raw folder, in name order; empty when nothing arrived.
    """
    run_dir = store.run_dir(run_key)
    run_dir.mkdir(parents=True, exist_ok=True)
    for src in sorted(store.landing.glob(pattern)) if store.landing.is_dir() else []:
        if src.is_file() and not src.name.startswith(".") and src.suffix in SUPPORTED_SUFFIXES:
            os.replace(src, run_dir / src.name)
    return sorted(p for p in run_dir.iterdir() if p.is_file() and p.suffix in SUPPORTED_SUFFIXES)


def read_raw_batch(path: Path) -> pd.DataFrame:
    """Read a received batch with every column as text, so validation sees what was sent."""
    if path.suffix == ".parquet":
        return pd.read_parquet(path).astype("string")
    return pd.read_csv(path, dtype="string", keep_default_na=True)


def load_window(store: DataStore, batches: int) -> pd.DataFrame:
    """Concatenate the newest ``batches`` accepted batches.

    Raises:
        FileNotFoundError: no batch has been accepted yet.
    """
    files = store.accepted_files()[-batches:]
    if not files:
        raise FileNotFoundError(f"no accepted batches in {store.accepted}; land batch files in {store.landing}")
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def split_holdout(frame: pd.DataFrame, timestamp_column: str, fraction: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split by time: the newest ``fraction`` of rows is the holdout, the rest trains.

    Returns:
        ``(train, holdout)``, both sorted by time.
    """
    ordered = frame.sort_values(timestamp_column, kind="stable").reset_index(drop=True)
    cut = int(round(len(ordered) * (1 - fraction)))
    return ordered.iloc[:cut].reset_index(drop=True), ordered.iloc[cut:].reset_index(drop=True)
