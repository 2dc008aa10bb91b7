"""Online shadow evidence without servers: captures paired with late labels, the shadow window, latencies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config.ludwig_schema import ModelSchema
from champion_challenger.config.sections import OnlineEvidenceConfig
from champion_challenger.evaluation.shadow_evidence import latency_p99, pair_with_labels, shadow_window

SCHEMA = ModelSchema(features=(), target="churned", timestamp_column="event_timestamp", id_column="customer_id")
NOW = datetime(2026, 3, 15, tzinfo=UTC)


def captures(keys: list[str], start: datetime, hours: float) -> pd.DataFrame:
    n = len(keys)
    return pd.DataFrame(
        {
            "entity_key": keys,
            "timestamp": pd.date_range(start, start + timedelta(hours=hours), periods=n, tz="UTC"),
            "champion_version": 1,
            "challenger_version": 2,
            "champion_score": np.linspace(0.1, 0.9, n),
            "challenger_score": np.linspace(0.2, 0.8, n),
            "champion_latency_ms": np.full(n, 2.0),
            "challenger_latency_ms": np.full(n, 3.0),
        }
    )


def labels(keys: list[str], start: datetime) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": keys,
            "event_timestamp": pd.date_range(start, periods=len(keys), freq="min", tz="UTC"),
            "churned": [i % 2 for i in range(len(keys))],
            "contract_type": ["ab"[i % 2] for i in range(len(keys))],
        }
    )


def test_captures_pair_with_labels_by_entity_newest_capture_and_newest_label():
    caught = captures(["c1", "c2", "c1", "c3"], NOW, 3)  # c1 twice: the newer capture wins
    labelled = pd.concat([labels(["c1", "c2"], NOW), labels(["c1"], NOW + timedelta(days=1)).assign(churned=1)])
    paired = pair_with_labels(caught, labelled, SCHEMA, ["contract_type"])
    assert sorted(paired["entity_key"]) == ["c1", "c2"]  # c3 has no label yet
    c1 = paired.set_index("entity_key").loc["c1"]
    assert c1["churned"] == 1  # the newest label
    assert c1["champion"] == pytest.approx(caught["champion_score"].iloc[2])  # the newest capture
    assert list(paired.columns[:3]) == ["churned", "champion", "challenger"]


def test_no_captures_or_no_labels_give_an_empty_frame_with_the_columns():
    empty = pair_with_labels(captures([], NOW, 1), labels(["c1", "c2"], NOW), SCHEMA, ["contract_type"])
    assert empty.empty and {"churned", "champion", "challenger", "contract_type"} <= set(empty.columns)


@pytest.mark.parametrize(
    ("test", "hours", "entities", "complete", "says"),
    [
        pytest.param("fixed_horizon", 400, 1200, True, "complete", id="fixed-long-and-large"),
        pytest.param("fixed_horizon", 10, 1200, False, "hours", id="fixed-too-short"),
        pytest.param("fixed_horizon", 400, 100, False, "labelled rows", id="fixed-too-few-labels"),
        pytest.param("sequential", 10, 1200, True, "complete", id="sequential-looks-before-the-duration"),
        pytest.param("sequential", 400, 100, False, "labelled rows", id="sequential-too-few-labels"),
    ],
)
def test_a_window_is_judged_once_it_holds_the_labelled_rows_and_a_fixed_horizon_its_duration(
    test, hours, entities, complete, says
):
    keys = [f"c{i}" for i in range(entities)]
    start = NOW - timedelta(hours=hours)
    caught = captures(keys, start, 1)
    paired = pair_with_labels(caught, labels(keys, start), SCHEMA, [])
    rules = OnlineEvidenceConfig(test=test, min_duration_hours=336, min_labelled_rows=1000)
    window = shadow_window(caught, paired, 1, 2, rules, NOW)
    assert window.complete is complete and says in window.reason
    assert window.labelled_rows == entities and window.captured_entities == entities


def test_empty_window_says_no_traffic():
    window = shadow_window(captures([], NOW, 1), pd.DataFrame(), 1, 2, OnlineEvidenceConfig(), NOW)
    assert not window.complete and "no live traffic" in window.reason


def test_latency_p99_of_both_models():
    assert latency_p99(captures(["a", "b"], NOW, 1)) == {"champion": 2.0, "challenger": 3.0}
