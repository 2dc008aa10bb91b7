"""What a user's data file says about its pipeline: the task, the id and timestamp columns and the features.

``ccp init`` (:mod:`champion_challenger.data.onboarding`) writes its configs from a :class:`DataProfile`.
The rules, each overridable by the caller:

* **task**, from the target: values that read as a boolean (0/1, true/false, yes/no) → ``binary``;
  numbers with a fraction or more than :data:`MAX_NUMERIC_CLASSES` distinct values → ``regression``;
  anything else (text labels, a few integer codes, two other values) → ``multiclass``.
* **id column**: a column whose name looks like an id (``id``, ``customer_id``, ``CustomerID``, ``*_key``,
  ``uuid``) with a distinct value on every row; none → the pipeline derives a row key.
* **timestamp column**: a column that parses as an ISO 8601 date or date-time on every row, preferring
  names that look like time (``*_at``, ``*date*``, ``*time*``); required.
* **features**: numbers → ``number`` (z-scored), or ``binary`` when every value is 0 or 1; text with at most
  :data:`MAX_CATEGORY_LEVELS` distinct values (and at most half as many as rows) → ``category``. Dropped,
  with the reason: empty or constant columns, other id-like columns, free text and other high-cardinality
  text, further date/time columns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import pandas as pd

from champion_challenger.config.ludwig_schema import FeatureSpec
from champion_challenger.data.checks import FALSE_LABELS, TRUE_LABELS, parse_numbers, parse_timestamps, present
from champion_challenger.errors import PipelineError
from champion_challenger.task import TaskKind

#: Integer targets with more distinct values than this are regression targets.
MAX_NUMERIC_CLASSES = 20
#: Text columns with more distinct values than this are dropped (free text, high cardinality).
MAX_CATEGORY_LEVELS = 100
ID_NAME = re.compile(r"(^|[_\-\s])(id|key|uuid|guid)$|^(id|uuid|guid)[_\-]", re.IGNORECASE)
CAMEL_ID_NAME = re.compile(r"[a-z0-9](Id|ID|Key|Uuid|UUID)$")
TIME_NAME = re.compile(r"time|date|_at$|^at_|_ts$|^ts$|day|when|created|updated", re.IGNORECASE)


class OnboardingError(PipelineError):
    """A data file cannot be onboarded as it is: no target or timestamp column, no usable feature, or
    rows the pipeline would quarantine. The message says what to change or which option to pass."""


@dataclass(frozen=True)
class DataProfile:
    """What a data file says about its pipeline.

    Attributes:
        rows: rows in the file.
        target: the label column.
        task: ``binary``, ``multiclass`` or ``regression``.
        task_reason: why that task, in words.
        timestamp_column: the event time column.
        id_column: the entity id column, or None (the pipeline derives a row key).
        features: the input features, in file order.
        dropped: columns left out and why (column → reason).
        classes: multiclass: the sorted class labels; empty otherwise.
    """

    rows: int
    target: str
    task: TaskKind
    task_reason: str
    timestamp_column: str
    id_column: str | None
    features: tuple[FeatureSpec, ...]
    dropped: dict[str, str] = field(default_factory=dict)
    classes: tuple[str, ...] = ()


def profile_data(
    frame: pd.DataFrame,
    target: str,
    *,
    id_column: str | None = None,
    timestamp_column: str | None = None,
    task: TaskKind | None = None,
) -> DataProfile:
    """Infer the task, id and timestamp columns and features of a data file read as text.

    Args:
        frame: the file, every column as text (``read_raw_batch``).
        target: the label column.
        id_column: the id column (default: inferred; None when nothing looks like one).
        timestamp_column: the event time column (default: inferred).
        task: the task (default: inferred from the target).

    Raises:
        OnboardingError: a named column is missing, the target has fewer than two values, no column
            parses as a timestamp, or no column is usable as a feature.
    """
    if frame.empty:
        raise OnboardingError("the file has no rows")
    _require_columns(frame, [c for c in (target, id_column, timestamp_column) if c])
    labels = frame[target][present(frame[target])].str.strip()
    inferred, reason = infer_task(labels)
    task = task or inferred
    reason = reason if task == inferred else f"--task {task} (the data alone suggested {inferred}: {reason})"
    id_column = id_column or infer_id_column(frame, exclude=[target])
    timestamp_column = timestamp_column or infer_timestamp_column(frame, exclude=[target, id_column])
    features, dropped = infer_features(frame, exclude=[target, id_column, timestamp_column])
    classes = tuple(sorted(labels.unique())) if task == "multiclass" else ()
    return DataProfile(len(frame), target, task, reason, timestamp_column, id_column, features, dropped, classes)


def _require_columns(frame: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise OnboardingError(f"no column {', '.join(map(repr, missing))} in the file; its columns: {list(frame.columns)}")


def infer_task(labels: pd.Series) -> tuple[TaskKind, str]:
    """The task a target's (present, stripped) labels suggest, and why.

    Raises:
        OnboardingError: fewer than two distinct labels.
    """
    values = labels.unique()
    lowered = {str(v).lower() for v in values}
    if len(values) < 2 or lowered <= TRUE_LABELS or lowered <= FALSE_LABELS:
        raise OnboardingError(f"the target has one class (values {list(values)[:5]}): a model needs at least two")
    if lowered <= TRUE_LABELS | FALSE_LABELS:
        return "binary", f"values {sorted(values)} that read as a boolean (0/1)"
    numbers = parse_numbers(labels)
    if numbers.notna().all():
        fractional = bool((numbers != numbers.round()).any())
        if fractional or len(values) > MAX_NUMERIC_CLASSES:
            why = "with fractions" if fractional else f"with {len(values)} distinct values"
            return "regression", f"numbers {why}"
        return "multiclass", f"{len(values)} integer codes (at most {MAX_NUMERIC_CLASSES}); pass --task regression for a number"
    if len(values) == 2:
        return "multiclass", f"two values {sorted(values)} that are not 0/1 or true/false: a two-class category"
    return "multiclass", f"{len(values)} distinct text labels"


def infer_id_column(frame: pd.DataFrame, exclude: list[str]) -> str | None:
    """The first column named like an id whose value is present and distinct on every row, else None."""
    for column in frame.columns:
        if column not in exclude and looks_like_id(column) and _unique_per_row(frame[column]):
            return column
    return None


def looks_like_id(name: str) -> bool:
    """Whether a column name reads as an identifier (``id``, ``customer_id``, ``CustomerID``, ``row_key``)."""
    return bool(ID_NAME.search(name) or CAMEL_ID_NAME.search(name))


def _unique_per_row(col: pd.Series) -> bool:
    return bool(present(col).all() and col.str.strip().is_unique)


def infer_timestamp_column(frame: pd.DataFrame, exclude: list[str | None]) -> str:
    """The column that parses as an ISO 8601 date or date-time on every row; names that look like time first.

    Raises:
        OnboardingError: no column does (naming the columns tried and how to pass one).
    """
    tried = [c for c in frame.columns if c not in exclude and not _is_numeric(frame[c])]
    for column in sorted(tried, key=lambda c: not TIME_NAME.search(c)):
        if _is_timestamp(frame[column]):
            return column
    raise OnboardingError(
        f"no timestamp column: none of {tried or list(frame.columns)} parses as an ISO 8601 date or date-time "
        "(2026-03-01, 2026-03-01T12:00:00Z) on every row. The pipeline orders rows by event time: pass the "
        "column with --timestamp-column COL (its values must be ISO 8601), or add one to the file."
    )


def _is_numeric(col: pd.Series) -> bool:
    values = col[present(col)]
    return len(values) > 0 and bool(parse_numbers(values).notna().all())


def _is_timestamp(col: pd.Series) -> bool:
    return bool(present(col).all() and parse_timestamps(col).notna().all())


def infer_features(frame: pd.DataFrame, exclude: list[str | None]) -> tuple[tuple[FeatureSpec, ...], dict[str, str]]:
    """Input features of the columns not excluded, and the columns dropped with their reason.

    Raises:
        OnboardingError: no column is usable as a feature.
    """
    features, dropped = [], {}
    for column in frame.columns:
        if column in exclude:
            continue
        kind = feature_type(frame[column])
        if kind in ("number", "binary", "category"):
            features.append(FeatureSpec(name=column, type=kind))
        else:
            dropped[column] = kind
    if not features:
        raise OnboardingError(f"no column is usable as a feature; dropped: {dropped or 'none besides target, id and time'}")
    return tuple(features), dropped


def feature_type(col: pd.Series) -> str:
    """``number``, ``binary`` or ``category`` for a usable column, else why it is dropped."""
    values = col[present(col)].str.strip()
    levels = values.nunique()
    if levels == 0:
        return "empty: no values"
    if levels == 1:
        return f"constant: every value is {values.iloc[0]!r}"
    if _is_numeric(col):
        return "binary" if set(parse_numbers(values).unique()) <= {0.0, 1.0} else "number"
    if looks_like_id(str(col.name)):
        return "id-like: named like an id"
    if _is_timestamp(col):
        return "another date/time column (only the timestamp column orders rows)"
    if levels > MAX_CATEGORY_LEVELS or levels > len(values) / 2:
        return f"free text or high-cardinality text: {levels} distinct values in {len(values)} rows"
    return "category"
