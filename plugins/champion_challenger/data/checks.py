"""The checks of one received batch (read as text): problems that quarantine it, warnings that let it through.

A **problem** quarantines the whole file (nothing of it is used): a file that looks delimited by something other
than a comma, no rows, a missing column, a missing id, a value that does not parse (text or ±inf in a numeric
feature, an unparsable or missing timestamp), a timestamp more than a day in the future, a label that does not fit the
task (binary: not 0/1/true/false; multiclass: missing, or a class outside the known classes unless
``data.unseen_classes: accept``; regression: missing, NaN, non-numeric or ±inf).

A **warning** is counted in the validation summary and the batch is accepted: missing feature values
(Ludwig fills them), category values no earlier accepted batch had (a model maps them to its unknown
category), new classes accepted under ``data.unseen_classes: accept`` (flagged as target drift), extra
columns (ignored), rows not in time order, one class only in a batch, a derived row key (no id column).
Duplicate rows are counted when the batch is typed
(:mod:`champion_challenger.data.typed`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from champion_challenger.config.ludwig_schema import ModelSchema

TRUE_LABELS = frozenset({"1", "1.0", "true", "yes", "y", "t"})
FALSE_LABELS = frozenset({"0", "0.0", "false", "no", "n", "f"})
#: Text that means a missing number (``pd.read_csv`` reads most of them as missing already).
NAN_TEXT = frozenset({"nan", "+nan", "-nan"})
#: Event times later than now by more than this are a clock or time zone error upstream: the batch is quarantined.
FUTURE_TOLERANCE = pd.Timedelta(days=1)
#: A warning or problem lists at most this many values by name.
MAX_NAMED_VALUES = 5


@dataclass(frozen=True)
class ColumnProblem:
    """One problem in one column of a batch: the batch is quarantined."""

    column: str
    problem: str
    bad_rows: int

    def __str__(self) -> str:
        return f"column {self.column!r}: {self.problem} ({self.bad_rows} bad rows)"


@dataclass(frozen=True)
class BatchWarning:
    """One thing worth knowing about an accepted batch: what, in which column, on how many rows."""

    column: str
    warning: str
    rows: int

    def __str__(self) -> str:
        return f"column {self.column!r}: {self.warning} ({self.rows} rows)"


@dataclass(frozen=True)
class KnownValues:
    """What the config and earlier accepted batches established, against which a batch is checked.

    Attributes:
        classes: multiclass: the known classes (empty: none yet, the first accepted batches define them).
        unseen_classes: ``quarantine`` or ``accept`` a batch whose labels fall outside ``classes``.
        categories: each category feature's values in the earlier accepted batches.
    """

    classes: tuple[str, ...] = ()
    unseen_classes: Literal["quarantine", "accept"] = "quarantine"
    categories: Mapping[str, frozenset[str]] = field(default_factory=dict)


def find_problems(frame: pd.DataFrame, schema: ModelSchema, known: KnownValues | None = None) -> list[ColumnProblem]:
    """List the schema and value problems of a batch read as text (see ``read_raw_batch``).

    Args:
        frame: the received batch, every column as text.
        schema: the columns, feature types and task.
        known: the known classes and the policy for unseen ones (default: none known).

    Returns:
        One problem per bad column (a multiclass label column: one per unseen class); empty when the
        batch can be accepted.
    """
    known = known or KnownValues()
    delimiter = _other_delimiter(frame)
    if delimiter:
        what = f"one column only, named with {delimiter!r} in it: the file looks {delimiter!r}-delimited"
        return [ColumnProblem("*", f"{what}; batch files must be comma-separated UTF-8 CSV (or Parquet)", len(frame))]
    if frame.empty:
        return [ColumnProblem(column="*", problem="empty batch: no rows", bad_rows=0)]
    missing = [c for c in schema.received_columns if c not in frame.columns]
    problems = [ColumnProblem(column=c, problem="missing column", bad_rows=len(frame)) for c in missing]
    for feat in schema.features:
        if feat.is_numeric and feat.name in frame.columns:
            problems += _number_problems(frame[feat.name], "values in a numeric feature")
    if not schema.id_derived and schema.id_column in frame.columns:
        ids = frame[schema.id_column]
        problems += _count(ids, ~present(ids), "missing ids (fill them, or unset data.id_column to derive row keys)")
    if schema.timestamp_column in frame.columns:
        col = frame[schema.timestamp_column]
        problems += _count(col, ~present(col) | parse_timestamps(col).isna(), "missing or unparsable timestamps")
        horizon = pd.Timestamp.now(tz="UTC") + FUTURE_TOLERANCE
        problems += _count(col, parse_timestamps(col) > horizon, f"timestamps in the future (after {horizon:%Y-%m-%d %H:%M} UTC)")
    if schema.target in frame.columns:
        problems += label_problems(frame[schema.target], schema, known)
    return problems


def _other_delimiter(frame: pd.DataFrame) -> str | None:
    """The delimiter a one-column CSV seems to use instead of a comma, or None."""
    if len(frame.columns) != 1:
        return None
    return next((d for d in (";", "\t", "|") if d in str(frame.columns[0])), None)


def _count(col: pd.Series, bad: pd.Series, problem: str) -> list[ColumnProblem]:
    """``problem`` in ``col`` when any row is ``bad``."""
    rows = int(bad.sum())
    return [ColumnProblem(str(col.name), problem, rows)] if rows else []


def label_problems(labels: pd.Series, schema: ModelSchema, known: KnownValues) -> list[ColumnProblem]:
    """Problems of the label column for the schema's task (see the module docstring)."""
    target = schema.target
    if schema.task == "regression":
        return _count(labels, ~number_present(labels), "missing or NaN labels") + _number_problems(labels, "labels")
    if schema.task == "binary":
        text = labels.str.strip().str.lower()
        return _count(labels, (~text.isin(TRUE_LABELS | FALSE_LABELS) | text.isna()).fillna(True), "missing or non-binary labels")
    found = _count(labels, ~present(labels), "missing labels")
    if known.unseen_classes == "quarantine":
        hint = "add it to data.classes, or set data.unseen_classes: accept to accept new classes"
        for cls, rows in unseen_classes(labels, known.classes).items():
            found.append(ColumnProblem(target, f"label {cls!r} is not a known class {list(known.classes)}; {hint}", rows))
    return found


def _number_problems(col: pd.Series, noun: str) -> list[ColumnProblem]:
    """Non-numeric and infinite values in a column that must hold numbers (``noun`` names them)."""
    values = parse_numbers(col)
    infinite = pd.Series(np.isinf(values.fillna(0).to_numpy(dtype=float)), index=col.index)
    return _count(col, number_present(col) & values.isna(), f"non-numeric {noun}") + _count(
        col, infinite, f"infinite (±inf) {noun}"
    )


def find_warnings(frame: pd.DataFrame, schema: ModelSchema, known: KnownValues | None = None) -> list[BatchWarning]:
    """What is worth knowing about a batch that has no problem: extra columns, missing feature values,
    unseen category values, new classes accepted, a derived row key (see the module docstring).

    Args:
        frame: the received batch, every column as text, without problems.
        schema: the columns, feature types and task.
        known: the known classes, unseen-class policy and the earlier batches' category values.
    """
    known = known or KnownValues()
    rows = len(frame)
    found = [
        BatchWarning(c, "extra column, not in the schema: ignored", rows)
        for c in frame.columns
        if c not in schema.received_columns
    ]
    times = parse_timestamps(frame[schema.timestamp_column])
    if (earlier := int((times < times.cummax()).sum())) > 0:
        found.append(BatchWarning(schema.timestamp_column, "rows not in time order (windows sort by time)", earlier))
    if schema.id_derived:
        what = "no id column (data.id_column unset): derived a stable row key from each row's values"
        found.append(BatchWarning(schema.id_column, what, rows))
    for feat in schema.features:
        missing = int((~(number_present if feat.is_numeric else present)(frame[feat.name])).sum())
        if missing:
            kind = "numeric" if feat.is_numeric else feat.type
            found.append(BatchWarning(feat.name, f"missing values in a {kind} feature (Ludwig fills them)", missing))
        if feat.type == "category" and known.categories.get(feat.name):
            found += _unseen_category(frame[feat.name], known.categories[feat.name])
    labels = frame[schema.target][present(frame[schema.target])]
    if schema.task != "regression" and len(labels) > 1 and labels.nunique() == 1:
        found.append(BatchWarning(schema.target, f"every label is {labels.iloc[0]!r}: one class only in this batch", len(labels)))
    if schema.task == "multiclass" and known.unseen_classes == "accept":
        for cls, count in unseen_classes(frame[schema.target], known.classes).items():
            found.append(
                BatchWarning(schema.target, f"new class {cls!r} accepted (data.unseen_classes: accept): target drift", count)
            )
    return found


def _unseen_category(col: pd.Series, seen: frozenset[str]) -> list[BatchWarning]:
    new = present(col) & ~col.isin(seen).fillna(False)
    if not new.any():
        return []
    values = sorted(col[new].unique())
    named = ", ".join(repr(v) for v in values[:MAX_NAMED_VALUES]) + (", ..." if len(values) > MAX_NAMED_VALUES else "")
    what = f"{len(values)} value(s) no earlier accepted batch had ({named}); a model maps them to its unknown category"
    return [BatchWarning(str(col.name), what, int(new.sum()))]


def unseen_classes(labels: pd.Series, classes: tuple[str, ...]) -> dict[str, int]:
    """Multiclass: each label outside ``classes`` and its row count (empty when ``classes`` is empty:
    nothing is known yet, the first accepted batches define the classes)."""
    if not classes:
        return {}
    text = class_labels(labels)
    outside = text[present(labels) & ~text.isin(classes).fillna(False)]
    return {str(cls): int(n) for cls, n in sorted(outside.value_counts().items())}


def present(col: pd.Series) -> pd.Series:
    """True where a text value is there (neither missing nor blank)."""
    return (col.notna() & (col.str.strip() != "")).fillna(False).astype(bool)


def number_present(col: pd.Series) -> pd.Series:
    """True where a number is there: neither missing, blank nor the text ``NaN``."""
    return present(col) & ~col.str.strip().str.lower().isin(NAN_TEXT).fillna(False).astype(bool)


def parse_numbers(col: pd.Series) -> pd.Series:
    """Numbers of a text column as floats; missing or unparsable values are NaN."""
    return pd.to_numeric(col.str.strip(), errors="coerce").astype(float)


def parse_timestamps(col: pd.Series) -> pd.Series:
    """ISO 8601 dates or date-times (with or without a time zone; without one is UTC) as UTC timestamps."""
    return pd.to_datetime(col.str.strip(), errors="coerce", utc=True, format="ISO8601")


def class_labels(labels: pd.Series) -> pd.Series:
    """Multiclass labels as the pipeline keeps them: text without surrounding blanks."""
    return labels.astype("string").str.strip()


def binary_labels(labels: pd.Series) -> pd.Series:
    """Binary labels (0/1, true/false, yes/no, ...) as 0/1 ints."""
    return labels.str.strip().str.lower().isin(TRUE_LABELS).fillna(False).astype(int)
