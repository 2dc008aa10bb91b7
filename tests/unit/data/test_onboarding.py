"""``ccp init``: what is inferred from a user's data file, and configs that load and validate that file."""

from __future__ import annotations

import re

import pandas as pd
import pytest

from champion_challenger.config.ludwig_schema import DERIVED_ID_COLUMN, load_candidate_configs, load_ludwig_config, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.data.generate import GENERATORS, BatchSpec
from champion_challenger.data.onboarding import InitRequest, decision_sizes, init_pipeline, next_steps, sanitise_name
from champion_challenger.data.profile import OnboardingError, feature_type, infer_task, looks_like_id, profile_data
from champion_challenger.data.store import DataStore, claim_new_batches, load_window
from champion_challenger.data.validate import validate_batches


def _text(values) -> pd.Series:
    return pd.Series([None if v is None else str(v) for v in values], dtype="string")


@pytest.mark.parametrize(
    ("labels", "task"),
    [
        pytest.param([0, 1, 1, 0], "binary", id="zero-one"),
        pytest.param(["yes", "No", "no"], "binary", id="yes-no"),
        pytest.param(["True", "False"], "binary", id="true-false"),
        pytest.param(["cat", "dog", "cat"], "multiclass", id="two-text-values"),
        pytest.param(["a", "b", "c"], "multiclass", id="text-labels"),
        pytest.param([1, 2, 3, 4, 5, 3], "multiclass", id="few-integer-codes"),
        pytest.param([1.5, 2.0, 3.25], "regression", id="fractions"),
        pytest.param(list(range(50)), "regression", id="many-integers"),
    ],
)
def test_task_from_the_target(labels, task):
    assert infer_task(_text(labels))[0] == task


@pytest.mark.parametrize(
    "labels", [pytest.param(["x", "x"], id="one-value"), pytest.param(["yes", "Yes", "y"], id="one-class-spelt-thrice")]
)
def test_a_target_with_one_class_is_refused(labels):
    with pytest.raises(OnboardingError, match=r"the target has one class \(values .*\): a model needs at least two"):
        infer_task(_text(labels))


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        pytest.param("customer_id", True, id="snake"),
        pytest.param("CustomerID", True, id="camel-upper"),
        pytest.param("orderId", True, id="camel"),
        pytest.param("row_key", True, id="key"),
        pytest.param("id", True, id="bare"),
        pytest.param("paid", False, id="ends-in-id"),
        pytest.param("valid", False, id="valid"),
    ],
)
def test_id_names(name, expected):
    assert looks_like_id(name) is expected


@pytest.mark.parametrize(
    ("values", "kind"),
    [
        pytest.param([1.5, 2, 3, 4], "number", id="number"),
        pytest.param([0, 1, 1, 0], "binary", id="zero-one"),
        pytest.param(["a", "b", "a", "b"], "category", id="category"),
        pytest.param(["True", "False", "True", "True"], "category", id="bool-text"),
        pytest.param([None, None, None, None], "empty: no values", id="empty"),
        pytest.param(["a", "a", "a", None], "constant: every value is 'a'", id="constant"),
        pytest.param(["w1", "w2", "w3", "w4"], "free text or high-cardinality text: 4 distinct values in 4 rows", id="free-text"),
        pytest.param(["2026-01-01", "2026-01-02", "2026-01-01", "2026-01-02"], "another date/time column", id="date"),
    ],
)
def test_feature_types(values, kind):
    assert feature_type(_text(values).rename("col")).startswith(kind)


def test_no_timestamp_column_names_the_columns_tried_and_the_option():
    frame = pd.DataFrame({"when": ["yesterday", "today"], "x": ["1", "2"], "y": ["0", "1"]}, dtype="string")
    with pytest.raises(OnboardingError, match=r"none of \['when'\] parses as an ISO 8601 .* --timestamp-column COL"):
        profile_data(frame, "y")


def test_a_named_column_that_is_not_there_is_refused():
    frame = pd.DataFrame({"x": ["1"], "y": ["0"]}, dtype="string")
    with pytest.raises(OnboardingError, match=r"no column 'label' in the file; its columns: \['x', 'y'\]"):
        profile_data(frame, "label")


@pytest.mark.parametrize(
    ("text", "name"),
    [
        pytest.param("churn data", "churn_data", id="space"),
        pytest.param("2026-sales", "m_2026-sales", id="digit-first"),
        pytest.param("...", "model", id="nothing-left"),
    ],
)
def test_model_names_are_sanitised(text, name):
    assert sanitise_name(text) == name and re.fullmatch(r"[A-Za-z][A-Za-z0-9_\-]*", name)


@pytest.mark.parametrize("rows", [pytest.param(n, id=f"{n}-rows") for n in (4, 40, 400, 40_000)])
def test_decision_sizes_fit_the_holdout_of_the_file(rows):
    min_samples, min_slice = decision_sizes(rows)
    holdout = rows // 4
    assert 1 <= min_slice <= min_samples <= max(1, holdout) and min_samples <= 500


# ---- the whole command, on a file per task ---------------------------------------------------------


def _binary(tmp_path):
    frame = GENERATORS["binary"](BatchSpec(0, 300, 1, False))
    frame["notes"] = [f"said {i}" for i in range(len(frame))]
    path = tmp_path / "churn export.csv"
    frame.to_csv(path, index=False)
    return path, "churned"


def _multiclass(tmp_path):
    path = tmp_path / "tickets.parquet"
    GENERATORS["multiclass"](BatchSpec(0, 300, 1, False)).to_parquet(path, index=False)
    return path, "queue"


def _regression(tmp_path):
    frame = GENERATORS["regression"](BatchSpec(0, 300, 1, False)).drop(columns=["record_id"])
    frame["observed_at"] = [f"2026-03-{1 + i % 28:02d}" for i in range(len(frame))]  # dates only
    path = tmp_path / "sales.csv"
    frame.to_csv(path, index=False)
    return path, "units_sold"


FILES = [
    pytest.param(_binary, "binary", "customer_id", id="binary-csv-with-id"),
    pytest.param(_multiclass, "multiclass", "ticket_id", id="multiclass-parquet"),
    pytest.param(_regression, "regression", None, id="regression-csv-no-id-date-only"),
]


@pytest.mark.parametrize(("make", "task", "id_column"), FILES)
def test_init_writes_configs_that_load_and_a_landed_file_that_validates(tmp_path, make, task, id_column):
    data, target = make(tmp_path)
    home = tmp_path / "home"
    result = init_pipeline(InitRequest(data=data, target=target, out=tmp_path / "cfg"), home)
    config = PipelineConfig.from_yaml(result.pipeline_config)
    assert config.task == task and config.data.id_column == id_column and config.model_name == result.name
    assert load_ludwig_config(result.ludwig_config)["output_features"][0]["name"] == target
    store = DataStore(config.landing_dir(home))
    assert result.landed == store.landing / data.name and result.landed.read_bytes() == data.read_bytes()
    schema = model_schema(config, load_candidate_configs(config))
    files = claim_new_batches(store, "first", config.data.file_pattern)
    summary = validate_batches(store, files, schema, store.run_dir("first"), classes=config.data.classes)
    assert [o.file for o in summary.accepted] == [data.name] and summary.accepted[0].accepted_rows == 300
    window = load_window(store, 1)
    assert window[schema.id_column].is_unique
    assert config.decision.min_samples <= 75 and "next steps" in next_steps(result)


def test_binary_file_drops_free_text_and_says_so(tmp_path):
    data, target = _binary(tmp_path)
    result = init_pipeline(InitRequest(data=data, target=target, out=tmp_path / "cfg", land=False), tmp_path / "home")
    assert result.landed is None and result.name == "churn_export"
    assert "notes" in result.profile.dropped and "#   notes: free text" in result.ludwig_config.read_text()
    config = PipelineConfig.from_yaml(result.pipeline_config)
    assert config.decision.primary_metric == "roc_auc" and config.decision.slice_columns == ["contract_type"]


def test_multiclass_config_names_its_classes(tmp_path):
    data, target = _multiclass(tmp_path)
    result = init_pipeline(InitRequest(data=data, target=target, out=tmp_path / "cfg", land=False), tmp_path / "home")
    config = PipelineConfig.from_yaml(result.pipeline_config)
    assert config.data.classes == ["account", "billing", "sales", "technical"] and config.data.file_pattern == "*.parquet"
    assert config.decision.primary_metric == "macro_f1" and "class_recall" in config.decision.guardrails


def test_regression_without_id_derives_row_keys(tmp_path):
    data, target = _regression(tmp_path)
    result = init_pipeline(InitRequest(data=data, target=target, out=tmp_path / "cfg", land=False), tmp_path / "home")
    config = PipelineConfig.from_yaml(result.pipeline_config)
    assert config.data.id_column is None and config.decision.slice_columns == []
    assert "promo" in {f.name for f in result.profile.features if f.type == "binary"}
    assert DERIVED_ID_COLUMN not in result.ludwig_config.read_text()


def test_init_refuses_to_overwrite_without_force(tmp_path):
    data, target = _multiclass(tmp_path)
    request = InitRequest(data=data, target=target, out=tmp_path / "cfg", land=False)
    first = init_pipeline(request, tmp_path / "home")
    first.pipeline_config.write_text(first.pipeline_config.read_text() + "# my edit\n")
    with pytest.raises(OnboardingError, match=r"already exist\(s\); pass --force"):
        init_pipeline(request, tmp_path / "home")
    assert first.pipeline_config.read_text().endswith("# my edit\n")
    forced = init_pipeline(InitRequest(data=data, target=target, out=tmp_path / "cfg", land=False, force=True), tmp_path / "home")
    assert not forced.pipeline_config.read_text().endswith("# my edit\n")


def test_init_refuses_to_land_twice_without_force(tmp_path):
    data, target = _multiclass(tmp_path)
    init_pipeline(InitRequest(data=data, target=target, out=tmp_path / "a"), tmp_path / "home")
    with pytest.raises(OnboardingError, match=r"tickets\.parquet already exists; pass --force to replace it, or --no-land"):
        init_pipeline(InitRequest(data=data, target=target, out=tmp_path / "b"), tmp_path / "home")


def test_a_file_the_pipeline_would_quarantine_is_refused_naming_the_problems(tmp_path):
    frame = GENERATORS["regression"](BatchSpec(0, 50, 1, False))
    frame.loc[:2, "price"] = float("inf")
    frame.loc[5, "units_sold"] = None
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(OnboardingError, match=r"would quarantine this file:\n.*'price': infinite .*\(3 bad rows\)") as raised:
        init_pipeline(InitRequest(data=path, target="units_sold", out=tmp_path / "cfg"), tmp_path / "home")
    assert "'units_sold': missing or NaN labels (1 bad rows)" in str(raised.value)
    assert not (tmp_path / "cfg").exists()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("absent.csv", r"absent\.csv: no such file", id="missing"),
        pytest.param("rows.txt", r"unsupported file type '\.txt'", id="suffix"),
    ],
)
def test_unreadable_inputs_are_refused(tmp_path, name, message):
    if name.endswith(".txt"):
        (tmp_path / name).write_text("a,b\n")
    with pytest.raises(OnboardingError, match=message):
        init_pipeline(InitRequest(data=tmp_path / name, target="b"), tmp_path / "home")
