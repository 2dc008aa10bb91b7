"""The router's capture records per task and its disagreement count, without Triton."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from champion_challenger.serving.capture import NO_CHALLENGER, RECORD_COLUMNS, SCORE_CLASSES, CaptureWriter, read_captures
from champion_challenger.serving.shadow_batches import ShadowJob, capture_columns, disagreements, no_challenger_answer
from champion_challenger.task import stack_scores

AT = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)


def _job(score, prediction, keys=("k0", "k1")) -> ShadowJob:
    n = len(keys)
    inputs = {"age": np.arange(n, dtype=np.float32).reshape(-1, 1), "plan": np.array([[b"x"]] * n, dtype=object)}
    return ShadowJob(inputs, list(keys), ["r"] * n, 3, score, prediction, 1.5, 4, AT)


CASES = {
    "binary": (np.array([0.2, 0.9], np.float32), np.array([0, 1], np.int32), np.array([0.6, 0.7]), np.array([1, 1], np.int32)),
    "multiclass": (
        np.array([[0.1, 0.9], [0.8, 0.2]], np.float32),
        np.array([b"b", b"a"], dtype=object),
        np.array([[0.3, 0.7], [0.4, 0.6]], np.float32),
        np.array([b"b", b"b"], dtype=object),
    ),
    "regression": (
        np.array([10.0, 20.0], np.float32),
        np.array([10.0, 20.0], np.float32),
        np.array([11.0, 26.0]),
        np.array([11.0, 26.0]),
    ),
}


@pytest.mark.parametrize("task", list(CASES))
def test_capture_records_round_trip_through_parquet_per_task(tmp_path, task):
    champion_score, champion_prediction, challenger_score, challenger_prediction = CASES[task]
    jobs = [_job(champion_score, champion_prediction)]
    writer = CaptureWriter(tmp_path, "router", flush_rows=10_000)
    writer.add(capture_columns(jobs, 4, challenger_score, challenger_prediction, 2.0, task, ("a", "b")))
    writer.add(capture_columns(jobs, None, *no_challenger_answer(task, 2), np.nan, task, ("a", "b")))
    writer.flush()
    records = read_captures(tmp_path, "router")
    assert set(RECORD_COLUMNS) <= set(records.columns) and len(records) == 4
    assert (SCORE_CLASSES in records.columns) == (task == "multiclass")
    mirrored, logged = records[records["challenger_version"] == 4], records[records["challenger_version"] == NO_CHALLENGER]
    np.testing.assert_allclose(stack_scores(mirrored["champion_score"], task), champion_score)
    np.testing.assert_allclose(stack_scores(mirrored["challenger_score"], task), challenger_score)
    if task == "multiclass":
        assert mirrored["champion_prediction"].tolist() == ["b", "a"] and mirrored["challenger_prediction"].tolist() == ["b", "b"]
        assert json.loads(records[SCORE_CLASSES].iloc[0]) == ["a", "b"]
        assert logged["challenger_score"].isna().all() and logged["challenger_prediction"].tolist() == ["", ""]
    else:
        np.testing.assert_allclose(mirrored["challenger_prediction"].astype(float), challenger_prediction)
        assert logged["challenger_score"].isna().all()
        expected = [-1, -1] if task == "binary" else [np.nan, np.nan]
        np.testing.assert_array_equal(logged["challenger_prediction"].to_numpy(dtype=float), expected)
    assert records["feature.plan"].tolist() == ["x"] * 4


@pytest.mark.parametrize(
    ("task", "champion", "challenger", "tolerance", "expected"),
    [
        pytest.param("binary", [0, 1, 1], [1, 1, 0], 0.0, 2, id="binary-labels"),
        pytest.param("multiclass", [b"a", b"b", b"c"], [b"a", b"c", b"c"], 0.0, 1, id="multiclass-labels"),
        pytest.param("regression", [1.0, 2.0, 3.0], [1.4, 2.6, 3.0], 0.5, 1, id="regression-beyond-tolerance"),
        pytest.param("regression", [1.0, 2.0], [1.0, 2.0000001], 0.0, 1, id="regression-zero-tolerance"),
    ],
)
def test_disagreements_per_task(task, champion, challenger, tolerance, expected):
    champion_array = np.array(champion, dtype=object if task == "multiclass" else None)
    challenger_array = np.array(challenger, dtype=object if task == "multiclass" else None)
    assert disagreements(task, champion_array, challenger_array, tolerance) == expected
