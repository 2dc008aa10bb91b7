"""Validation per task and the defined behaviour for bad or unusual input (see data/checks.py)."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from champion_challenger.config.ludwig_schema import DERIVED_ID_COLUMN, FeatureSpec, ModelSchema
from champion_challenger.data.checks import KnownValues, find_problems, find_warnings
from champion_challenger.data.store import DataStore, claim_new_batches, load_window
from champion_challenger.data.typed import derive_row_keys, to_typed
from champion_challenger.data.validate import SUMMARY_FILE, ValidationSummary, validate_batches

FEATURES = (FeatureSpec(name="x", type="number"), FeatureSpec(name="colour", type="category"))
LABELS = {"binary": ["0", "1", "1", "0"], "multiclass": ["a", "b", "c", "a"], "regression": ["1.5", "2", "-3.25", "0"]}


def _schema(task: str = "binary", id_derived: bool = False) -> ModelSchema:
    return ModelSchema(
        features=FEATURES,
        target="y",
        timestamp_column="ts",
        id_column=DERIVED_ID_COLUMN if id_derived else "id",
        task=task,
        id_derived=id_derived,
    )


def _frame(task: str = "binary", **columns: list[str]) -> pd.DataFrame:
    """Four good rows as text (as read_raw_batch returns them), with ``columns`` replaced or added."""
    base = {
        "id": ["r1", "r2", "r3", "r4"],
        "ts": ["2026-03-01T00:00:00Z", "2026-03-01T01:00:00Z", "2026-03-01T02:00:00Z", "2026-03-01T03:00:00Z"],
        "x": ["1.0", "2.5", "-3", "4"],
        "colour": ["red", "blue", "red", "green"],
        "y": LABELS[task],
    }
    return pd.DataFrame({**base, **columns}).astype("string")


@pytest.fixture
def store(tmp_path):
    return DataStore(tmp_path / "data" / "landing")


def _land(store: DataStore, frame: pd.DataFrame, name: str = "batch.csv") -> None:
    store.landing.mkdir(parents=True, exist_ok=True)
    frame.to_csv(store.landing / name, index=False)


def _validate(store: DataStore, schema: ModelSchema, run: str = "r", **kwargs) -> ValidationSummary:
    return validate_batches(store, claim_new_batches(store, run, "*.csv"), schema, store.run_dir(run), **kwargs)


# ---- problems: the batch is quarantined --------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "column", "values", "expected"),
    [
        pytest.param("binary", "y", ["0", "maybe", "1", "1"], [("y", "missing or non-binary labels", 1)], id="binary-label"),
        pytest.param("multiclass", "y", ["a", None, "b", " "], [("y", "missing labels", 2)], id="multiclass-missing"),
        pytest.param(
            "regression",
            "y",
            ["1", "many", "inf", None],
            [("y", "missing or NaN labels", 1), ("y", "non-numeric labels", 1), ("y", "infinite (±inf) labels", 1)],
            id="regression-bad-labels",
        ),
        pytest.param("regression", "y", ["1", "NaN", "2", "3"], [("y", "missing or NaN labels", 1)], id="regression-nan"),
        pytest.param("binary", "x", ["1", "NaN", None, "3"], [], id="nan-feature-is-missing-not-a-problem"),
        pytest.param(
            "binary",
            "x",
            ["inf", "-inf", "1e400", "2"],
            [("x", "infinite (±inf) values in a numeric feature", 3)],
            id="inf-feature",
        ),
        pytest.param(
            "binary", "x", ["1", "lots", "2", "3"], [("x", "non-numeric values in a numeric feature", 1)], id="text-feature"
        ),
        pytest.param(
            "binary", "ts", ["2026-03-01", "soon", None, "2026-03-02"], [("ts", "missing or unparsable timestamps", 2)], id="ts"
        ),
        pytest.param(
            "binary",
            "id",
            ["a", None, "c", "d"],
            [("id", "missing ids (fill them, or unset data.id_column to derive row keys)", 1)],
            id="missing-id",
        ),
    ],
)
def test_problems_per_task(task, column, values, expected):
    problems = find_problems(_frame(task, **{column: values}), _schema(task))
    assert [(p.column, p.problem, p.bad_rows) for p in problems] == expected


@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_good_rows_have_no_problem_for_each_task(task):
    assert find_problems(_frame(task), _schema(task)) == []


def test_unseen_class_quarantines_naming_each_class_and_its_rows():
    frame = _frame("multiclass", y=["a", "d", "e", "d"])
    problems = find_problems(frame, _schema("multiclass"), KnownValues(classes=("a", "b", "c")))
    assert [(p.problem.split(" is ")[0], p.bad_rows) for p in problems] == [("label 'd'", 2), ("label 'e'", 1)]
    assert "data.unseen_classes: accept" in problems[0].problem and "['a', 'b', 'c']" in problems[0].problem


def test_no_id_column_needs_none_in_the_received_file():
    frame = _frame("binary").drop(columns=["id"])
    assert find_problems(frame, _schema("binary", id_derived=True)) == []


@pytest.mark.parametrize(
    "stamps",
    [
        pytest.param(["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"], id="date-only"),
        pytest.param(["2026-03-01T10:00:00", "2026-03-01T11:00:00", "2026-03-01 12:00", "2026-03-01T13:00:00.5"], id="naive"),
        pytest.param(
            ["2026-03-01T10:00:00+02:00", "2026-03-01T10:00:00Z", "2026-03-01T10:00:00-05:00", "2026-03-01"], id="zoned"
        ),
    ],
)
def test_iso_dates_and_datetimes_parse_as_utc(stamps):
    schema = _schema()
    frame = _frame(ts=stamps)
    assert find_problems(frame, schema) == []
    typed = to_typed(frame, schema)
    assert str(typed.ts.dt.tz) == "UTC" and typed.ts.notna().all()


def test_zoned_timestamps_become_the_same_utc_instant():
    typed = to_typed(
        _frame(ts=["2026-03-01T12:00:00+02:00", "2026-03-01T10:00:00Z", "2026-03-01T10:00:00", "2026-03-01"]), _schema()
    )
    assert typed.ts.iloc[0] == typed.ts.iloc[1] == typed.ts.iloc[2]


# ---- typed target and row keys -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("task", "labels", "expected", "dtype_kind"),
    [
        pytest.param("binary", ["yes", "No", "1", "false"], [1, 0, 1, 0], "i", id="binary-int"),
        pytest.param("multiclass", [" a", "b ", "c", "a"], ["a", "b", "c", "a"], "O", id="multiclass-str"),
        pytest.param("regression", ["1.5", " 2 ", "-3.25", "0"], [1.5, 2.0, -3.25, 0.0], "f", id="regression-float"),
    ],
)
def test_typed_target_per_task(task, labels, expected, dtype_kind):
    typed = to_typed(_frame(task, y=labels), _schema(task))
    assert typed.y.tolist() == expected and typed.y.dtype.kind == dtype_kind


def test_derived_row_keys_are_stable_distinct_and_ignore_column_order():
    frame = _frame().drop(columns=["id"])
    schema = _schema(id_derived=True)
    keys = derive_row_keys(frame, schema.received_columns)
    again = derive_row_keys(frame[list(reversed(frame.columns))].copy(), list(reversed(schema.received_columns)))
    assert keys.tolist() == again.tolist() and keys.is_unique and all(len(k) == 16 for k in keys)
    changed = derive_row_keys(frame.assign(x=["9", "2.5", "-3", "4"]), schema.received_columns)
    assert changed.iloc[0] != keys.iloc[0] and changed.iloc[1:].tolist() == keys.iloc[1:].tolist()
    assert to_typed(frame, schema)[DERIVED_ID_COLUMN].tolist() == keys.tolist()


# ---- warnings: the batch is accepted, and they are counted ----------------------------------------


def test_warnings_name_column_and_count():
    frame = _frame(x=["1", None, "", "4"], colour=["red", "purple", None, "teal"]).assign(extra="e", other="o")
    known = KnownValues(categories={"colour": frozenset({"red", "blue", "green"})})
    warnings = {(w.column, w.warning.split(" (")[0].split(";")[0], w.rows) for w in find_warnings(frame, _schema(), known)}
    assert warnings == {
        ("extra", "extra column, not in the schema: ignored", 4),
        ("other", "extra column, not in the schema: ignored", 4),
        ("x", "missing values in a numeric feature", 2),
        ("colour", "missing values in a category feature", 1),
        ("colour", "2 value(s) no earlier accepted batch had", 2),
    }


def test_no_category_warning_before_any_batch_was_accepted():
    assert find_warnings(_frame(colour=["a", "b", "c", "d"]), _schema()) == []


def test_accepted_batch_records_warnings_and_drops_duplicate_rows(store):
    frame = _frame(id=["r1", "r1", "r1", "r2"], ts=["2026-03-01", "2026-03-01", "2026-03-02", "2026-03-01"])
    frame.loc[1, "x"] = "7"  # same id and time as row 0, other value
    _land(store, frame.assign(note="n"))
    summary = _validate(store, _schema())
    (outcome,) = summary.accepted
    assert outcome.rows == 4 and outcome.accepted_rows == 3
    lines = summary.warning_lines()
    assert any("1 of them with other values" in line and "(1 rows)" in line for line in lines)
    assert any("column 'note': extra column" in line for line in lines)
    window = load_window(store, 1)
    assert sorted(window.id) == ["r1", "r1", "r2"] and 7.0 not in window.x.tolist()  # the first row was kept
    assert any("column 'ts': rows not in time order (windows sort by time) (1 rows)" in line for line in lines)
    assert "note" not in window.columns and summary.warning_count == 3


def test_warnings_survive_the_summary_round_trip(store):
    _land(store, _frame().assign(extra="e"))
    summary = _validate(store, _schema())
    again = ValidationSummary.from_json((store.run_dir("r") / SUMMARY_FILE).read_text())
    assert again.warning_lines() == summary.warning_lines() and again.as_dict() == summary.as_dict()


def test_old_summaries_without_warnings_still_load():
    old = json.dumps([{"file": "a.csv", "rows": 3, "accepted_path": "x", "quarantine_path": None, "problems": []}])
    assert ValidationSummary.from_json(old).warning_count == 0


def test_category_values_of_accepted_batches_are_remembered(store):
    _land(store, _frame(), "a.csv")
    _validate(store, _schema(), "r1")
    assert store.known_categories() == {"colour": frozenset({"red", "blue", "green"})}
    _land(store, _frame(colour=["red", "pink", "pink", "blue"]), "b.csv")
    summary = _validate(store, _schema(), "r2")
    assert [(w.column, w.rows) for w in summary.accepted[0].warnings] == [("colour", 2)]
    assert "pink" in store.known_categories()["colour"]


def test_derived_row_key_is_added_and_said(store):
    _land(store, _frame().drop(columns=["id"]))
    summary = _validate(store, _schema(id_derived=True))
    assert any("derived a stable row key" in line for line in summary.warning_lines())
    window = load_window(store, 1)
    assert window[DERIVED_ID_COLUMN].is_unique and window[DERIVED_ID_COLUMN].str.len().eq(16).all()


def test_derived_keys_drop_only_rows_identical_in_every_column(store):
    frame = _frame().drop(columns=["id"])
    frame = pd.concat([frame, frame.iloc[[0]]], ignore_index=True)
    frame.loc[1, "ts"] = frame.loc[0, "ts"]  # same time, other values: kept
    _land(store, frame)
    (outcome,) = _validate(store, _schema(id_derived=True)).accepted
    assert outcome.rows == 5 and outcome.accepted_rows == 4


# ---- multiclass classes ---------------------------------------------------------------------------


def test_first_accepted_batches_define_the_classes_then_unseen_ones_quarantine(store):
    schema = _schema("multiclass")
    _land(store, _frame("multiclass", y=["a", "b", "a", "b"]), "a.csv")
    _land(store, _frame("multiclass", y=["c", "a", "c", "c"]), "b.csv")
    first = _validate(store, schema, "r1")
    assert len(first.accepted) == 2 and store.known_classes() == ("a", "b", "c")
    _land(store, _frame("multiclass", y=["a", "d", "d", "e"]), "c.csv")
    second = _validate(store, schema, "r2")
    (bad,) = second.quarantined
    assert [(p.problem[:9], p.bad_rows) for p in bad.problems] == [("label 'd'", 2), ("label 'e'", 1)]
    assert store.known_classes() == ("a", "b", "c")


def test_unseen_classes_accepted_are_counted_flagged_and_recorded(store):
    schema = _schema("multiclass")
    _land(store, _frame("multiclass", y=["a", "d", "d", "b"]))
    summary = _validate(store, schema, classes=["a", "b", "c"], unseen_classes="accept")
    assert not summary.quarantined and summary.new_classes == {"d": 2}
    assert any("new class 'd' accepted" in line and "(2 rows)" in line for line in summary.warning_lines())
    assert store.known_classes(["a", "b", "c"]) == ("a", "b", "c", "d")
    assert summary.as_dict()["new_classes"] == {"d": 2}


def test_configured_classes_quarantine_an_unseen_label(store):
    _land(store, _frame("multiclass", y=["a", "z", "b", "c"]))
    summary = _validate(store, _schema("multiclass"), classes=["a", "b", "c"])
    assert summary.quarantined and "label 'z' is not a known class ['a', 'b', 'c']" in summary.error_message()


@pytest.mark.parametrize(
    ("task", "is_type"),
    [
        pytest.param("binary", pd.api.types.is_integer_dtype, id="binary"),
        pytest.param("multiclass", pd.api.types.is_string_dtype, id="multiclass"),
        pytest.param("regression", pd.api.types.is_float_dtype, id="regression"),
    ],
)
def test_accepted_parquet_keeps_the_typed_target(store, task, is_type):
    _land(store, _frame(task))
    assert not _validate(store, _schema(task)).quarantined
    assert is_type(load_window(store, 1).y.dtype)
