"""The drift report's pure parts: the sampling note and which drifts trigger training."""

from __future__ import annotations

import pytest

from champion_challenger.drift.evidently_report import DriftSummary, sampling_note


@pytest.mark.parametrize(
    ("sizes", "says"),
    [
        pytest.param((100, 50, 100, 50), "All rows compared", id="all"),
        pytest.param((50_000, 30_000, 20_000, 20_000), "Sampled deliberately", id="sampled"),
    ],
)
def test_sampling_note_says_whether_rows_were_sampled(sizes, says):
    assert sampling_note(*sizes, max_rows=20_000).startswith(says)


def test_drift_triggers_follow_the_configured_kinds():
    summary = DriftSummary(False, 0.1, [], {}, 10, 10, False, "", prediction_drift=True, target_drift=False)
    assert summary.triggered(["features", "prediction", "target"]) == ["prediction"]
    assert summary.triggered(["features"]) == []
