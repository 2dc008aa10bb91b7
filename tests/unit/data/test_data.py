from __future__ import annotations

import json

import pandas as pd
import pytest

from champion_challenger.config.ludwig_schema import load_candidate_configs, model_schema
from champion_challenger.config.pipeline import PipelineConfig
from champion_challenger.data.generate import BatchSpec, generate_batch, write_batches
from champion_challenger.data.store import DataStore, claim_new_batches, load_window, split_holdout
from champion_challenger.data.validate import validate_batches
from tests.conftest import REPO


@pytest.fixture(scope="module")
def schema():
    config = PipelineConfig.from_yaml(REPO / "configs" / "pipelines" / "churn_classifier.yaml")
    return model_schema(config, load_candidate_configs(config))


@pytest.fixture
def store(tmp_path):
    return DataStore(tmp_path / "data" / "landing")


def test_batches_are_deterministic_and_drift_changes_data():
    a = generate_batch(BatchSpec(index=3, rows=500, seed=1, drifted=False))
    b = generate_batch(BatchSpec(index=3, rows=500, seed=1, drifted=False))
    pd.testing.assert_frame_equal(a, b)
    drifted = generate_batch(BatchSpec(index=3, rows=5000, seed=1, drifted=True))
    base = generate_batch(BatchSpec(index=3, rows=5000, seed=1, drifted=False))
    assert drifted.monthly_charges.mean() > base.monthly_charges.mean() + 10
    assert set(base.churned.unique()) == {0, 1}


def test_write_batches_one_at_a_time_equals_all_at_once(tmp_path):
    together = write_batches(tmp_path / "a", 3, drift_at=1, seed=5, rows=50)
    single = [write_batches(tmp_path / "b", 1, start=i, drift_at=1, seed=5, rows=50)[0] for i in range(3)]
    assert [p.read_bytes() for p in together] == [p.read_bytes() for p in single]


def test_claim_is_idempotent_per_run(store):
    write_batches(store.landing, 2, rows=20)
    first = claim_new_batches(store, "run 1", "*.csv")
    assert len(first) == 2 and not list(store.landing.glob("*.csv"))
    assert claim_new_batches(store, "run 1", "*.csv") == first
    assert claim_new_batches(store, "run 2", "*.csv") == []


def test_good_batches_are_accepted_typed(store, schema):
    write_batches(store.landing, 2, rows=30)
    files = claim_new_batches(store, "r", "*.csv")
    summary = validate_batches(store, files, schema, store.run_dir("r"))
    assert len(summary.accepted) == 2 and not summary.quarantined
    window = load_window(store, 5)
    assert len(window) == 60
    assert window.monthly_charges.dtype == float and str(window.event_timestamp.dtype).startswith("datetime64")
    train, holdout = split_holdout(window, "event_timestamp", 0.25)
    assert len(holdout) == 15 and train.event_timestamp.max() <= holdout.event_timestamp.min()


def test_bad_batches_go_to_quarantine_with_file_column_and_count(store, schema):
    paths = write_batches(store.landing, 3, rows=40)
    missing = pd.read_csv(paths[0]).drop(columns=["support_calls"])
    missing.to_csv(paths[0], index=False)
    text = pd.read_csv(paths[1])
    text["monthly_charges"] = text["monthly_charges"].astype(object)
    text.loc[:6, "monthly_charges"] = "twelve"
    text.to_csv(paths[1], index=False)
    files = claim_new_batches(store, "r", "*.csv")
    summary = validate_batches(store, files, schema, store.run_dir("r"))
    assert [o.file for o in summary.quarantined] == [paths[0].name, paths[1].name]
    assert len(summary.accepted) == 1
    message = summary.error_message()
    assert f"{paths[0].name}: column 'support_calls': missing column (40 bad rows)" in message
    assert f"{paths[1].name}: column 'monthly_charges': non-numeric values in a numeric feature (7 bad rows)" in message
    assert (store.quarantine / paths[1].name).exists()
    reason = json.loads((store.quarantine / f"{paths[1].name}.reason.json").read_text())
    assert reason["problems"][0]["bad_rows"] == 7
    # a retry sees the same outcome even though the bad files already moved
    again = validate_batches(store, [], schema, store.run_dir("r"))
    assert [o.file for o in again.quarantined] == [paths[0].name, paths[1].name]


@pytest.mark.parametrize(
    ("column", "value", "problem"),
    [
        pytest.param("churned", "", "missing or non-binary labels", id="missing-label"),
        pytest.param("churned", "maybe", "missing or non-binary labels", id="non-binary-label"),
        pytest.param("event_timestamp", "yesterday", "missing or unparsable timestamps", id="bad-timestamp"),
    ],
)
def test_label_and_timestamp_problems(store, schema, column, value, problem):
    path = write_batches(store.landing, 1, rows=10)[0]
    frame = pd.read_csv(path, dtype=str)
    frame.loc[0, column] = value
    frame.to_csv(path, index=False)
    summary = validate_batches(store, claim_new_batches(store, "r", "*.csv"), schema, store.run_dir("r"))
    assert summary.quarantined[0].problems[0].problem == problem
    assert summary.quarantined[0].problems[0].bad_rows == 1


def test_empty_batch_is_quarantined(store, schema):
    store.landing.mkdir(parents=True)
    (store.landing / "empty.csv").write_text(",".join(schema.required_columns) + "\n")
    summary = validate_batches(store, claim_new_batches(store, "r", "*.csv"), schema, store.run_dir("r"))
    assert "empty batch" in summary.quarantined[0].message()
