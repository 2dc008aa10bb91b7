"""The payloads the DAG's tasks hand each other survive Airflow's own XCom serializer unchanged."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest
from airflow.sdk import serde
from airflow.sdk.configuration import conf

from champion_challenger import payloads
from champion_challenger.payloads import (
    XCOM_DESERIALIZATION_CLASSES,
    AliasState,
    BudgetSpend,
    CandidateResult,
    Challenger,
    CheckResult,
    Decision,
    DriftOutcome,
    Evidence,
    OnlineEvidence,
    PreparedWindow,
    SequentialOutcome,
    ShadowWindow,
    TrainingPlan,
)

WINDOW = ShadowWindow(
    3, 4, "2026-03-01T00:00:00+00:00", "2026-03-15T00:00:00+00:00", 336.5, 1500, 1200, True, "shadow window complete"
)
CHECKS = (
    CheckResult("min_samples", True, "900 paired rows, min_samples 500", limit=500.0),
    CheckResult("primary:roc_auc", True, "gain +0.0300", 0.71, 0.74, 0.01, 0.05, 0.002),
    CheckResult("slice:contract_type=two_year", False, "drop +0.0400", 0.8, 0.76, limit=0.03),
)
ONLINE = OnlineEvidence(
    WINDOW, "/runs/c1/online_paired.parquet", {"champion": 2.0, "challenger": 3.1}, {"roc_auc": 0.71}, {"roc_auc": 0.74}
)
SEQUENTIAL = SequentialOutcome("promote", "challenger better with confidence", 1800, 0.012, 0.003, 0.021, 0.025, "brier")
BUDGET = BudgetSpend(test=1, level=0.025, alpha=0.05, remaining=0.025)
PAYLOADS = [
    pytest.param(AliasState(3, 4, 2), id="AliasState"),
    pytest.param(AliasState(None, None, None), id="AliasState-empty"),
    pytest.param(PreparedWindow("manual__2026-03-15", "run-1", 4000, 1000, "2026-03-01", "2026-03-15"), id="PreparedWindow"),
    pytest.param(
        DriftOutcome(("features", "target"), None, 0.6, ("tenure_months", "plan"), False, True, "All rows"), id="DriftOutcome"
    ),
    pytest.param(DriftOutcome(skipped="no champion yet"), id="DriftOutcome-skipped"),
    pytest.param(TrainingPlan("evaluate", "challenger v4 is in its shadow window", 4), id="TrainingPlan"),
    pytest.param(TrainingPlan("skip", "nothing due"), id="TrainingPlan-skip"),
    pytest.param(
        CandidateResult("wide", "run-2", "runs:/run-2/model", {"roc_auc": 0.74, "log_loss": 0.45}), id="CandidateResult"
    ),
    pytest.param(Challenger(4, "runs:/run-2/model", "wide"), id="Challenger"),
    pytest.param(Challenger(None), id="Challenger-dry-run"),
    pytest.param(WINDOW, id="ShadowWindow"),
    pytest.param(ONLINE, id="OnlineEvidence"),
    pytest.param(
        Evidence("run-1", 3, 4, 1000, {"roc_auc": 0.74}, "/runs/c1/paired.parquet", {"roc_auc": 0.71}, ONLINE), id="Evidence"
    ),
    pytest.param(Evidence("run-1", None, None, 1000, {"roc_auc": 0.74}, "/runs/c1/paired.parquet"), id="Evidence-first"),
    pytest.param(CHECKS[1], id="CheckResult"),
    pytest.param(
        Decision("hold", "slice drops", "roc_auc", 0.74, 0.71, CHECKS, WINDOW, forced=False, dry_run=True, would="hold"),
        id="Decision",
    ),
    pytest.param(Decision("promote", "no champion yet", "roc_auc", 0.74), id="Decision-first"),
    pytest.param(SEQUENTIAL, id="SequentialOutcome"),
    pytest.param(BUDGET, id="BudgetSpend"),
    pytest.param(
        Decision("promote", "better online", "roc_auc", 0.74, 0.71, CHECKS, WINDOW, sequential=SEQUENTIAL, budget=BUDGET),
        id="Decision-sequential-budget",
    ),
]


def xcom_round_trip(obj):
    """What the next task receives: serialized by Airflow, stored as JSON, deserialized by Airflow."""
    return serde.deserialize(json.loads(json.dumps(serde.serialize(obj))))


def test_the_allow_list_is_the_package_s():
    assert os.environ["AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES"] == XCOM_DESERIALIZATION_CLASSES
    assert conf.get("core", "allowed_deserialization_classes") == XCOM_DESERIALIZATION_CLASSES


@pytest.mark.parametrize("payload", PAYLOADS)
def test_payload_round_trips_through_xcom(payload):
    restored = xcom_round_trip(payload)
    assert type(restored) is type(payload)
    assert restored == payload


def test_nested_payloads_come_back_as_their_classes():
    decision = xcom_round_trip(Decision("hold", "r", "roc_auc", 0.74, 0.71, CHECKS, WINDOW))
    assert isinstance(decision.checks, tuple) and all(isinstance(c, CheckResult) for c in decision.checks)
    assert isinstance(decision.online_window, ShadowWindow)
    judged = xcom_round_trip(Decision("promote", "r", "roc_auc", 0.74, 0.71, sequential=SEQUENTIAL, budget=BUDGET))
    assert isinstance(judged.sequential, SequentialOutcome) and isinstance(judged.budget, BudgetSpend)
    evidence = xcom_round_trip(Evidence("run-1", 3, 4, 1000, {}, "p", online=ONLINE))
    assert isinstance(evidence.online, OnlineEvidence) and isinstance(evidence.online.window, ShadowWindow)
    drift = xcom_round_trip(DriftOutcome(("features",), drifted_columns=("plan",)))
    assert drift.triggered == ("features",) and drift.drifted_columns == ("plan",)


def test_every_payload_class_is_covered():
    classes = {
        obj
        for obj in vars(payloads).values()
        if dataclasses.is_dataclass(obj) and isinstance(obj, type) and obj.__module__ == payloads.__name__
    }
    covered = {type(p.values[0]) for p in PAYLOADS}
    assert classes == covered


@dataclasses.dataclass(frozen=True)
class NotAPayload:
    """A dataclass outside ``champion_challenger.payloads``: Airflow must refuse to import it from XCom."""

    value: int


def test_a_class_outside_the_allow_list_is_refused():
    stored = json.loads(json.dumps(serde.serialize(NotAPayload(1))))
    assert stored["__classname__"] == f"{__name__}.NotAPayload"
    with pytest.raises(ImportError, match=r"NotAPayload was not found in allow list for deserialization imports"):
        serde.deserialize(stored)


# ---- the payloads' own helpers -----------------------------------------------------------------
def test_served_versions_are_all_aliased_versions():
    assert AliasState(3, 5, 2).served_versions() == [2, 3, 5]
    assert AliasState(None, None, None).served_versions() == []


@pytest.mark.parametrize(
    ("state", "steady"),
    [
        pytest.param(AliasState(3, 5, 2), [2, 3], id="champion-and-previous"),
        pytest.param(AliasState(3, 5, None), [3], id="champion-only"),
        pytest.param(AliasState(None, 5, None), [], id="no-champion"),
    ],
)
def test_steady_versions_are_the_champion_and_the_previous_one(state, steady):
    assert state.steady_versions() == steady


def test_alias_state_as_dict_names_the_aliases():
    assert AliasState(3, None, 2).as_dict() == {"champion": 3, "challenger": None, "previous": 2}


def test_a_dry_run_challenger_is_not_registered():
    assert Challenger(4).registered and not Challenger(None, "runs:/r/model", "wide").registered
    assert Evidence("run", 3, None, 10, {}, "p").dry_run and not Evidence("run", 3, 4, 10, {}, "p").dry_run


def test_decision_as_dict_is_plain_json():
    decision = Decision("hold", "r", "roc_auc", 0.74, 0.71, CHECKS, WINDOW)
    plain = json.loads(json.dumps(decision.as_dict()))
    assert plain["checks"][1]["ci_low"] == 0.01 and plain["online_window"]["complete"] is True


def test_an_online_test_before_its_first_look_is_strict_json():
    """XCom travels as strict JSON (NaN and infinity are not JSON): a test still waiting for rows has no bounds."""
    import numpy as np

    from champion_challenger.policy.sequential import sequential_test

    waiting = sequential_test(np.zeros(10), 0.025, "brier", 1.0, 336, min_rows=200)
    assert waiting.action == "continue" and (waiting.mean_gain, waiting.low, waiting.high) == (None, None, None)
    decision = Decision("hold", "r", "roc_auc", 0.74, 0.71, sequential=waiting, budget=BUDGET)
    text = json.dumps(serde.serialize(decision), allow_nan=False)
    assert serde.deserialize(json.loads(text)) == decision


def test_undefined_metrics_travel_as_none_in_strict_json():
    """ROC AUC on a one-class holdout or R² on constant labels is undefined (NaN): the evidence carries None."""
    online = OnlineEvidence(WINDOW, "p", {}, {"r2": float("nan"), "rmse": 1.5}, {"r2": float("inf"), "rmse": 1.2})
    evidence = Evidence("run-1", 3, 4, 1000, {"roc_auc": float("nan"), "accuracy": 0.8}, "p", {"roc_auc": 0.7}, online)
    text = json.dumps(serde.serialize(evidence), allow_nan=False)
    restored = serde.deserialize(json.loads(text))
    assert restored.challenger == {"roc_auc": None, "accuracy": 0.8}
    assert restored.online.champion == {"r2": None, "rmse": 1.5} and restored.online.challenger["r2"] is None
