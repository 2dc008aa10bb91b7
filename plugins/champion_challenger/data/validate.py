"""Schema and value validation of received batches, with quarantine of the bad ones.

A batch is accepted only if every required column is present and every value parses: numbers in
numeric features, a timestamp, a binary label on every row. Otherwise the whole file moves to
quarantine with a reason file naming the file, each bad column and its count of bad rows.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from champion_challenger.data.store import DataStore, read_raw_batch
from champion_challenger.ludwig_schema import ModelSchema

TRUE_LABELS = frozenset({"1", "1.0", "true", "yes", "y", "t"})
FALSE_LABELS = frozenset({"0", "0.0", "false", "no", "n", "f"})
SUMMARY_FILE = "_validation.json"


@dataclass(frozen=True)
class ColumnProblem:
    """One problem in one column of a batch."""

    column: str
    problem: str
    bad_rows: int

    def __str__(self) -> str:
        return f"column {self.column!r}: {self.problem} ({self.bad_rows} bad rows)"


@dataclass
class BatchOutcome:
    """What happened to one batch file."""

    file: str
    rows: int
    accepted_path: str | None = None
    quarantine_path: str | None = None
    problems: list[ColumnProblem] = field(default_factory=list)

    def message(self) -> str:
        where = f" -> moved to {self.quarantine_path}" if self.quarantine_path else ""
        return f"{self.file}: " + "; ".join(str(p) for p in self.problems) + where


@dataclass
class ValidationSummary:
    """Outcome of validating one run's batches."""

    outcomes: list[BatchOutcome]

    @property
    def accepted(self) -> list[BatchOutcome]:
        return [o for o in self.outcomes if o.accepted_path]

    @property
    def quarantined(self) -> list[BatchOutcome]:
        return [o for o in self.outcomes if o.quarantine_path]

    def error_message(self) -> str:
        """A message for the on-call engineer naming each bad file, column and count."""
        lines = [f"{len(self.quarantined)} batch file(s) failed validation and were quarantined:"]
        lines += [f"  - {o.message()}" for o in self.quarantined]
        lines.append("Fix the file(s) and drop them into the landing folder again; the champion is unchanged.")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps([asdict(o) for o in self.outcomes], indent=2)

    @classmethod
    def from_json(cls, text: str) -> ValidationSummary:
        outcomes = []
        for raw in json.loads(text):
            raw["problems"] = [ColumnProblem(**p) for p in raw["problems"]]
            outcomes.append(BatchOutcome(**raw))
        return cls(outcomes)


def find_problems(frame: pd.DataFrame, schema: ModelSchema) -> list[ColumnProblem]:
    """List the schema and value problems of a batch read as text (see ``read_raw_batch``)."""
    if frame.empty:
        return [ColumnProblem(column="*", problem="empty batch: no rows", bad_rows=0)]
    missing = [c for c in schema.required_columns if c not in frame.columns]
    problems = [ColumnProblem(column=c, problem="missing column", bad_rows=len(frame)) for c in missing]
    for feat in schema.features:
        if feat.is_numeric and feat.name in frame.columns:
            bad = _count_unparsable(frame[feat.name], lambda s: pd.to_numeric(s, errors="coerce"))
            if bad:
                problems.append(ColumnProblem(feat.name, "non-numeric values in a numeric feature", bad))
    if schema.timestamp_column in frame.columns:
        col = frame[schema.timestamp_column]
        bad = int(col.isna().sum()) + _count_unparsable(col, _parse_timestamps)
        if bad:
            problems.append(ColumnProblem(schema.timestamp_column, "missing or unparsable timestamps", bad))
    if schema.target in frame.columns:
        labels = frame[schema.target].str.strip().str.lower()
        bad = int((~labels.isin(TRUE_LABELS | FALSE_LABELS) | labels.isna()).sum())
        if bad:
            problems.append(ColumnProblem(schema.target, "missing or non-binary labels", bad))
    return problems


def _count_unparsable(col: pd.Series, parse) -> int:
    present = col.notna() & (col.str.strip() != "")
    return int((present & parse(col).isna()).sum())


def _parse_timestamps(col: pd.Series) -> pd.Series:
    return pd.to_datetime(col, errors="coerce", utc=True, format="ISO8601")


def to_typed(frame: pd.DataFrame, schema: ModelSchema) -> pd.DataFrame:
    """Convert a validated text batch to typed columns (floats, strings, UTC timestamps, 0/1 label)."""
    out = pd.DataFrame(
        {
            schema.id_column: frame[schema.id_column].astype(str),
            schema.timestamp_column: _parse_timestamps(frame[schema.timestamp_column]),
        }
    )
    for feat in schema.features:
        col = frame[feat.name]
        out[feat.name] = pd.to_numeric(col).astype(float) if feat.is_numeric else col.astype(object)
    out[schema.target] = frame[schema.target].str.strip().str.lower().isin(TRUE_LABELS).astype(int)
    return out


def validate_batches(store: DataStore, files: list[Path], schema: ModelSchema, run_dir: Path) -> ValidationSummary:
    """Validate claimed batches: accept the good ones as parquet, quarantine the bad ones.

    Idempotent per run: the summary is written to ``run_dir`` and a retry returns it unchanged.

    Args:
        store: the data store.
        files: the run's claimed raw files.
        schema: required columns and feature types.
        run_dir: the run's raw folder, where the summary is kept.

    Returns:
        The validation summary of every file.
    """
    summary_path = run_dir / SUMMARY_FILE
    if summary_path.exists():
        return ValidationSummary.from_json(summary_path.read_text())
    summary = ValidationSummary([_validate_one(store, path, schema) for path in files])
    summary_path.write_text(summary.to_json())
    return summary


def _validate_one(store: DataStore, path: Path, schema: ModelSchema) -> BatchOutcome:
    try:
        frame = read_raw_batch(path)
        problems = find_problems(frame, schema)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        frame, problems = pd.DataFrame(), [ColumnProblem("*", f"unreadable file: {exc}", 0)]
    outcome = BatchOutcome(file=path.name, rows=len(frame), problems=problems)
    if problems:
        outcome.quarantine_path = str(_quarantine(store, path, problems))
    else:
        outcome.accepted_path = str(_accept(store, path, to_typed(frame, schema), schema.timestamp_column))
    return outcome


def _accept(store: DataStore, path: Path, typed: pd.DataFrame, timestamp_column: str) -> Path:
    store.accepted.mkdir(parents=True, exist_ok=True)
    first = typed[timestamp_column].min()
    dest = store.accepted / f"{first:%Y%m%dT%H%M%S}__{path.stem}.parquet"
    tmp = dest.with_name(f".{dest.name}.tmp")
    typed.to_parquet(tmp, index=False)
    os.replace(tmp, dest)
    return dest


def _quarantine(store: DataStore, path: Path, problems: list[ColumnProblem]) -> Path:
    store.quarantine.mkdir(parents=True, exist_ok=True)
    dest = store.quarantine / path.name
    os.replace(path, dest)
    reason = {"file": path.name, "problems": [asdict(p) for p in problems]}
    dest.with_name(dest.name + ".reason.json").write_text(json.dumps(reason, indent=2))
    return dest
