"""A checked text batch as typed columns: the row key, UTC timestamps, floats, and the label the task needs.

Typed label per task: binary int 0/1, multiclass str (the class label), regression float. Without an id
column the row key (:data:`~champion_challenger.config.ludwig_schema.DERIVED_ID_COLUMN`) is a hash of the row's
received values, so the same row always gets the same key. Rows that repeat an earlier row's id and
timestamp are dropped, keeping the first.
"""

from __future__ import annotations

import hashlib

import pandas as pd

from champion_challenger.config.ludwig_schema import ModelSchema
from champion_challenger.data.checks import BatchWarning, binary_labels, class_labels, parse_numbers, parse_timestamps

#: Hex characters of a derived row key (64 bits).
ROW_KEY_CHARS = 16


def to_typed(frame: pd.DataFrame, schema: ModelSchema) -> pd.DataFrame:
    """Convert a checked text batch to typed columns (floats, strings, UTC timestamps, the task's label).

    Args:
        frame: a batch without problems (see :func:`~champion_challenger.data.checks.find_problems`).
        schema: the columns, feature types and task.

    Returns:
        The schema's columns only (extra columns are left out), the row key derived when the data has no
        id column.
    """
    ids = derive_row_keys(frame, schema.received_columns) if schema.id_derived else frame[schema.id_column].astype(str)
    out = pd.DataFrame({schema.id_column: ids, schema.timestamp_column: parse_timestamps(frame[schema.timestamp_column])})
    for feat in schema.features:
        col = frame[feat.name]
        out[feat.name] = parse_numbers(col) if feat.is_numeric else col.astype(object)
    out[schema.target] = typed_labels(frame[schema.target], schema)
    return out


def typed_labels(labels: pd.Series, schema: ModelSchema) -> pd.Series:
    """Checked labels as the accepted batch keeps them: binary 0/1 int, multiclass str, regression float."""
    if schema.task == "regression":
        return parse_numbers(labels)
    if schema.task == "multiclass":
        return class_labels(labels).astype(str).astype(object)
    return binary_labels(labels)


def derive_row_keys(frame: pd.DataFrame, columns: list[str]) -> pd.Series:
    """A stable key per row: a 64-bit BLAKE2 hash (hex) of the row's values in ``columns``.

    The columns are taken in name order and each value with its column's name, so the key does not
    depend on the column order of the file or of the config; missing values hash as empty text.
    """
    names = sorted(c for c in columns if c in frame.columns)
    parts = [f"{name}\x1e" + frame[name].fillna("").astype(str) for name in names]
    joined = parts[0].str.cat(parts[1:], sep="\x1f") if parts else pd.Series("", index=frame.index)
    return joined.map(lambda text: hashlib.blake2b(text.encode(), digest_size=ROW_KEY_CHARS // 2).hexdigest()).astype(str)


def drop_duplicate_rows(typed: pd.DataFrame, schema: ModelSchema) -> tuple[pd.DataFrame, BatchWarning | None]:
    """Drop rows that repeat an earlier row's id and timestamp, keeping the first.

    The same id at a different time is an entity seen again and is kept. Without an id column the key is
    a hash of the row's values, so only rows identical in every received column are dropped.

    Returns:
        The rows kept, and a warning counting the dropped rows (None when none were dropped).
    """
    repeated = typed.duplicated([schema.id_column, schema.timestamp_column], keep="first")
    dropped = int(repeated.sum())
    if not dropped:
        return typed, None
    differing = int((repeated & ~typed.duplicated(keep="first")).sum())
    what = "rows repeat an earlier row's id and timestamp: dropped, keeping the first"
    if differing:
        what += f" ({differing} of them with other values: check the source)"
    return typed[~repeated].reset_index(drop=True), BatchWarning(schema.id_column, what, dropped)
