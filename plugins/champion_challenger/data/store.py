"""The batch data store: landing → raw (kept as received) → accepted (typed parquet) or quarantine.

Layout under the data root (``<CCP_HOME>/data`` by default)::

    landing/                 new batch files arrive here
    raw/<run_key>/           files claimed by one pipeline run, exactly as received (never deleted)
    accepted/<t>__<name>.parquet   validated, typed batches, named by their first timestamp
    quarantine/<name>        batches that broke the schema, with <name>.reason.json beside them
                             (a name already there gets a ``.<n>`` before its suffix: nothing is overwritten)
    classes.json             multiclass: every class of the accepted labels (sorted)
    categories.json          every value of each category feature in the accepted batches
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

SUPPORTED_SUFFIXES = (".csv", ".parquet")
#: The classes of every accepted multiclass label, beside the accepted batches (sorted JSON list).
CLASSES_FILE = "classes.json"
#: Each category feature's values seen in the accepted batches (JSON object: feature → sorted list).
CATEGORIES_FILE = "categories.json"

log = logging.getLogger(__name__)


def safe_name(key: str) -> str:
    """A run id (``manual__2026-01-01T00:00:00+00:00``) as a file-system-safe folder name: no path
    separator, and no leading dot (so never ``..``)."""
    return re.sub(r"^\.", "_", re.sub(r"[^A-Za-z0-9_.\-]+", "_", key)) or "_"


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

    def known_classes(self, configured: Iterable[str] | None = None) -> tuple[str, ...]:
        """Multiclass: the configured classes (``data.classes``) in their order, then any other class of the
        accepted labels (accepted under ``data.unseen_classes: accept``), sorted; without configured
        classes, every class of the accepted labels, sorted."""
        recorded = tuple(self._read_json(CLASSES_FILE, []))
        if not configured:
            return recorded
        first = tuple(dict.fromkeys(str(c) for c in configured))
        return first + tuple(c for c in recorded if c not in first)

    def add_classes(self, classes: Iterable[str]) -> tuple[str, ...]:
        """Record classes of newly accepted labels (atomic replace); returns the sorted union."""
        known = tuple(sorted(set(self.known_classes()) | {str(c) for c in classes}))
        self._write_json(CLASSES_FILE, list(known))
        return known

    def known_categories(self) -> dict[str, frozenset[str]]:
        """Each category feature's values seen in the accepted batches (feature → values)."""
        return {name: frozenset(values) for name, values in self._read_json(CATEGORIES_FILE, {}).items()}

    def add_categories(self, values: Mapping[str, Iterable[str]]) -> None:
        """Record the category values of a newly accepted batch (feature → values; atomic replace)."""
        known = self.known_categories()
        merged = {name: sorted(known.get(name, frozenset()) | {str(v) for v in new}) for name, new in values.items()}
        self._write_json(CATEGORIES_FILE, {**{k: sorted(v) for k, v in known.items()}, **merged})

    def _read_json(self, name: str, default: Any) -> Any:
        path = self.root / name
        return json.loads(path.read_text()) if path.exists() else default

    def _write_json(self, name: str, payload: Any) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.root / f".{name}.tmp"
        tmp.write_text(json.dumps(payload))
        os.replace(tmp, self.root / name)


def claim_new_batches(store: DataStore, run_key: str, pattern: str, stable_seconds: float = 0.0) -> list[Path]:
    """Move new batch files from landing into this run's raw folder.

    Idempotent: a retried run gets the files it claimed the first time, and a file is never
    claimed by two runs (``os.replace`` is atomic on one file system). Only regular files directly in
    the landing folder are claimed: hidden files and other suffixes (``.tmp``, ``.part``) are left, a
    symbolic link is left with a warning (it could point outside the store), and a file modified in
    the last ``stable_seconds`` is waited for once; one still changing then is left for the next cycle.

    Args:
        store: the data store.
        run_key: the pipeline run's id (Airflow ``run_id``).
        pattern: glob of batch files, e.g. ``*.csv``.
        stable_seconds: how long a file must be unchanged before it is claimed.

    Returns:
        The claimed files in the run's raw folder, in name order; empty when nothing arrived.
    """
    run_dir = store.run_dir(run_key)
    run_dir.mkdir(parents=True, exist_ok=True)
    for src in _stable(landing_candidates(store, pattern), stable_seconds):
        os.replace(src, run_dir / src.name)
    return claimed_files(store, run_key)


def claimed_files(store: DataStore, run_key: str) -> list[Path]:
    """The batch files run ``run_key`` claimed, in name order (moved, so they keep their time of landing)."""
    run_dir = store.run_dir(run_key)
    return sorted(p for p in run_dir.iterdir() if p.is_file() and p.suffix in SUPPORTED_SUFFIXES) if run_dir.is_dir() else []


def landing_candidates(store: DataStore, pattern: str) -> list[Path]:
    """Batch files in the landing folder a cycle may claim (see :func:`claim_new_batches`)."""
    found = []
    for src in sorted(store.landing.glob(pattern)) if store.landing.is_dir() else []:
        if src.name.startswith(".") or src.suffix not in SUPPORTED_SUFFIXES or src.parent != store.landing:
            continue
        if src.is_symlink():
            log.warning("%s is a symbolic link: not claimed (land a copy of the file, not a link)", src)
        elif src.is_file():
            found.append(src)
    return found


def _stable(files: list[Path], stable_seconds: float) -> list[Path]:
    """The files unchanged for ``stable_seconds`` (waiting once for the youngest to settle)."""
    if not files or stable_seconds <= 0:
        return files
    seen = {f: _signature(f) for f in files}
    youngest = max(sig[1] for sig in seen.values() if sig is not None) if any(seen.values()) else 0.0
    wait = stable_seconds - (time.time() - youngest)
    if wait > 0:
        time.sleep(min(wait, stable_seconds))
    stable = [f for f in files if seen[f] is not None and _signature(f) == seen[f]]
    for f in sorted(set(files) - set(stable)):
        log.warning("%s is still being written (it changed in the last %gs): left for the next cycle", f, stable_seconds)
    return stable


def _signature(path: Path) -> tuple[int, float] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_size, st.st_mtime


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
