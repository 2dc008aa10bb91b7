"""Validation of received batches: the good ones accepted as typed parquet, the bad ones quarantined.

A batch is accepted only if it has no problem (:func:`~champion_challenger.data.checks.find_problems`:
every received column present and every value parses, a label that fits the task on every row).
Otherwise the whole file moves to quarantine with a reason file naming the file, each bad column and its
count of bad rows. An accepted batch's warnings (missing feature values, unseen category values, new
classes, extra columns, a derived row key, dropped duplicate rows) are kept in the validation summary.

What acceptance records beside the accepted batches: multiclass classes (``classes.json``, see
:meth:`DataStore.add_classes`) and each category feature's values (``categories.json``), against which
later batches are checked. Without configured classes, the classes of the first accepted batches (every
batch of the first cycle that accepts any) define them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from champion_challenger.config.ludwig_schema import ModelSchema
from champion_challenger.data.checks import (
    BatchWarning,
    ColumnProblem,
    KnownValues,
    find_problems,
    find_warnings,
    unseen_classes,
)
from champion_challenger.data.store import DataStore, read_raw_batch
from champion_challenger.data.typed import drop_duplicate_rows, to_typed

__all__ = [
    "SUMMARY_FILE",
    "BatchOutcome",
    "BatchWarning",
    "ColumnProblem",
    "KnownValues",
    "ValidationSummary",
    "find_problems",
    "find_warnings",
    "known_values",
    "to_typed",
    "validate_batches",
]

SUMMARY_FILE = "_validation.json"


@dataclass
class BatchOutcome:
    """What happened to one batch file.

    Attributes:
        file: the file name.
        rows: rows received.
        accepted_path / quarantine_path: where the file went (one of them is set).
        problems: why it was quarantined.
        warnings: what is worth knowing about an accepted batch.
        accepted_rows: rows accepted (after dropping duplicates).
        new_classes: multiclass: labels outside the known classes accepted under
            ``data.unseen_classes: accept`` (class → rows): target drift.
    """

    file: str
    rows: int
    accepted_path: str | None = None
    quarantine_path: str | None = None
    problems: list[ColumnProblem] = field(default_factory=list)
    warnings: list[BatchWarning] = field(default_factory=list)
    accepted_rows: int = 0
    new_classes: dict[str, int] = field(default_factory=dict)

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

    @property
    def warning_count(self) -> int:
        """Warnings of the accepted batches."""
        return sum(len(o.warnings) for o in self.outcomes)

    @property
    def new_classes(self) -> dict[str, int]:
        """Multiclass: classes outside the known ones accepted this run (class → rows)."""
        total: dict[str, int] = {}
        for outcome in self.outcomes:
            for cls, rows in outcome.new_classes.items():
                total[cls] = total.get(cls, 0) + rows
        return dict(sorted(total.items()))

    def error_message(self) -> str:
        """A message for the on-call engineer naming each bad file, column and count."""
        lines = [f"{len(self.quarantined)} batch file(s) failed validation and were quarantined:"]
        lines += [f"  - {o.message()}" for o in self.quarantined]
        lines.append("Fix the file(s) and drop them into the landing folder again; the champion is unchanged.")
        return "\n".join(lines)

    def warning_lines(self) -> list[str]:
        """One line per warning: file, column, what and how many rows."""
        return [f"{o.file}: {w}" for o in self.outcomes for w in o.warnings]

    def as_dict(self) -> dict[str, Any]:
        """Counts and every outcome, as the cycle's ``validation_summary.json`` artifact holds them."""
        return {
            "accepted_batches": len(self.accepted),
            "quarantined_batches": len(self.quarantined),
            "rows_received": sum(o.rows for o in self.outcomes),
            "rows_accepted": sum(o.accepted_rows for o in self.outcomes),
            "warnings": self.warning_count,
            "new_classes": self.new_classes,
            "outcomes": [asdict(o) for o in self.outcomes],
        }

    def to_json(self) -> str:
        return json.dumps([asdict(o) for o in self.outcomes], indent=2)

    @classmethod
    def from_json(cls, text: str) -> ValidationSummary:
        outcomes = []
        for raw in json.loads(text):
            raw["problems"] = [ColumnProblem(**p) for p in raw["problems"]]
            raw["warnings"] = [BatchWarning(**w) for w in raw.get("warnings", [])]
            outcomes.append(BatchOutcome(**raw))
        return cls(outcomes)


def known_values(
    store: DataStore,
    schema: ModelSchema,
    classes: Sequence[str] | None = None,
    unseen: Literal["quarantine", "accept"] = "quarantine",
) -> KnownValues:
    """What the config and the accepted batches established: the known classes (multiclass), the policy
    for unseen ones and each category feature's values.

    Args:
        store: the data store (its ``classes.json`` and ``categories.json``).
        schema: the task and features.
        classes: the configured classes (``data.classes``), if any.
        unseen: ``data.unseen_classes``.
    """
    known_classes = store.known_classes(classes) if schema.task == "multiclass" else ()
    return KnownValues(classes=known_classes, unseen_classes=unseen, categories=store.known_categories())


def validate_batches(
    store: DataStore,
    files: list[Path],
    schema: ModelSchema,
    run_dir: Path,
    *,
    classes: Sequence[str] | None = None,
    unseen_classes: Literal["quarantine", "accept"] = "quarantine",
) -> ValidationSummary:
    """Validate claimed batches: accept the good ones as parquet, quarantine the bad ones.

    Every file is checked against what was known before this run (classes, category values), so the
    files of one run do not judge each other; accepted files then extend what is known.
    Idempotent per run: the summary is written to ``run_dir`` and a retry returns it unchanged.

    Args:
        store: the data store.
        files: the run's claimed raw files.
        schema: required columns, feature types and task.
        run_dir: the run's raw folder, where the summary is kept.
        classes: multiclass: the configured classes (``data.classes``); None: the accepted ones.
        unseen_classes: multiclass: ``quarantine`` or ``accept`` a batch with labels outside the known
            classes (``data.unseen_classes``).

    Returns:
        The validation summary of every file.
    """
    summary_path = run_dir / SUMMARY_FILE
    if summary_path.exists():
        return ValidationSummary.from_json(summary_path.read_text())
    known = known_values(store, schema, classes, unseen_classes)
    summary = ValidationSummary([_validate_one(store, path, schema, known) for path in files])
    summary_path.write_text(summary.to_json())
    return summary


def _validate_one(store: DataStore, path: Path, schema: ModelSchema, known: KnownValues) -> BatchOutcome:
    try:
        frame = read_raw_batch(path)
        problems = find_problems(frame, schema, known)
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        frame, problems = pd.DataFrame(), [ColumnProblem("*", unreadable_reason(exc), 0)]
    outcome = BatchOutcome(file=path.name, rows=len(frame), problems=problems)
    if problems:
        outcome.quarantine_path = str(_quarantine(store, path, problems))
        return outcome
    typed, duplicates = drop_duplicate_rows(to_typed(frame, schema), schema)
    outcome.warnings = find_warnings(frame, schema, known) + ([duplicates] if duplicates else [])
    if schema.task == "multiclass":
        outcome.new_classes = unseen_classes(frame[schema.target], known.classes)
    outcome.accepted_path = str(_accept(store, path, typed, schema.timestamp_column))
    outcome.accepted_rows = len(typed)
    _record_values(store, typed, schema)
    return outcome


def _record_values(store: DataStore, typed: pd.DataFrame, schema: ModelSchema) -> None:
    """Extend what is known with an accepted batch: its classes (multiclass) and category values."""
    if schema.task == "multiclass":
        store.add_classes(typed[schema.target].unique())
    categories = {f.name: typed[f.name].dropna().astype(str).unique() for f in schema.features if f.type == "category"}
    if categories:
        store.add_categories(categories)


def _accept(store: DataStore, path: Path, typed: pd.DataFrame, timestamp_column: str) -> Path:
    store.accepted.mkdir(parents=True, exist_ok=True)
    first = typed[timestamp_column].min()
    dest = _free_name(store.accepted / f"{first:%Y%m%dT%H%M%S}__{path.stem}.parquet")
    tmp = dest.with_name(f".{dest.name}.tmp")
    typed.to_parquet(tmp, index=False)
    os.replace(tmp, dest)
    return dest


def _quarantine(store: DataStore, path: Path, problems: list[ColumnProblem]) -> Path:
    store.quarantine.mkdir(parents=True, exist_ok=True)
    dest = _free_name(store.quarantine / path.name)
    os.replace(path, dest)
    reason = {"file": path.name, "problems": [asdict(p) for p in problems]}
    dest.with_name(dest.name + ".reason.json").write_text(json.dumps(reason, indent=2))
    return dest


def unreadable_reason(exc: Exception) -> str:
    """What to tell the sender of a file that could not be read."""
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text ({exc.reason} at byte {exc.start}): save the file as UTF-8 CSV (or Parquet)"
    if isinstance(exc, pd.errors.EmptyDataError):
        return "empty file: no header and no rows"
    return f"unreadable file: {exc}"


def _free_name(dest: Path) -> Path:
    """``dest``, or ``<stem>.<n><suffix>`` with the first ``n`` not taken: a file is never overwritten."""
    candidate, n = dest, 1
    while candidate.exists() or candidate.with_name(candidate.name + ".reason.json").exists():
        candidate = dest.with_name(f"{dest.stem}.{n}{dest.suffix}")
        n += 1
    return candidate
