"""Deployment metrics from a hand-written ledger and cycle history, checked against a hand count."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from champion_challenger.registry.deployment_metrics import CycleOutcome, compute, format_report
from champion_challenger.registry.ledger import LedgerEntry

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def at(hours: float) -> str:
    return (T0 + timedelta(hours=hours)).isoformat(timespec="seconds")


def cycle(run_id: str, action: str | None, hours: float, landed_hours: float | None = None) -> CycleOutcome:
    landed = None if landed_hours is None else T0 + timedelta(hours=landed_hours)
    return CycleOutcome(run_id, action, T0 + timedelta(hours=hours), landed)


def entry(action: str, from_v: int | None, to_v: int, hours: float, run: str | None = None, model: str = "m") -> LedgerEntry:
    return LedgerEntry(action, model, from_v, to_v, "someone", "why", run, at(hours))


#: Ten cycles: 3 promote, 2 hold, 1 reject, 3 skip, 1 failed.
CYCLES = [
    cycle("c1", "promote", 0, landed_hours=-0.5),
    cycle("c2", "skip", 6),
    cycle("c3", "promote", 12, landed_hours=11.75),
    cycle("c4", "hold", 18),
    cycle("c5", "skip", 24),
    cycle("c6", "reject", 30),
    cycle("c7", None, 36),
    cycle("c8", "promote", 42),  # landing time not recorded: lead time from the run's start
    cycle("c9", "hold", 48),
    cycle("c10", "skip", 54),
]
#: v1 first champion (c1); v2 promoted by c3 and auto-rolled back 2 h later (failed change); a manual
#: promotion of v3 rolled back by a person after 30 h (outside the 24 h watch window: not a failure);
#: v4 promoted by c8 and rolled back 1 h later (failed change); another model's entries are ignored.
LEDGER = [
    entry("promote", None, 1, 0.25, "c1"),
    entry("promote", 1, 2, 12.5, "c3"),
    entry("auto_rollback", 2, 1, 14.5),
    entry("manual_promote", 1, 3, 20),
    entry("rollback", 3, 1, 50),
    entry("promote", 1, 4, 42.5, "c8"),
    entry("rollback", 4, 1, 43.5),
    entry("promote", 1, 9, 5, "x", model="other"),
]


def test_metrics_equal_the_hand_count():
    m = compute("m", LEDGER, CYCLES, watch_window_hours=24)
    assert m.cycles == 10 and m.outcomes == {"promote": 3, "hold": 2, "reject": 1, "skip": 3}
    assert m.promotion_rate == pytest.approx(3 / 9)
    assert (m.skip_rate, m.hold_rate, m.reject_rate) == pytest.approx((3 / 9, 2 / 9, 1 / 9))
    assert m.failed_cycle_rate == pytest.approx(1 / 10)
    assert (m.promotions, m.rollbacks) == (4, 3)
    assert m.change_failures == 2 and m.change_failure_rate == pytest.approx(2 / 4)
    assert m.mean_time_to_restore_seconds == pytest.approx((2 + 1) / 2 * 3600)
    # lead times: c1 0.75 h, c3 0.75 h, c8 0.5 h (from its start; landing not recorded)
    assert m.lead_time_seconds_median == pytest.approx(0.75 * 3600)
    assert m.lead_time_seconds_mean == pytest.approx((0.75 + 0.75 + 0.5) / 3 * 3600)
    assert m.lead_times == 3
    assert {(f["version"], f["restore_seconds"]) for f in m.failed_promotions} == {(2, 7200.0), (4, 3600.0)}


def test_a_rollback_after_a_later_promotion_does_not_fail_the_earlier_one():
    ledger = [entry("promote", None, 1, 0, "c1"), entry("promote", 1, 2, 1, "c2"), entry("rollback", 2, 1, 2)]
    m = compute("m", ledger, [cycle("c1", "promote", 0), cycle("c2", "promote", 1)], watch_window_hours=24)
    assert m.change_failures == 1 and m.failed_promotions[0]["version"] == 2


def test_metrics_are_undefined_without_cycles_or_promotions():
    m = compute("m", [], [], watch_window_hours=24)
    assert m.cycles == 0 and m.promotion_rate is None and m.change_failure_rate is None
    assert m.mean_time_to_restore_seconds is None and m.lead_time_seconds_median is None
    assert m.metrics() == {
        "deploy_cycles": 0.0,
        "deploy_promotions": 0.0,
        "deploy_change_failures": 0.0,
        "deploy_canary_rollbacks": 0.0,
    }
    assert "promotion rate        -" in format_report(m)


def test_mlflow_metrics_and_report_text():
    m = compute("m", LEDGER, CYCLES, watch_window_hours=24)
    metrics = m.metrics()
    assert metrics["deploy_change_failure_rate"] == pytest.approx(0.5)
    assert metrics["deploy_lead_time_seconds_median"] == pytest.approx(2700)
    text = format_report(m)
    assert "change-failure rate   50% (2 of 4 promotions" in text
    assert "mean time to restore  90.0 min" in text


def test_canary_events_count_as_canary_rollbacks_never_as_promotions_or_change_failures():
    ledger = [
        entry("promote", None, 1, 0, "c1"),
        entry("canary_start", 1, 2, 1, "c2"),
        entry("canary_step", 1, 2, 2, "c2"),
        entry("canary_rollback", 1, 2, 2.5, "c2"),  # v2 never became champion
        entry("canary_start", 1, 3, 6, "c3"),
        entry("promote", 1, 3, 8, "c3"),  # its canary completed: the promotion, lead time up to here
    ]
    cycles = [cycle("c1", "promote", 0), cycle("c2", "promote", 1), cycle("c3", "promote", 5.5, landed_hours=5)]
    m = compute("m", ledger, cycles, watch_window_hours=24)
    assert (m.promotions, m.rollbacks, m.change_failures, m.canary_rollbacks) == (2, 0, 0, 1)
    assert m.lead_time_seconds_median == pytest.approx((0 + 3) / 2 * 3600)
    assert "canary rollbacks      1" in format_report(m)
