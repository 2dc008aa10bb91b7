"""Online shadow evidence, combining evidence sources, the transition journal, prediction logging
and calibration, without servers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from champion_challenger.config import DecisionConfig, ModelSchema, OnlineEvidenceConfig
from champion_challenger.drift.evidently_report import DriftSummary, sampling_note
from champion_challenger.evaluation.gate import (
    Check,
    GateResult,
    combine_evidence,
    latency_guardrail,
    with_checks,
)
from champion_challenger.evaluation.metrics import binary_metrics, expected_calibration_error
from champion_challenger.evaluation.shadow_evidence import latency_p99, pair_with_labels, shadow_window
from champion_challenger.registry.journal import STEPS, PendingTransition
from champion_challenger.registry.model_registry import AliasState
from champion_challenger.serving.routing import LOG_SALT, SHADOW_SALT, RoutingTable, bucket, plan_rows

SCHEMA = ModelSchema(features=(), target="churned", timestamp_column="event_timestamp", id_column="customer_id")
NOW = datetime(2026, 3, 15, tzinfo=UTC)


def captures(keys: list[str], start: datetime, hours: float) -> pd.DataFrame:
    n = len(keys)
    return pd.DataFrame({
        "entity_key": keys,
        "timestamp": pd.date_range(start, start + timedelta(hours=hours), periods=n, tz="UTC"),
        "champion_version": 1, "challenger_version": 2,
        "champion_probability": np.linspace(0.1, 0.9, n), "challenger_probability": np.linspace(0.2, 0.8, n),
        "champion_latency_ms": np.full(n, 2.0), "challenger_latency_ms": np.full(n, 3.0),
    })


def labels(keys: list[str], start: datetime) -> pd.DataFrame:
    return pd.DataFrame({
        "customer_id": keys, "event_timestamp": pd.date_range(start, periods=len(keys), freq="min", tz="UTC"),
        "churned": [i % 2 for i in range(len(keys))], "contract_type": ["ab"[i % 2] for i in range(len(keys))],
    })


def test_captures_pair_with_labels_by_entity_newest_capture_and_newest_label():
    caught = captures(["c1", "c2", "c1", "c3"], NOW, 3)  # c1 twice: the newer capture wins
    labelled = pd.concat([labels(["c1", "c2"], NOW), labels(["c1"], NOW + timedelta(days=1)).assign(churned=1)])
    paired = pair_with_labels(caught, labelled, SCHEMA, ["contract_type"])
    assert sorted(paired["entity_key"]) == ["c1", "c2"]  # c3 has no label yet
    c1 = paired.set_index("entity_key").loc["c1"]
    assert c1["churned"] == 1  # the newest label
    assert c1["champion"] == pytest.approx(caught["champion_probability"].iloc[2])  # the newest capture
    assert list(paired.columns[:3]) == ["churned", "champion", "challenger"]


def test_no_captures_or_no_labels_give_an_empty_frame_with_the_columns():
    empty = pair_with_labels(captures([], NOW, 1), labels(["c1", "c2"], NOW), SCHEMA, ["contract_type"])
    assert empty.empty and {"churned", "champion", "challenger", "contract_type"} <= set(empty.columns)


@pytest.mark.parametrize(
    ("hours", "entities", "complete", "says"),
    [
        pytest.param(400, 1200, True, "complete", id="long-and-large"),
        pytest.param(10, 1200, False, "hours", id="too-short"),
        pytest.param(400, 100, False, "labelled rows", id="too-few-labels"),
    ],
)
def test_shadow_window_needs_both_duration_and_labelled_rows(hours, entities, complete, says):
    keys = [f"c{i}" for i in range(entities)]
    start = NOW - timedelta(hours=hours)
    caught = captures(keys, start, 1)
    paired = pair_with_labels(caught, labels(keys, start), SCHEMA, [])
    window = shadow_window(caught, paired, 1, 2, OnlineEvidenceConfig(min_duration_hours=336, min_labelled_rows=1000), NOW)
    assert window.complete is complete and says in window.reason
    assert window.labelled_rows == entities and window.captured_entities == entities


def test_empty_window_says_no_traffic():
    window = shadow_window(captures([], NOW, 1), pd.DataFrame(), 1, 2, OnlineEvidenceConfig(), NOW)
    assert not window.complete and "no live traffic" in window.reason


def test_latency_p99_of_both_models():
    assert latency_p99(captures(["a", "b"], NOW, 1)) == {"champion": 2.0, "challenger": 3.0}


def _result(action: str, name: str = "primary:roc_auc") -> GateResult:
    return GateResult(action, f"{action} because", "roc_auc", 0.7, 0.72, [Check(name, action == "promote", "r")])


@pytest.mark.parametrize(
    ("offline", "online", "expected"),
    [
        pytest.param("promote", "promote", "promote", id="both-promote"),
        pytest.param("promote", "hold", "hold", id="online-not-sure"),
        pytest.param("hold", "promote", "hold", id="offline-not-sure"),
        pytest.param("promote", "reject", "reject", id="online-rejects"),
        pytest.param("reject", "promote", "reject", id="offline-rejects"),
    ],
)
def test_combined_evidence_promotes_only_when_every_source_does(offline, online, expected):
    combined = combine_evidence({"offline": _result(offline), "online": _result(online)})
    assert combined.action == expected
    assert combined.reason.startswith(f"offline: {offline}") and f"online: {online}" in combined.reason
    assert [c.name for c in combined.checks] == ["offline/primary:roc_auc", "online/primary:roc_auc"]


def test_combining_nothing_is_refused():
    with pytest.raises(ValueError, match="at least one evidence source"):
        combine_evidence({})


def test_a_slow_challenger_is_rejected_by_the_latency_guardrail():
    slow = latency_guardrail({"champion": 2.0, "challenger": 5.0}, max_ratio=2.0)
    assert not slow.passed and "ratio 2.50" in slow.reason
    rejected = with_checks(_result("promote"), [slow])
    assert rejected.action == "reject" and "p99 latency" in rejected.reason
    fine = with_checks(_result("promote"), [latency_guardrail({"champion": 2.0, "challenger": 3.0}, 2.0)])
    assert fine.action == "promote" and fine.checks[-1].name == "guardrail:p99_latency"


def test_pending_transition_round_trips_through_json():
    pending = PendingTransition("promote", AliasState(1, 2, None), AliasState(2, None, 1), [1, 2], "alice", "why",
                                step="aliases_moved", started_at="2026-03-15T00:00:00+00:00")
    assert PendingTransition.from_json(pending.to_json()) == pending
    assert not pending.committed and STEPS[-1] == "ledgered"


def test_prediction_log_samples_champion_rows_that_are_not_mirrored():
    keys = [f"k{i}" for i in range(4000)]
    alone = plan_rows(keys, RoutingTable("m_versions", champion=1, prediction_log_fraction=0.1))
    np.testing.assert_array_equal(alone.log, bucket(keys, LOG_SALT) < 0.1)
    assert not alone.mirror.any()
    shadowed = plan_rows(keys, RoutingTable("m_versions", champion=1, challenger=2, shadow_fraction=0.5,
                                            prediction_log_fraction=0.1))
    assert not (shadowed.log & shadowed.mirror).any()  # a mirrored row is captured once, with both answers
    np.testing.assert_array_equal(shadowed.mirror, bucket(keys, SHADOW_SALT) < 0.5)


def test_expected_calibration_error():
    rng = np.random.default_rng(0)
    p = rng.uniform(size=50_000)
    y = (rng.uniform(size=50_000) < p).astype(int)
    assert expected_calibration_error(y, p) < 0.01  # calibrated
    assert expected_calibration_error(y, p / 2) == pytest.approx(0.25, abs=0.01)  # half the true rate
    assert binary_metrics(y, p)["ece"] == pytest.approx(expected_calibration_error(y, p))


def test_calibration_can_be_a_guardrail():
    rules = DecisionConfig(guardrails={"ece": 0.02})
    assert rules.guardrails == {"ece": 0.02}


@pytest.mark.parametrize(
    ("sizes", "says"),
    [pytest.param((100, 50, 100, 50), "All rows compared", id="all"),
     pytest.param((50_000, 30_000, 20_000, 20_000), "Sampled deliberately", id="sampled")],
)
def test_sampling_note_says_whether_rows_were_sampled(sizes, says):
    assert sampling_note(*sizes, max_rows=20_000).startswith(says)


def test_drift_triggers_follow_the_configured_kinds():
    summary = DriftSummary(False, 0.1, [], {}, 10, 10, False, "", prediction_drift=True, target_drift=False)
    assert summary.triggered(["features", "prediction", "target"]) == ["prediction"]
    assert summary.triggered(["features"]) == []
